package ipxescript

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ErrUnsafe is matched (errors.Is) by every *ValueError: a value was
// refused because, written into a script, it could change the script's
// structure or be expanded by iPXE.
var ErrUnsafe = errors.New("unsafe value")

// ValueError reports a value that the builder refused to write.
type ValueError struct {
	What   string // which value, e.g. "kernel argument", "label"
	Value  string // the refused value
	Reason string // why, e.g. `contains "${"`
}

// Error implements error.
func (e *ValueError) Error() string {
	return fmt.Sprintf("ipxescript: %s %q: %s", e.What, e.Value, e.Reason)
}

// Unwrap returns ErrUnsafe.
func (e *ValueError) Unwrap() error { return ErrUnsafe }

// Expr is one token of trusted script text that iPXE expands at run time:
// it may contain ${…} setting references (see Var). Expr values are checked
// only structurally (no whitespace, control characters, separators or
// comment start), so never convert data from machines or users to an Expr;
// pass such data through the string parameters of the builder methods,
// which refuse "$" altogether, or convert it with Lit.
type Expr string

// Var returns the expansion of an iPXE setting, e.g. Var("netX/mac:hexhyp")
// is "${netX/mac:hexhyp}". The name is checked when the Expr is used.
func Var(setting string) Expr {
	if checkSetting(setting) != nil {
		// An invalid name yields an Expr that fails the structural check.
		return Expr("${" + setting + "}\x00")
	}
	return Expr("${" + setting + "}")
}

// Lit converts untrusted data to an Expr after checking it with
// CheckLiteral, for the Expr parameters of IfEq, Cmd and the like:
//
//	want, err := ipxescript.Lit(machine.Serial)
//	if err != nil { … }
//	s.IfEq(ipxescript.Var("serial"), want, "match", "other")
func Lit(s string) (Expr, error) {
	if err := CheckLiteral(s); err != nil {
		return "", err
	}
	return Expr(s), nil
}

// isSpace reports whether iPXE's isspace() is true for c.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// badByte describes the first byte of s that may never appear in a token
// (whitespace, C0 controls, DEL), or returns "".
func badByte(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			return "contains a newline"
		case c == '\r':
			return "contains a carriage return"
		case isSpace(c):
			return "contains whitespace"
		case c < 0x20 || c == 0x7f:
			return fmt.Sprintf("contains control character %#02x", c)
		}
	}
	return ""
}

// tokenProblem returns why t cannot be written as one token, or "".
// It does not look at "$": that is the difference between literals and
// Exprs.
func tokenProblem(t string) string {
	if t == "" {
		return "is empty"
	}
	if r := badByte(t); r != "" {
		return r
	}
	switch {
	case t[0] == '#':
		return `starts with "#" (a comment)`
	case t == "&&" || t == "||" || t == ";":
		return "is a command separator"
	}
	return ""
}

// literalProblem returns why s cannot be written as a literal token, or "".
func literalProblem(s string) string {
	if r := tokenProblem(s); r != "" {
		return r
	}
	if strings.IndexByte(s, '$') >= 0 {
		return `contains "$" (iPXE would expand ${…}; there is no escape)`
	}
	if strings.HasSuffix(s, `\`) {
		return `ends with "\" (a line continuation)`
	}
	return ""
}

// CheckLiteral reports whether s can be written as one literal token: a
// single argument that iPXE passes on byte for byte. It refuses the empty
// string, whitespace, control characters, "$" (no escape for ${…} exists
// and expanded values are expanded again), a leading "#", the separators
// "&&", "||" and ";", and a trailing "\". The error is a *ValueError.
func CheckLiteral(s string) error {
	if r := literalProblem(s); r != "" {
		return &ValueError{What: "value", Value: s, Reason: r}
	}
	return nil
}

func checkLit(what, s string) error {
	if r := literalProblem(s); r != "" {
		return &ValueError{What: what, Value: s, Reason: r}
	}
	return nil
}

func checkExpr(what string, e Expr) error {
	s := string(e)
	r := tokenProblem(s)
	if r == "" && strings.HasSuffix(s, `\`) {
		r = `ends with "\" (a line continuation)`
	}
	if r != "" {
		return &ValueError{What: what, Value: s, Reason: r}
	}
	return nil
}

// splitText splits free text into words on spaces, refusing anything that
// is unsafe as a literal word. Runs of spaces collapse (iPXE joins the words
// with single spaces).
func splitText(what, text string) ([]string, error) {
	if r := badByte(strings.ReplaceAll(text, " ", "")); r != "" {
		return nil, &ValueError{What: what, Value: text, Reason: r}
	}
	var words []string
	for _, w := range strings.Split(text, " ") {
		if w == "" {
			continue
		}
		if err := checkLit(what, w); err != nil {
			e := err.(*ValueError)
			e.Reason = fmt.Sprintf("word %q %s", w, e.Reason)
			e.Value = text
			return nil, e
		}
		words = append(words, w)
	}
	return words, nil
}

// isNameByte reports whether c may appear in a label, image or menu name.
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == '-'
}

// CheckName reports whether s is a safe name for a label, an image, a menu
// or a params list: one or more of A–Z a–z 0–9 _ . - and not starting with
// "-" (it would be read as an option). The error is a *ValueError.
func CheckName(s string) error { return checkName("name", s) }

func checkName(what, s string) error {
	if s == "" {
		return &ValueError{What: what, Value: s, Reason: "is empty"}
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return &ValueError{What: what, Value: s, Reason: fmt.Sprintf("contains %q (allowed: A-Z a-z 0-9 _ . -)", s[i])}
		}
	}
	if s[0] == '-' {
		return &ValueError{What: what, Value: s, Reason: `starts with "-" (read as an option)`}
	}
	return nil
}

// knownTypes are the setting types iPXE knows (iPXE:src/core/settings.c).
var knownTypes = []string{"string", "uristring", "ipv4", "ipv6", "int8", "int16", "int32",
	"uint8", "uint16", "uint32", "hex", "hexhyp", "hexraw", "base64", "uuid", "guid",
	"busdevfn", "dnssl"}

func isKnownType(t string) bool {
	for _, k := range knownTypes {
		if k == t {
			return true
		}
	}
	return false
}

// checkSetting checks a setting name "[scope/]name[:type]".
func checkSetting(s string) error {
	bad := func(r string) error { return &ValueError{What: "setting name", Value: s, Reason: r} }
	name, typ, hasType := strings.Cut(s, ":")
	if hasType && !isKnownType(typ) {
		return bad(fmt.Sprintf("unknown type %q", typ))
	}
	if name == "" {
		return bad("is empty")
	}
	if name[0] == '-' {
		return bad(`starts with "-"`)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isNameByte(c) && c != '/' {
			return bad(fmt.Sprintf("contains %q", c))
		}
	}
	return nil
}

// checkURL checks a URI argument (absolute or relative).
func checkURL(what, s string) error {
	if err := checkLit(what, s); err != nil {
		return err
	}
	if strings.HasPrefix(s, "-") {
		return &ValueError{What: what, Value: s, Reason: `starts with "-"`}
	}
	if _, err := url.Parse(s); err != nil {
		return &ValueError{What: what, Value: s, Reason: "is not a URI: " + err.Error()}
	}
	return nil
}

// Sanitize turns any string into display text that is safe in the text of
// echo, prompt and menu items: printable ASCII only ("?" replaces anything
// else, including "$"), words starting with "#" or equal to a separator are
// defused by a "?" prefix, a "\" ending a word becomes "?", and runs of spaces
// collapse. The result is at most max bytes (0 means no limit; "..." marks
// a cut). Use it for messages that quote untrusted input, such as the
// Handler's error scripts; for values that must arrive unchanged use the
// strict builder methods instead.
func Sanitize(s string, max int) string {
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch {
		case r == '$':
			b.WriteByte('?')
		case r >= 0x21 && r <= 0x7e:
			b.WriteRune(r)
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		default:
			b.WriteByte('?')
		}
	}
	words := strings.Fields(b.String())
	for i, w := range words {
		if w[0] == '#' || w == "&&" || w == "||" || w == ";" {
			w = "?" + w
		}
		if strings.HasSuffix(w, `\`) {
			w = w[:len(w)-1] + "?"
		}
		words[i] = w
	}
	out := strings.Join(words, " ")
	if max > 0 && len(out) > max {
		cut := max - 3
		if cut < 0 {
			cut = 0
		}
		out = strings.TrimRight(out[:cut], " \\") + "..."
		if len(out) > max {
			out = out[:max]
		}
	}
	return out
}

// ValidateLine checks that l can be written without changing meaning: every
// token is a well-formed single token (no whitespace, controls, leading "#"
// or separator token), separators are consistent, the first token is not
// read as a label, the label and comment are free of line breaks, and the
// line does not end in "\". It does not refuse "$": builder methods do that
// for untrusted values. The error is a *ValueError.
func ValidateLine(l Line) error {
	bad := func(what, v, r string) error { return &ValueError{What: what, Value: v, Reason: r} }
	if l.Label != "" {
		if r := badByte(l.Label); r != "" {
			return bad("label", l.Label, r)
		}
	}
	if r := badByte(strings.ReplaceAll(l.Comment, " ", "")); r != "" {
		return bad("comment", l.Comment, r)
	}
	if len(l.Commands) == 1 && l.Commands[0].Name == "" && l.Commands[0].Op == OpNone {
		return bad("command", "", "empty command list")
	}
	for i, c := range l.Commands {
		if (i == 0) != (c.Op == OpNone) || c.Op > OpSeq {
			return bad("separator", c.Op.String(), "misplaced separator")
		}
		if c.Name == "" {
			if len(c.Args) > 0 {
				return bad("command", strings.Join(c.Args, " "), "arguments without a command name")
			}
			continue
		}
		if r := tokenProblem(c.Name); r != "" {
			return bad("command name", c.Name, r)
		}
		for _, a := range c.Args {
			if r := tokenProblem(a); r != "" {
				return bad("argument", a, r)
			}
		}
	}
	t := l.tokens()
	if len(t) > 0 && l.Label == "" && t[0][0] == ':' {
		return bad("command", t[0], `starts with ":" (would be read as a label)`)
	}
	last := ""
	switch {
	case l.Comment != "":
		last = l.Comment
	case len(t) > 0:
		last = t[len(t)-1]
	default:
		last = l.Label
	}
	if strings.HasSuffix(last, `\`) {
		return bad("line", l.String(), `ends with "\" (would join the next line)`)
	}
	return nil
}
