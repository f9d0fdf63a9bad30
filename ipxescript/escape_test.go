package ipxescript

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostile values that must never reach a script unchanged.
var hostile = []string{
	"a\nreboot",
	"a\r\nreboot",
	"a\rreboot",
	"x\x00y",
	"x\x1b[2J",
	"x\x7f",
	"${net0/mac}",
	"${",
	"$",
	"a$",
	"pass$word",
	"#comment",
	"&&",
	"||",
	";",
	"trailing\\",
	"a\tb",
	"a\vb",
	"a\fb",
}

// hostileTokens are additionally refused where one token is expected.
var hostileTokens = append([]string{"two words", " lead", "trail ", ""}, hostile...)

func TestHostileValuesRefused(t *testing.T) {
	entry := map[string]func(s *Script, v string){
		"kernel url":   func(s *Script, v string) { s.Kernel(Image{URL: v}) },
		"kernel arg":   func(s *Script, v string) { s.Kernel(Image{URL: "http://s/k", Args: []string{"a", v}}) },
		"image name":   func(s *Script, v string) { s.Initrd(Image{URL: "http://s/i", Name: v}) },
		"chain url":    func(s *Script, v string) { s.Chain(Image{URL: v}) },
		"linux arg":    func(s *Script, v string) { s.LinuxBoot(Linux{Kernel: "http://s/k", Args: []string{v}}) },
		"linux initrd": func(s *Script, v string) { s.LinuxBoot(Linux{Kernel: "http://s/k", Initrds: []string{v}}) },
		"imgargs":      func(s *Script, v string) { s.Imgargs("k", v) },
		"label":        func(s *Script, v string) { s.Label(v) },
		"goto":         func(s *Script, v string) { s.Goto(v) },
		"or goto":      func(s *Script, v string) { s.DHCP().OrGoto(v) },
		"dhcp iface":   func(s *Script, v string) { s.DHCP(v) },
		"set name":     func(s *Script, v string) { s.Set(v, "x") },
		"sanboot uri":  func(s *Script, v string) { s.Sanboot(SAN{URIs: []string{v}}) },
		"sanboot file": func(s *Script, v string) { s.Sanboot(SAN{Filename: v}) },
		"imgverify":    func(s *Script, v string) { s.Imgverify(Verify{Image: "k", Signature: v}) },
		"imgverify signer": func(s *Script, v string) {
			s.Imgverify(Verify{Image: "k", Signature: "k.sig", Signer: v})
		},
		"param key":   func(s *Script, v string) { s.Param("", v, "x") },
		"menu label":  func(s *Script, v string) { s.Menu(Menu{Items: []MenuItem{{Label: v, Text: "x"}}}) },
		"menu name":   func(s *Script, v string) { s.Menu(Menu{Name: v}) },
		"prompt key":  func(s *Script, v string) { s.Prompt(Prompt{Key: v + "x"}) },
		"retry label": func(s *Script, v string) { s.Retry(Retry{Label: v}, nil) },
		"boot image":  func(s *Script, v string) { s.Boot(v) },
		"cmd expr":    func(s *Script, v string) { s.Cmd("echo", Expr(v)) },
	}
	// Free text: spaces are allowed, everything else is refused.
	text := map[string]func(s *Script, v string){
		"echo":        func(s *Script, v string) { s.Echo(v) },
		"set value":   func(s *Script, v string) { s.Set("hostname", v) },
		"prompt text": func(s *Script, v string) { s.Prompt(Prompt{Text: v}) },
		"menu title":  func(s *Script, v string) { s.Menu(Menu{Title: v}) },
		"item text":   func(s *Script, v string) { s.Menu(Menu{Items: []MenuItem{{Label: "a", Text: "x " + v}}}) },
		"param value": func(s *Script, v string) { s.Param("", "k", v) },
		"comment":     func(s *Script, v string) { s.Comment("note " + v) },
	}
	optional := map[string]bool{"prompt key": true, "image name": true, "menu label": true, "menu name": true,
		"sanboot file": true, "imgverify signer": true}
	check := func(t *testing.T, name, v string, f func(*Script, string)) {
		s := New()
		f(s, v)
		err := s.Err()
		if name == "cmd expr" && strings.Contains(v, "$") && !strings.ContainsAny(v, " \t\n\r\v\f\x00\x1b\x7f") &&
			!strings.HasSuffix(v, `\`) {
			// Expr is trusted: ${…} is allowed, structure is not.
			require.NoError(t, err)
			return
		}
		if name == "comment" && !strings.ContainsAny(v, "\n\r\t\v\f\x00\x1b\x7f") && !strings.HasSuffix(v, `\`) {
			// Comments may contain anything printable.
			require.NoError(t, err)
			return
		}
		require.Error(t, err, "%s accepted %q", name, v)
		var ve *ValueError
		if !errors.As(err, &ve) {
			// A few helpers report structural misuse with plain errors.
			assert.NotEmpty(t, err.Error())
		} else {
			assert.ErrorIs(t, err, ErrUnsafe)
		}
		assert.Equal(t, "", s.String(), "an invalid script is never written")
	}
	for name, f := range entry {
		for _, v := range hostileTokens {
			if v == "" && optional[name] {
				continue // "" means "not set" there
			}
			t.Run(name, func(t *testing.T) { check(t, name, v, f) })
		}
	}
	for name, f := range text {
		for _, v := range hostile {
			t.Run(name, func(t *testing.T) { check(t, name, v, f) })
		}
	}
}

func TestCheckLiteral(t *testing.T) {
	for _, ok := range []string{"a", "console=ttyS0,115200n8", "http://h/x#frag", "a&&b", "-x", "root=UUID=1234", `C:\x`, "é", "a#b", "\"quoted\""} {
		assert.NoError(t, CheckLiteral(ok), ok)
	}
	for _, bad := range hostileTokens {
		assert.ErrorIs(t, CheckLiteral(bad), ErrUnsafe, "%q", bad)
	}
	for _, ok := range []string{"a", "node-1", "a.b_c", "0"} {
		assert.NoError(t, CheckName(ok))
	}
	for _, bad := range []string{"", "-a", "a b", "a/b", "a:b", "a$", "é"} {
		assert.ErrorIs(t, CheckName(bad), ErrUnsafe, bad)
	}
}

// A value that passes is one token that arrives unchanged: Parse sees
// exactly one command with the value as its last argument.
func TestLiteralArrivesUnchanged(t *testing.T) {
	for _, v := range []string{"a&&b", "x#y", "-x", "a;b", "root=LABEL=x", "'", "\"", "é", ":x", "a\\b"} {
		s := New().Kernel(Image{URL: "http://s/k", Args: []string{v}})
		require.NoError(t, s.Err(), v)
		p, err := ParseString(s.String())
		require.NoError(t, err)
		require.Len(t, p.Lines, 1)
		require.Len(t, p.Lines[0].Commands, 1)
		assert.Equal(t, []string{"http://s/k", v}, p.Lines[0].Commands[0].Args)
		assert.Empty(t, p.Lines[0].Comment)
	}
}

func TestVarRejectsBadNames(t *testing.T) {
	assert.Equal(t, Expr("${net0/mac:hexhyp}"), Var("net0/mac:hexhyp"))
	for _, bad := range []string{"a b", "x}", "x:bogus", "", "-x", "a\nb"} {
		s := New().Cmd("echo", Var(bad))
		assert.ErrorIs(t, s.Err(), ErrUnsafe, bad)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"a\nreboot", "a reboot"},
		{"${net0/mac}", "?{net0/mac}"},
		{"#3 && || ; x", "?#3 ?&& ?|| ?; x"},
		{"tab\tand  spaces ", "tab and spaces"},
		{"ends\\", "ends?"},
		{"x\x00\x7fé", "x???"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Sanitize(tt.in, 0), tt.in)
		_, err := splitText("test", Sanitize(tt.in, 0))
		assert.NoError(t, err)
	}
	assert.Equal(t, "abc...", Sanitize("abcdefghij", 6))
	assert.Len(t, Sanitize(strings.Repeat("x", 500), 200), 200)
	assert.Equal(t, "..", Sanitize("abcdef", 2))
}

func TestLit(t *testing.T) {
	e, err := Lit("SN-1234")
	require.NoError(t, err)
	assert.Equal(t, Expr("SN-1234"), e)
	s := New().IfEq(Var("serial"), e, "a", "b").Label("a").Label("b")
	assert.Contains(t, s.String(), "iseq -- ${serial} SN-1234 && goto a || goto b\n")
	for _, bad := range hostileTokens {
		_, err := Lit(bad)
		assert.ErrorIs(t, err, ErrUnsafe, "%q", bad)
	}
}
