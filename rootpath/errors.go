package rootpath

import (
	"errors"
	"fmt"
)

// Sentinel reasons. Every error returned by this package is an [*Error]
// whose Err wraps exactly one of these, so callers can branch with
// [errors.Is] and still print a message that names the field.
var (
	// ErrEmpty: the input, or a field that has no default, is empty.
	ErrEmpty = errors.New("empty")
	// ErrMissing: a required field or separator is absent
	// (too few fields, no slot in an AoE path, no host in a URL).
	ErrMissing = errors.New("missing")
	// ErrSyntax: a field has characters or a shape its grammar does not allow.
	ErrSyntax = errors.New("invalid syntax")
	// ErrRange: a number or a length is outside the allowed range.
	ErrRange = errors.New("out of range")
	// ErrUnsupported: the value is well formed but not something this
	// package (or the protocol) supports: an unknown URI scheme, an IP
	// protocol other than TCP, a non-ASCII iSCSI name.
	ErrUnsupported = errors.New("unsupported")
)

// Field names the part of a root path an [*Error] is about.
type Field string

// The fields an [*Error] can name.
const (
	FieldRootPath       Field = "root path" // the input as a whole
	FieldScheme         Field = "scheme"
	FieldServer         Field = "server"
	FieldProtocol       Field = "protocol"
	FieldPort           Field = "port"
	FieldLUN            Field = "LUN"
	FieldTarget         Field = "target name"
	FieldName           Field = "iSCSI name" // ValidateName / NormalizeName
	FieldAuth           Field = "credentials"
	FieldIface          Field = "iface"
	FieldNetdev         Field = "netdev"
	FieldShelf          Field = "shelf"
	FieldSlot           Field = "slot"
	FieldURL            Field = "URL"
	FieldWWN            Field = "WWN"
	FieldSGID           Field = "source GID"
	FieldInitiatorIDExt Field = "initiator ID extension"
	FieldInitiatorGUID  Field = "initiator HCA GUID"
	FieldDGID           Field = "destination GID"
	FieldPKey           Field = "partition key"
	FieldServiceID      Field = "service ID"
	FieldTargetIDExt    Field = "target ID extension"
	FieldTargetIOCGUID  Field = "target I/O controller GUID"
	FieldPath           Field = "path"
	FieldOptions        Field = "options"
)

// Error describes why a root path, LUN or iSCSI name was refused.
// It names the field, quotes the offending text and wraps one of the
// sentinel reasons ([ErrEmpty], [ErrMissing], [ErrSyntax], [ErrRange],
// [ErrUnsupported]).
//
//	var perr *rootpath.Error
//	if errors.As(err, &perr) && perr.Field == rootpath.FieldPort { … }
type Error struct {
	Input string // the whole text that was being parsed
	Field Field  // which part is wrong
	Value string // the offending part (may be empty)
	Err   error  // why; wraps a sentinel, test with errors.Is
}

// Error implements the error interface:
//
//	rootpath: "iscsi:10.0.0.1::0::iqn.2001-04.com.example:d": port "0": out of range: …
func (e *Error) Error() string {
	if e.Field == FieldRootPath || e.Value == e.Input {
		return fmt.Sprintf("rootpath: %q: %v", shorten(e.Input), e.Err)
	}
	return fmt.Sprintf("rootpath: %q: %s %q: %v", shorten(e.Input), e.Field, shorten(e.Value), e.Err)
}

// shorten keeps messages readable for long inputs; the fields keep the
// whole text.
func shorten(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// Unwrap returns the reason, so errors.Is(err, rootpath.ErrRange) works.
func (e *Error) Unwrap() error { return e.Err }

// reason wraps a sentinel with a human explanation.
func reason(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}

func newErr(input string, f Field, value string, err error) *Error {
	return &Error{Input: input, Field: f, Value: value, Err: err}
}
