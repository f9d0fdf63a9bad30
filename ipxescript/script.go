package ipxescript

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Magic is the first line of every script this package writes. iPXE also
// accepts the legacy "#!gpxe", which Parse reads but never writes.
const Magic = "#!ipxe"

// Op is the separator that joins a command to the one before it on the same
// line. iPXE recognises separators only as whole tokens.
type Op uint8

const (
	// OpNone marks the first command of a line.
	OpNone Op = iota
	// OpAnd ("&&") runs the command only if the previous one succeeded.
	OpAnd
	// OpOr ("||") runs the command only if the previous one failed.
	OpOr
	// OpSeq (";") runs the command unconditionally.
	OpSeq
)

// String returns the token iPXE uses for the separator ("" for OpNone).
func (o Op) String() string {
	switch o {
	case OpAnd:
		return "&&"
	case OpOr:
		return "||"
	case OpSeq:
		return ";"
	}
	return ""
}

// Command is one command of a command list: a name and its arguments, as
// the raw tokens iPXE splits the line into before ${…} expansion. A Command
// with an empty Name and no Args is the empty command, which iPXE runs as a
// successful no-op (it appears after a trailing separator: "a ||").
type Command struct {
	Op   Op       // separator before this command; OpNone for the first
	Name string   // command name, e.g. "kernel"; "" for the empty command
	Args []string // tokens after the name (options and positional arguments)
}

// Line is one logical line of a script: an optional label, a list of
// commands joined by separators, and an optional trailing comment. A Line
// with all fields empty is a blank line.
type Line struct {
	Label    string    // label name without the leading ':'; "" for none
	Commands []Command // commands in order; the first has Op == OpNone
	Comment  string    // comment text after "# " (written as "# "+Comment); "" for none
}

// Script is an iPXE script: the model that Parse produces and that the
// builder methods append to. Builder methods validate their arguments and
// record the first problem; later calls become no-ops and Err, WriteTo and
// String report it. A Script's zero value is an empty, valid script.
//
// The Lines field may also be edited directly; WriteTo checks every line
// structurally (see ValidateLine) before writing anything, so a Script can
// never be written in a form where one token turns into a new command,
// line, label or comment.
type Script struct {
	Lines []Line

	err error
}

// New returns an empty script.
func New() *Script { return &Script{} }

// Err returns the first error recorded by a builder method, or nil.
func (s *Script) Err() error { return s.err }

// fail records err if it is the first error.
func (s *Script) fail(err error) *Script {
	if s.err == nil && err != nil {
		s.err = err
	}
	return s
}

// add appends a line unless an error was already recorded.
func (s *Script) add(l Line) *Script {
	if s.err != nil {
		return s
	}
	if err := ValidateLine(l); err != nil {
		return s.fail(err)
	}
	s.Lines = append(s.Lines, l)
	return s
}

// addCmd appends a line holding a single command.
func (s *Script) addCmd(name string, args ...string) *Script {
	if len(args) == 0 {
		args = nil
	}
	return s.add(Line{Commands: []Command{{Name: name, Args: args}}})
}

// Append appends the lines of other to s (both must be free of errors;
// an error in other is recorded in s).
func (s *Script) Append(other *Script) *Script {
	if other == nil {
		return s
	}
	if other.err != nil {
		return s.fail(other.err)
	}
	for _, l := range other.Lines {
		s.add(l)
	}
	return s
}

// WriteTo writes the script, starting with the "#!ipxe" line, to w. It
// writes nothing and returns an error if a builder method recorded an error
// or if a line fails ValidateLine.
func (s *Script) WriteTo(w io.Writer) (int64, error) {
	if s.err != nil {
		return 0, s.err
	}
	var b bytes.Buffer
	b.WriteString(Magic)
	b.WriteByte('\n')
	for i, l := range s.Lines {
		if err := ValidateLine(l); err != nil {
			return 0, fmt.Errorf("ipxescript: line %d: %w", i+2, err)
		}
		writeLine(&b, l)
		b.WriteByte('\n')
	}
	n, err := w.Write(b.Bytes())
	return int64(n), err
}

// String returns the script text, or "" if the script is invalid (Err or
// WriteTo tell why).
func (s *Script) String() string {
	var b strings.Builder
	if _, err := s.WriteTo(&b); err != nil {
		return ""
	}
	return b.String()
}

// MarshalText implements encoding.TextMarshaler; it fails like WriteTo.
func (s *Script) MarshalText() ([]byte, error) {
	var b bytes.Buffer
	if _, err := s.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// tokens returns the tokens of a command list as written.
func (l Line) tokens() []string {
	var t []string
	for _, c := range l.Commands {
		if c.Op != OpNone {
			t = append(t, c.Op.String())
		}
		if c.Name != "" {
			t = append(t, c.Name)
			t = append(t, c.Args...)
		}
	}
	return t
}

func writeLine(b *bytes.Buffer, l Line) {
	sep := ""
	if l.Label != "" {
		b.WriteByte(':')
		b.WriteString(l.Label)
		sep = " "
	}
	for _, t := range l.tokens() {
		b.WriteString(sep)
		b.WriteString(t)
		sep = " "
	}
	if l.Comment != "" {
		b.WriteString(sep)
		b.WriteString("# ")
		b.WriteString(l.Comment)
	}
}

// String returns the line as iPXE text (without the newline).
func (l Line) String() string {
	var b bytes.Buffer
	writeLine(&b, l)
	return b.String()
}
