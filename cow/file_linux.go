//go:build linux

package cow

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func (o osFile) Datasync() error {
	rc, err := o.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

func (o osFile) Punch(off, n int64) error {
	rc, err := o.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.Fallocate(int(fd), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	}); err != nil {
		return err
	}
	if errors.Is(serr, unix.EOPNOTSUPP) || errors.Is(serr, unix.ENOSYS) {
		return writeZeros(o, off, n)
	}
	return serr
}

// lockFile takes an advisory lock on f (flock): exclusive for a writer,
// shared for a read-only opener. It fails at once with ErrInUse when
// another open file holds a conflicting lock. Closing f releases it.
func lockFile(f *os.File, exclusive bool) error {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Flock(int(fd), how|unix.LOCK_NB)
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if errors.Is(serr, unix.EWOULDBLOCK) {
		return ErrInUse
	}
	return serr
}
