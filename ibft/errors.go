package ibft

import (
	"errors"
	"fmt"
)

// Sentinel errors, one per kind of defect. Every error returned by this
// package wraps one of them (test with errors.Is) inside an [*Error] that
// says where the defect is (test with errors.As).
var (
	// ErrShort: fewer bytes than the header, a structure or the declared
	// table length needs.
	ErrShort = errors.New("table too short")
	// ErrSignature: the signature is none of iBFT, IBFT, BIFT.
	ErrSignature = errors.New("unknown signature")
	// ErrRevision: the ACPI revision is not 1 (Linux refuses others).
	ErrRevision = errors.New("unsupported revision")
	// ErrChecksum: the bytes of the table do not sum to 0 mod 256.
	ErrChecksum = errors.New("bad checksum")
	// ErrControl: the control structure is not id 1, length 18, index 0
	// (Linux rejects the whole table).
	ErrControl = errors.New("invalid control structure")
	// ErrOffset: a structure or string offset points outside the table or
	// into the ACPI header.
	ErrOffset = errors.New("offset out of bounds")
	// ErrStructure: a structure has an unexpected id, length or index, or
	// is duplicated (Linux skips or rejects it).
	ErrStructure = errors.New("invalid structure")
	// ErrTooLarge: the table would not fit the 16-bit offsets (64 KiB).
	ErrTooLarge = errors.New("table too large")
	// ErrInvalid: a Table value cannot be encoded as given (too many NICs,
	// an OEM ID too long, an address with a zone …).
	ErrInvalid = errors.New("invalid value")
	// ErrSysfs: a sysfs attribute is missing or malformed.
	ErrSysfs = errors.New("bad sysfs attribute")
)

// Error is a defect found while encoding, decoding or reading a table.
type Error struct {
	// Offset is the byte offset in the table the defect is at, or -1 when
	// it is not about a byte position (encoding, sysfs).
	Offset int
	// Field names the structure and field, e.g. "target 0 CHAP secret",
	// or the sysfs path.
	Field string
	// Err is one of the package's sentinel errors.
	Err error
	// Detail says precisely what is wrong.
	Detail string
}

// Error implements error.
func (e *Error) Error() string {
	s := "ibft: "
	if e.Offset >= 0 {
		s += fmt.Sprintf("offset %#x: ", e.Offset)
	}
	if e.Field != "" {
		s += e.Field + ": "
	}
	s += e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

func errAt(off int, field string, err error, format string, args ...any) *Error {
	return &Error{Offset: off, Field: field, Err: err, Detail: fmt.Sprintf(format, args...)}
}

func errValue(field string, format string, args ...any) *Error {
	return &Error{Offset: -1, Field: field, Err: ErrInvalid, Detail: fmt.Sprintf(format, args...)}
}
