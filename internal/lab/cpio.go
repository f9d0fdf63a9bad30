package lab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
)

// The "newc" cpio format (the one the Linux kernel unpacks as an initramfs):
// a 110-byte ASCII header of "070701" and thirteen 8-digit hexadecimal
// fields, the NUL-terminated name padded so header+name is a multiple of
// four bytes, then the data padded to four bytes. The archive ends with an
// entry named "TRAILER!!!".

const (
	cpioMagic   = "070701"
	cpioHdrLen  = 110
	cpioTrailer = "TRAILER!!!"
)

// CPIO mode bits (the file type lives in the upper bits as in stat(2)).
const (
	cpioTypeMask = 0o170000
	cpioDir      = 0o040000
	cpioReg      = 0o100000
	cpioSymlink  = 0o120000
	cpioChar     = 0o020000
)

// CPIOEntry is one member of a newc cpio archive.
type CPIOEntry struct {
	Name  string // path without a leading slash, e.g. "bin/busybox"
	Mode  uint32 // type and permission bits as in stat(2) st_mode
	Data  []byte // file contents, or the target of a symlink
	Major uint32 // device major number (character/block devices)
	Minor uint32 // device minor number
}

// IsDir reports whether the entry is a directory.
func (e CPIOEntry) IsDir() bool { return e.Mode&cpioTypeMask == cpioDir }

// FileMode converts the entry's mode to an fs.FileMode.
func (e CPIOEntry) FileMode() fs.FileMode {
	m := fs.FileMode(e.Mode & 0o777)
	switch e.Mode & cpioTypeMask {
	case cpioDir:
		m |= fs.ModeDir
	case cpioSymlink:
		m |= fs.ModeSymlink
	case cpioChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		m |= fs.ModeDevice
	}
	return m
}

// cpioWriter writes newc entries; inode numbers are assigned sequentially.
type cpioWriter struct {
	w   *bufio.Writer
	ino uint32
	n   int64
	err error
}

func newCPIOWriter(w io.Writer) *cpioWriter { return &cpioWriter{w: bufio.NewWriter(w)} }

func (c *cpioWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
}

func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// WriteEntry appends one entry.
func (c *cpioWriter) WriteEntry(e CPIOEntry) error {
	if e.Name == "" || len(e.Name) > 4096 || strings.IndexByte(e.Name, 0) >= 0 {
		return fmt.Errorf("lab: cpio: bad name %q", e.Name)
	}
	c.ino++
	nlink := uint32(1)
	if e.IsDir() {
		nlink = 2
	}
	hdr := fmt.Sprintf("%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		cpioMagic, c.ino, e.Mode, 0, 0, nlink, 0, len(e.Data), 0, 0, e.Major, e.Minor, len(e.Name)+1, 0)
	c.write([]byte(hdr))
	c.write([]byte(e.Name))
	c.write([]byte{0})
	c.pad()
	c.write(e.Data)
	c.pad()
	return c.err
}

// Close writes the trailer and flushes; it does not close the underlying writer.
func (c *cpioWriter) Close() error {
	c.ino = 0
	if err := c.WriteEntry(CPIOEntry{Name: cpioTrailer}); err != nil {
		return err
	}
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}

// ErrCPIO is wrapped by every error ReadCPIO returns for malformed input.
var ErrCPIO = errors.New("lab: malformed cpio archive")

// ReadCPIO parses an uncompressed newc cpio archive up to its trailer. It is
// used to check images the lab builds; malformed input yields an error
// wrapping [ErrCPIO], never a panic. Entries larger than maxFile bytes are
// refused.
func ReadCPIO(r io.Reader, maxFile int) ([]CPIOEntry, error) {
	br := bufio.NewReader(r)
	var (
		out []CPIOEntry
		off int64
	)
	skip := func(n int64) error {
		if r := n % 4; r != 0 {
			k := 4 - r
			if _, err := io.CopyN(io.Discard, br, k); err != nil {
				return fmt.Errorf("%w: padding: %v", ErrCPIO, err)
			}
			off += k
		}
		return nil
	}
	for {
		var hdr [cpioHdrLen]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return out, fmt.Errorf("%w: header at %d: %v", ErrCPIO, off, err)
		}
		off += cpioHdrLen
		if string(hdr[:6]) != cpioMagic && string(hdr[:6]) != "070702" {
			return out, fmt.Errorf("%w: bad magic %q at %d", ErrCPIO, hdr[:6], off-cpioHdrLen)
		}
		var f [13]uint32
		for i := range f {
			s := string(hdr[6+8*i : 14+8*i])
			v, err := strconv.ParseUint(s, 16, 32)
			if err != nil {
				return out, fmt.Errorf("%w: field %d %q", ErrCPIO, i, s)
			}
			f[i] = uint32(v)
		}
		mode, size, rmaj, rmin, nameLen := f[1], f[6], f[9], f[10], f[11]
		if nameLen == 0 || nameLen > 4097 {
			return out, fmt.Errorf("%w: name length %d", ErrCPIO, nameLen)
		}
		if int64(size) > int64(maxFile) {
			return out, fmt.Errorf("%w: entry of %d bytes exceeds limit %d", ErrCPIO, size, maxFile)
		}
		name := make([]byte, nameLen)
		if _, err := io.ReadFull(br, name); err != nil {
			return out, fmt.Errorf("%w: name: %v", ErrCPIO, err)
		}
		off += int64(nameLen)
		if name[nameLen-1] != 0 || bytes.IndexByte(name[:nameLen-1], 0) >= 0 || nameLen == 1 {
			return out, fmt.Errorf("%w: name not a NUL-terminated non-empty string", ErrCPIO)
		}
		if err := skip(off); err != nil {
			return out, err
		}
		e := CPIOEntry{Name: string(name[:nameLen-1]), Mode: mode, Major: rmaj, Minor: rmin}
		if e.Name == cpioTrailer {
			return out, nil
		}
		e.Data = make([]byte, size)
		if _, err := io.ReadFull(br, e.Data); err != nil {
			return out, fmt.Errorf("%w: data of %q: %v", ErrCPIO, e.Name, err)
		}
		off += int64(size)
		if err := skip(off); err != nil {
			return out, err
		}
		out = append(out, e)
	}
}
