package cow

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Sentinel errors. Test for them with errors.Is; the errors returned by the
// package wrap them with detail.
var (
	// ErrFull reports that a write needed a new chunk and the overlay has no
	// room for it: its quota (Options.MaxSize) is used up or the file system
	// is full. errors.Is(err, syscall.ENOSPC) is also true, which is what a
	// block-device consumer (an iSCSI target) maps to "space allocation
	// failed". Reads and writes to chunks already copied keep working.
	ErrFull error = fullError{}

	// ErrCorrupt reports overlay metadata that cannot be trusted: a bad
	// header, an exception record pointing at the header, at a metadata area,
	// past the end of the file or at a chunk another record already uses, or
	// a duplicate base chunk. Errors carrying it are *CorruptError values.
	ErrCorrupt = errors.New("cow: corrupt overlay metadata")

	// ErrNotOverlay reports a file whose first four bytes are neither zero
	// (a new store) nor the dm-snapshot magic "SnAp".
	ErrNotOverlay = errors.New("cow: not a dm-snapshot exception store")

	// ErrInvalidated reports a store whose header says it is no longer valid
	// (Linux dm-snapshot marks a persistent snapshot invalid when its COW
	// device overflows or an I/O error hits its metadata). This package never
	// invalidates a store itself.
	ErrInvalidated = errors.New("cow: snapshot store marked invalid")

	// ErrBaseMismatch reports that the overlay records a base (size and a
	// content sample digest) different from the base supplied to Open.
	ErrBaseMismatch = errors.New("cow: overlay belongs to a different base")

	// ErrReadOnly is returned by writes to an overlay opened with
	// Options.ReadOnly. It wraps os.ErrPermission.
	ErrReadOnly error = readOnlyError{}

	// ErrOutOfRange reports a write or discard outside [0, Size()).
	ErrOutOfRange = errors.New("cow: offset out of range")

	// ErrInUse reports an overlay file that another Overlay (in this or
	// another process) has open for writing; two writers would corrupt it.
	ErrInUse = errors.New("cow: overlay file is in use")

	// ErrClosed is returned by every method of a closed overlay. It wraps
	// os.ErrClosed.
	ErrClosed error = closedError{}
)

type fullError struct{}

func (fullError) Error() string { return "cow: overlay full" }
func (fullError) Unwrap() error { return syscall.ENOSPC }

type readOnlyError struct{}

func (readOnlyError) Error() string { return "cow: overlay is read-only" }
func (readOnlyError) Unwrap() error { return os.ErrPermission }

type closedError struct{}

func (closedError) Error() string { return "cow: overlay closed" }
func (closedError) Unwrap() error { return os.ErrClosed }

// CorruptError describes corrupt overlay metadata. It matches ErrCorrupt
// with errors.Is.
type CorruptError struct {
	Offset int64  // byte offset in the overlay file of the offending record
	Reason string // what is wrong
}

// Error implements the error interface.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("cow: corrupt overlay metadata at byte %d: %s", e.Offset, e.Reason)
}

// Is reports whether target is ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

func corruptf(off int64, format string, args ...any) error {
	return &CorruptError{Offset: off, Reason: fmt.Sprintf(format, args...)}
}
