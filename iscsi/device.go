package iscsi

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Device is the block device a LUN serves. ReadAt and WriteAt have io.ReaderAt
// and io.WriterAt semantics and may be called concurrently; Size is in bytes
// and a multiple of the LUN's block size. cow.Overlay satisfies it.
type Device interface {
	ReadAt(p []byte, off int64) (n int, err error)
	WriteAt(p []byte, off int64) (n int, err error)
	Size() int64
}

// Syncer is implemented by devices that can make acknowledged writes durable
// (SYNCHRONIZE CACHE, and writes with FUA).
type Syncer interface{ Sync() error }

// Discarder is implemented by devices that can deallocate a byte range
// (UNMAP, WRITE SAME with the UNMAP bit). Discarded ranges must read back as zeros.
type Discarder interface{ Discard(off, n int64) error }

// ReadOnlyDevice is implemented by devices that refuse writes. A LUN whose
// device reports ReadOnly() == true sets the write-protect bit.
type ReadOnlyDevice interface{ ReadOnly() bool }

// FileDevice is a Device backed by an *os.File (a regular file or a block
// device). It implements Syncer, Discarder (hole punching) and ReadOnlyDevice.
type FileDevice struct {
	f        *os.File
	size     int64
	readOnly bool
}

// OpenFile opens path as a block device. With readOnly the file is opened
// O_RDONLY and the LUN is write-protected.
func OpenFile(path string, readOnly bool) (*FileDevice, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("iscsi: open device: %w", err)
	}
	d, err := NewFileDevice(f, readOnly)
	if err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

// NewFileDevice wraps an open file. Its size is measured once (regular files
// with Stat, block devices by seeking to the end).
func NewFileDevice(f *os.File, readOnly bool) (*FileDevice, error) {
	size, err := f.Seek(0, 2)
	if err != nil {
		return nil, fmt.Errorf("iscsi: size of %s: %w", f.Name(), err)
	}
	return &FileDevice{f: f, size: size, readOnly: readOnly}, nil
}

// ReadAt reads from the file.
func (d *FileDevice) ReadAt(p []byte, off int64) (int, error) { return d.f.ReadAt(p, off) }

// WriteAt writes to the file; a read-only device returns os.ErrPermission.
func (d *FileDevice) WriteAt(p []byte, off int64) (int, error) {
	if d.readOnly {
		return 0, fmt.Errorf("iscsi: write to read-only device: %w", os.ErrPermission)
	}
	return d.f.WriteAt(p, off)
}

// Size returns the size measured when the device was opened.
func (d *FileDevice) Size() int64 { return d.size }

// Sync flushes the file with fdatasync.
func (d *FileDevice) Sync() error {
	if d.readOnly {
		return nil
	}
	return unix.Fdatasync(int(d.f.Fd()))
}

// Discard punches a hole (falling back to writing zeros when the file system
// cannot), so the range reads back as zeros.
func (d *FileDevice) Discard(off, n int64) error {
	if d.readOnly {
		return fmt.Errorf("iscsi: discard on read-only device: %w", os.ErrPermission)
	}
	err := unix.Fallocate(int(d.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	zero := make([]byte, min(n, 1<<20))
	for n > 0 {
		c := min(n, int64(len(zero)))
		if _, err := d.f.WriteAt(zero[:c], off); err != nil {
			return err
		}
		off += c
		n -= c
	}
	return nil
}

// ReadOnly reports whether the device was opened read-only.
func (d *FileDevice) ReadOnly() bool { return d.readOnly }

// Close closes the file.
func (d *FileDevice) Close() error { return d.f.Close() }
