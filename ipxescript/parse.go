package ipxescript

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Errors that Parse reports, wrapped in a *Diagnostic (use errors.Is).
var (
	ErrBadMagic       = errors.New("not an iPXE script (first line must be \"#!ipxe\")")
	ErrInvalidByte    = errors.New("invalid byte")
	ErrContinuation   = errors.New(`last line ends with "\"`)
	ErrUnknownCommand = errors.New("unknown command")
	ErrMissingLabel   = errors.New("goto to a missing label")
	ErrSyntax         = errors.New("syntax error")   // empty label, misplaced tokens
	ErrOption         = errors.New("invalid option") // unknown option, missing or extra value
	ErrArgCount       = errors.New("wrong number of arguments")
	ErrInteger        = errors.New("invalid integer")
)

// Pos is a position in a script: 1-based line and byte column.
type Pos struct {
	Line, Col int
}

// String returns "line:col".
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Diagnostic is a problem found in a script. Errors are what iPXE would
// refuse or fail on (unknown command, bad option, missing label, …);
// warnings are legal scripts that probably do not do what was meant.
type Diagnostic struct {
	Pos     Pos
	Warning bool
	Msg     string
	Err     error // one of the Err… sentinels for errors; nil for warnings
}

// Error returns "line:col: message" ("line:col: warning: message").
func (d *Diagnostic) Error() string {
	if d.Warning {
		return d.Pos.String() + ": warning: " + d.Msg
	}
	return d.Pos.String() + ": " + d.Msg
}

// Unwrap returns the sentinel error.
func (d *Diagnostic) Unwrap() error { return d.Err }

// Parse reads a script into the model the builder produces. It is strict:
// everything iPXE would refuse (bad magic, a dangling "\" continuation,
// unknown commands, unknown options, option values that need a value or
// must not have one, wrong argument counts, invalid integers, goto to a
// label that does not exist) is an error, and so are NUL and other control
// bytes, which iPXE would treat as text but which no sane script holds.
// The error is a *Diagnostic, or errors.Join of several (errors.As finds
// the first). Warnings are not reported; use Lint.
//
// For every script s produced by the builder, Parse(s.String()) returns a
// Script equal to s (reflect.DeepEqual). Scripts written by hand parse to
// the same model with whitespace normalised: labels, commands and
// separators are kept, runs of blanks are not, "#!gpxe" becomes "#!ipxe",
// and comments keep their text after "#" and one space.
func Parse(r io.Reader) (*Script, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("ipxescript: read: %w", err)
	}
	s, diags := parse(data)
	var errs []error
	for i := range diags {
		if !diags[i].Warning {
			errs = append(errs, &diags[i])
		}
	}
	switch len(errs) {
	case 0:
		return s, nil
	case 1:
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

// ParseString is Parse for a string.
func ParseString(text string) (*Script, error) { return Parse(strings.NewReader(text)) }

// Lint reads a script and returns every error and warning, in order of
// position. Warnings cover: tokens starting or ending with a quote (quotes
// are literal in iPXE, there is no quoting), "${" without "}",
// unknown setting types, duplicate labels (the first wins), conditions
// (iseq, isset, prompt, cpuid) joined with "&&" but without "||" (the line
// fails and stops the script when the condition is false), "-h"/"--help"
// (prints usage and fails), https URLs and commands or options missing from
// Debian's and other common iPXE builds. The error is only for read errors.
func Lint(r io.Reader) ([]Diagnostic, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("ipxescript: read: %w", err)
	}
	_, diags := parse(data)
	return diags, nil
}

// segment maps a piece of a joined logical line back to its physical line.
type segment struct {
	off  int // offset in the joined line
	line int // physical line number
	col  int // column of the piece's first byte
}

type logical struct {
	text []byte
	segs []segment
}

func (l *logical) pos(off int) Pos {
	// The last segment starting at or before off (segments are sorted).
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].off > off }) - 1
	s := l.segs[max(i, 0)]
	return Pos{Line: s.line, Col: s.col + off - s.off}
}

// token is a token with its position.
type token struct {
	s   string
	pos Pos
}

type parser struct {
	diags []Diagnostic
}

func (p *parser) errorf(pos Pos, sentinel error, format string, a ...any) {
	p.diags = append(p.diags, Diagnostic{Pos: pos, Msg: fmt.Sprintf(format, a...), Err: sentinel})
}

func (p *parser) warnf(pos Pos, format string, a ...any) {
	p.diags = append(p.diags, Diagnostic{Pos: pos, Warning: true, Msg: fmt.Sprintf(format, a...)})
}

// splitLogical splits data into logical lines the way iPXE does: LF ends a
// line, one trailing CR is dropped, a trailing "\" joins the next line.
func (p *parser) splitLogical(data []byte) []logical {
	var out []logical
	var cur *logical
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var frag []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			frag, data = data[:i], data[i+1:]
		} else {
			frag, data = data, nil
		}
		if cur == nil {
			out = append(out, logical{})
			cur = &out[len(out)-1]
		}
		cur.segs = append(cur.segs, segment{off: len(cur.text), line: lineNo, col: 1})
		cur.text = append(cur.text, frag...)
		if n := len(cur.text); n > 0 && cur.text[n-1] == '\r' {
			cur.text = cur.text[:n-1]
		}
		if n := len(cur.text); n > 0 && cur.text[n-1] == '\\' {
			cur.text = cur.text[:n-1]
			if len(data) == 0 {
				p.errorf(Pos{Line: lineNo, Col: len(frag)}, ErrContinuation, `last line ends with "\" (iPXE fails the whole script)`)
			}
			continue
		}
		cur = nil
	}
	return out
}

func parse(data []byte) (*Script, []Diagnostic) {
	p := &parser{}
	s := &Script{}
	if len(data) < 7 || !(string(data[:6]) == "#!ipxe" || string(data[:6]) == "#!gpxe") || !isSpace(data[6]) {
		p.errorf(Pos{1, 1}, ErrBadMagic, `not an iPXE script: the first line must be "#!ipxe" followed by a newline`)
		return nil, p.diags
	}
	lines := p.splitLogical(data)
	type placed struct {
		line  int // index in s.Lines
		toks  [][]token
		label Pos
	}
	var all []placed
	for li := range lines {
		l := &lines[li]
		if bad := p.checkBytes(l); bad {
			continue
		}
		if li == 0 {
			continue // the magic line is a comment
		}
		line, toks, labelPos, ok := p.parseLine(l)
		if !ok {
			continue
		}
		s.Lines = append(s.Lines, line)
		all = append(all, placed{line: len(s.Lines) - 1, toks: toks, label: labelPos})
	}
	// Labels: first occurrence wins.
	labels := map[string]bool{}
	for _, pl := range all {
		lab := s.Lines[pl.line].Label
		if lab == "" {
			continue
		}
		if labels[lab] {
			p.warnf(pl.label, "duplicate label %q: goto always finds the first one", lab)
		}
		labels[lab] = true
	}
	for _, pl := range all {
		p.checkLine(&s.Lines[pl.line], pl.toks, labels)
	}
	sort.SliceStable(p.diags, func(i, j int) bool {
		a, b := p.diags[i].Pos, p.diags[j].Pos
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	if hasErrors(p.diags) {
		return nil, p.diags
	}
	return s, p.diags
}

func hasErrors(d []Diagnostic) bool {
	for _, x := range d {
		if !x.Warning {
			return true
		}
	}
	return false
}

// checkBytes reports NUL and control bytes (other than iPXE whitespace).
func (p *parser) checkBytes(l *logical) bool {
	for i, c := range l.text {
		if (c < 0x20 && !isSpace(c)) || c == 0x7f {
			if c == 0 {
				p.errorf(l.pos(i), ErrInvalidByte, "NUL byte (iPXE ignores the rest of the line)")
			} else {
				p.errorf(l.pos(i), ErrInvalidByte, "control byte %#02x", c)
			}
			return true
		}
	}
	return false
}

// parseLine splits a logical line into label, commands and comment.
func (p *parser) parseLine(l *logical) (Line, [][]token, Pos, bool) {
	var line Line
	text := l.text
	i := 0
	for i < len(text) && isSpace(text[i]) {
		i++
	}
	var labelPos Pos
	if i < len(text) && text[i] == ':' {
		labelPos = l.pos(i)
		j := i + 1
		for j < len(text) && !isSpace(text[j]) {
			j++
		}
		line.Label = string(text[i+1 : j])
		if line.Label == "" {
			p.errorf(labelPos, ErrSyntax, `empty label ":"`)
			return line, nil, labelPos, false
		}
		i = j
	}
	// Tokens.
	var toks []token
	for i < len(text) {
		for i < len(text) && isSpace(text[i]) {
			i++
		}
		if i >= len(text) {
			break
		}
		j := i
		for j < len(text) && !isSpace(text[j]) {
			j++
		}
		if text[i] == '#' {
			c := string(text[i+1:])
			c = strings.TrimPrefix(c, " ")
			cb := []byte(c)
			for k, b := range cb {
				if isSpace(b) {
					cb[k] = ' '
				}
			}
			line.Comment = string(cb)
			break
		}
		toks = append(toks, token{s: string(text[i:j]), pos: l.pos(i)})
		i = j
	}
	// Commands.
	var groups [][]token
	cur := Command{Op: OpNone}
	var curToks []token
	flush := func() {
		if len(curToks) > 0 {
			cur.Name = curToks[0].s
			for _, t := range curToks[1:] {
				cur.Args = append(cur.Args, t.s)
			}
		}
		line.Commands = append(line.Commands, cur)
		groups = append(groups, curToks)
	}
	for _, t := range toks {
		var op Op
		switch t.s {
		case "&&":
			op = OpAnd
		case "||":
			op = OpOr
		case ";":
			op = OpSeq
		default:
			curToks = append(curToks, t)
			continue
		}
		flush()
		cur, curToks = Command{Op: op}, nil
	}
	if len(toks) > 0 {
		flush()
	}
	return line, groups, labelPos, true
}

// checkLine validates each command of a parsed line.
func (p *parser) checkLine(line *Line, groups [][]token, labels map[string]bool) {
	// A failed condition is recovered by a later "||" or ";".
	hasOr := false
	for _, c := range line.Commands {
		if c.Op == OpOr || c.Op == OpSeq {
			hasOr = true
		}
	}
	for gi, g := range groups {
		if len(g) == 0 {
			continue
		}
		name := g[0]
		for _, t := range g {
			p.checkToken(t)
		}
		spec, known := commands[name.s]
		if !known {
			p.errorf(name.pos, ErrUnknownCommand, "unknown command %q", name.s)
			continue
		}
		if gi == 0 && !hasOr && len(line.Commands) > 1 {
			switch name.s {
			case "iseq", "isset", "prompt", "cpuid", "choose":
				p.warnf(name.pos, "%s … without \"||\": when the condition is false the line fails and the script stops", name.s)
			}
		}
		if spec == nil {
			continue
		}
		if spec.warn != "" {
			p.warnf(name.pos, "%s", spec.warn)
		}
		p.checkArgs(name, spec, g[1:], labels)
	}
}

// checkToken emits warnings about a single token.
func (p *parser) checkToken(t token) {
	s := t.s
	if q := `"'`; strings.ContainsAny(s[:1], q) || strings.ContainsAny(s[len(s)-1:], q) {
		p.warnf(t.pos, "quotes are literal characters in iPXE (there is no quoting): %s", s)
	}
	if strings.HasPrefix(s, "https://") || strings.Contains(s, "=https://") {
		p.warnf(t.pos, "https URL: Debian's and other older iPXE builds have no HTTPS support")
	}
	for rest := s; ; {
		i := strings.Index(rest, "${")
		if i < 0 {
			break
		}
		rest = rest[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			p.warnf(t.pos, `"${" without "}" stays literal text: %q`, s)
			break
		}
		body := rest[:j]
		if k := strings.LastIndex(body, "${"); k >= 0 {
			body = body[k+2:]
		}
		if _, typ, ok := strings.Cut(body, ":"); ok && !strings.Contains(typ, "$") && !isKnownType(typ) {
			p.warnf(t.pos, "unknown setting type %q: ${%s} expands to nothing", typ, body)
		}
	}
}

func hasExpansion(s string) bool { return strings.Contains(s, "${") }

// checkArgs emulates iPXE's getopt_long and positional checks.
func (p *parser) checkArgs(name token, spec *cmdSpec, args []token, labels map[string]bool) {
	i := 0
	value := func(o optSpec, v token, text string) {
		if hasExpansion(text) {
			return
		}
		switch o.kind {
		case argInt, argTimeout:
			if !validInteger(text) {
				p.errorf(v.pos, ErrInteger, "%s: option %s: invalid integer %q", name.s, optName(o), text)
			}
		case argKey:
			if len(text) != 1 && !validInteger(text) {
				p.errorf(v.pos, ErrInteger, "%s: option %s: invalid key %q", name.s, optName(o), text)
			}
		}
	}
	since := func(t token, o optSpec) {
		if o.since != "" {
			p.warnf(t.pos, "%s: option %s needs iPXE %s or later", name.s, optName(o), o.since)
		}
	}
options:
	for i < len(args) {
		t := args[i]
		s := t.s
		if s == "--" {
			i++
			break
		}
		if s[0] != '-' {
			break
		}
		if s == "--help" || s == "-h" {
			p.warnf(t.pos, "%s %s prints usage and fails, stopping the script", name.s, s)
			return
		}
		if strings.HasPrefix(s, "--") {
			n, v, hasV := strings.Cut(s[2:], "=")
			if strings.Contains(n, "$") {
				return // option name decided at run time
			}
			o, ok := findLong(spec, n)
			if !ok {
				p.errorf(t.pos, ErrOption, "%s: unknown option --%s", name.s, n)
				return
			}
			since(t, o)
			i++
			if o.kind == argFlag {
				if hasV {
					p.errorf(t.pos, ErrOption, "%s: option --%s takes no value", name.s, n)
					return
				}
				continue
			}
			if !hasV {
				if i >= len(args) || args[i].s[0] == '-' {
					p.errorf(t.pos, ErrOption, "%s: option --%s needs a value (a value starting with \"-\" must be written --%s=value)", name.s, n, n)
					return
				}
				value(o, args[i], args[i].s)
				i++
				continue
			}
			value(o, t, v)
			continue
		}
		// Short options, possibly bundled.
		if strings.Contains(s, "$") {
			return
		}
		i++
		for k := 1; k < len(s); k++ {
			o, ok := findShort(spec, s[k])
			if !ok {
				p.errorf(t.pos, ErrOption, "%s: unknown option -%c", name.s, s[k])
				return
			}
			since(t, o)
			if o.kind == argFlag {
				continue
			}
			if k+1 < len(s) {
				value(o, t, s[k+1:])
				continue options
			}
			if i >= len(args) || args[i].s[0] == '-' {
				p.errorf(t.pos, ErrOption, "%s: option -%c needs a value", name.s, s[k])
				return
			}
			value(o, args[i], args[i].s)
			i++
			continue options
		}
		if len(s) == 1 {
			p.errorf(t.pos, ErrOption, `%s: "-" is not an option`, name.s)
			return
		}
	}
	pos := args[i:]
	if len(pos) < spec.min || (spec.max >= 0 && len(pos) > spec.max) {
		want := fmt.Sprintf("%d", spec.min)
		switch {
		case spec.max < 0:
			want = fmt.Sprintf("at least %d", spec.min)
		case spec.max != spec.min:
			want = fmt.Sprintf("%d to %d", spec.min, spec.max)
		}
		p.errorf(name.pos, ErrArgCount, "%s: %s argument(s) expected, got %d", name.s, want, len(pos))
		return
	}
	for _, k := range spec.ints {
		if k < len(pos) && !hasExpansion(pos[k].s) && !validInteger(pos[k].s) {
			p.errorf(pos[k].pos, ErrInteger, "%s: invalid integer %q", name.s, pos[k].s)
		}
	}
	if spec.label && len(pos) > 0 && !hasExpansion(pos[0].s) && !labels[pos[0].s] {
		p.errorf(pos[0].pos, ErrMissingLabel, "goto: no label %q in the script", pos[0].s)
	}
}

func optName(o optSpec) string {
	if o.long != "" {
		return "--" + o.long
	}
	return "-" + string(o.short)
}

func findLong(spec *cmdSpec, n string) (optSpec, bool) {
	for _, o := range spec.opts {
		if o.long == n {
			return o, true
		}
	}
	return optSpec{}, false
}

func findShort(spec *cmdSpec, c byte) (optSpec, bool) {
	for _, o := range spec.opts {
		if o.short == c {
			return o, true
		}
	}
	return optSpec{}, false
}

// validInteger reports whether iPXE's parse_integer accepts s:
// strtoul(s, &end, 0) consuming all of a non-empty s. Note "08" is invalid
// (octal) and "0x" is 0.
func validInteger(s string) bool {
	if s == "" {
		return false
	}
	t := s
	if t[0] == '-' || t[0] == '+' {
		t = t[1:]
	}
	base := 10
	if strings.HasPrefix(t, "0") {
		t, base = t[1:], 8
		if len(t) > 0 && (t[0] == 'x' || t[0] == 'X') {
			t, base = t[1:], 16
		}
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		var d int
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case c >= 'a' && c <= 'z':
			d = int(c-'a') + 10
		case c >= 'A' && c <= 'Z':
			d = int(c-'A') + 10
		default:
			return false
		}
		if d >= base {
			return false
		}
	}
	return true
}
