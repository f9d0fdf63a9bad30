package ipxescript

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The validator checklist of specs/ipxe-script.md §9, plus the rules it
// implies (§1–§4).
func TestParseChecklist(t *testing.T) {
	tests := []struct {
		name   string
		script string
		err    error  // nil = parses
		pos    string // "line:col" of the first error
		warn   string // substring of a warning Lint must report ("" = none expected)
	}{
		{"1 magic", "#!ipxe\n", nil, "", ""},
		{"2 gpxe", "#!gpxe\necho hi\n", nil, "", ""},
		{"3 no whitespace after magic", "#!ipxe", ErrBadMagic, "1:1", ""},
		{"3 bom", "\xef\xbb\xbf#!ipxe\n", ErrBadMagic, "1:1", ""},
		{"3 case", "#!iPXE\n", ErrBadMagic, "1:1", ""},
		{"3 magic then text", "#!ipxex\n", ErrBadMagic, "1:1", ""},
		{"3 empty", "", ErrBadMagic, "1:1", ""},
		{"magic with tab and text", "#!ipxe\tcomment\necho a\n", nil, "", ""},
		{"4 unknown command", "#!ipxe\nfrobnicate foo\n", ErrUnknownCommand, "2:1", ""},
		{"5 missing label", "#!ipxe\ngoto nowhere\n", ErrMissingLabel, "2:6", ""},
		{"5 label exists later", "#!ipxe\ngoto x\n:x\n", nil, "", ""},
		{"5 goto expansion not checked", "#!ipxe\ngoto ${target}\n", nil, "", ""},
		{"6 sleep 08", "#!ipxe\nsleep 08\n", ErrInteger, "2:7", ""},
		{"6 exit x", "#!ipxe\nexit x\n", ErrInteger, "2:6", ""},
		{"6 prompt timeout 1.5", "#!ipxe\nprompt --timeout 1.5 x\n", ErrInteger, "2:18", ""},
		{"6 ints ok", "#!ipxe\nsleep 0x1f\nsleep 017\nexit\nexit 0\nsleep ${d}\n", nil, "", ""},
		{"7 iseq one", "#!ipxe\niseq a\n", ErrArgCount, "2:1", ""},
		{"7 iseq three", "#!ipxe\niseq a b c\n", ErrArgCount, "2:1", ""},
		{"7 isset none", "#!ipxe\nisset\n", ErrArgCount, "2:1", ""},
		{"7 kernel none", "#!ipxe\nkernel --name x\n", ErrArgCount, "2:1", ""},
		{"8 unknown long option", "#!ipxe\nchain --bogus http://x/\n", ErrOption, "2:7", ""},
		{"8 unknown short option", "#!ipxe\nchain -z http://x/\n", ErrOption, "2:7", ""},
		{"9 flag with value", "#!ipxe\nkernel --autofree=1 x\n", ErrOption, "2:8", ""},
		{"option needs value", "#!ipxe\nkernel --name\n", ErrOption, "2:8", ""},
		{"detached value starting with dash", "#!ipxe\nkernel --name -x http://s/k\n", ErrOption, "2:8", ""},
		{"attached value starting with dash", "#!ipxe\nkernel --name=-x http://s/k\n", nil, "", ""},
		{"short bundled and attached", "#!ipxe\nkernel -qa -nfoo http://s/k\nchain -ar http://s/x\n", nil, "", ""},
		{"double dash ends options", "#!ipxe\necho -- -n\n", nil, "", ""},
		{"dash alone", "#!ipxe\necho - x\n", ErrOption, "2:6", ""},
		{"10 dangling continuation", "#!ipxe\necho a \\", ErrContinuation, "2:8", ""},
		{"10 dangling continuation with newline", "#!ipxe\necho a \\\n", ErrContinuation, "2:8", ""},
		{"continuation joins", "#!ipxe\necho a \\\nb\n", nil, "", ""},
		{"continuation inside token", "#!ipxe\nech\\\no a\n", nil, "", ""},
		{"11 quotes", "#!ipxe\necho \"unbalanced\n", nil, "", "quotes are literal"},
		{"12 unterminated expansion", "#!ipxe\necho ${foo\n", nil, "", "without \"}\""},
		{"13 unknown type", "#!ipxe\necho ${net0/mac:bogus}\n", nil, "", "unknown setting type"},
		{"14 duplicate label", "#!ipxe\n:a\n:a\n", nil, "", "duplicate label"},
		{"15 condition without else", "#!ipxe\nisset ${x} && goto y\n:y\n", nil, "", "without \"||\""},
		{"15 condition with else", "#!ipxe\nisset ${x} && goto y || goto y\n:y\n", nil, "", ""},
		{"15 condition then always", "#!ipxe\nisset ${x} && echo set ; echo next\n", nil, "", ""},
		{"16 glued separator", "#!ipxe\na&&b\n", ErrUnknownCommand, "2:1", ""},
		{"17 comment token", "#!ipxe\necho a #comment\n", nil, "", ""},
		{"18 help", "#!ipxe\nchain -h\n", nil, "", "prints usage"},
		{"crlf", "#!ipxe\r\necho a\r\n:l\r\ngoto l\r\n", nil, "", ""},
		{"nul", "#!ipxe\necho a\x00b\n", ErrInvalidByte, "2:7", ""},
		{"control", "#!ipxe\necho \x1b[2J\n", ErrInvalidByte, "2:6", ""},
		{"empty label", "#!ipxe\n:\n", ErrSyntax, "2:1", ""},
		{"indented label", "#!ipxe\n  :x echo hi\ngoto x\n", nil, "", ""},
		{"params warns", "#!ipxe\nparams\nparam mac 1\n", nil, "", "missing from BIOS builds"},
		{"https warns", "#!ipxe\nchain https://s/x\n", nil, "", "no HTTPS"},
		{"new option warns", "#!ipxe\nsanboot --uuid x\n", nil, "", "needs iPXE 2024"},
		{"separators", "#!ipxe\n; echo a || echo b && echo c ;\n", nil, "", ""},
		{"unknown in second command", "#!ipxe\necho a || frob\n", ErrUnknownCommand, "2:11", ""},
		{"option value expansion", "#!ipxe\nsleep ${x}\nprompt --timeout ${t} x\nchain --${o} x\n", nil, "", ""},
		{"key literal", "#!ipxe\nprompt --key b x\nprompt --key 0x02 x\nprompt --key bb x\n", ErrInteger, "4:14", ""},
		{"goto arg count", "#!ipxe\ngoto\n", ErrArgCount, "2:1", ""},
		{"unchecked known command", "#!ipxe\nconsole --x 1024 --y 768\n", nil, "", ""},
		{"position after continuation", "#!ipxe\necho a \\\n  frob\nfrob\n", ErrUnknownCommand, "4:1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseString(tt.script)
			diags, lerr := Lint(strings.NewReader(tt.script))
			require.NoError(t, lerr)
			if tt.err == nil {
				require.NoError(t, err)
				require.NotNil(t, s)
			} else {
				require.ErrorIs(t, err, tt.err)
				assert.Nil(t, s)
				var d *Diagnostic
				require.True(t, errors.As(err, &d))
				assert.Equal(t, tt.pos, d.Pos.String(), d.Error())
				assert.True(t, strings.HasPrefix(err.Error(), tt.pos+": "), err.Error())
			}
			var warns []string
			for _, d := range diags {
				if d.Warning {
					warns = append(warns, d.Error())
				}
			}
			if tt.warn == "" {
				assert.Empty(t, warns)
			} else {
				assert.Contains(t, strings.Join(warns, "\n"), tt.warn)
			}
		})
	}
}

func TestParseModel(t *testing.T) {
	s, err := ParseString("#!ipxe\n\n  :start   dhcp\tnet0 ||   goto start   # retry forever \n# note\nchain ${filename}\n")
	require.NoError(t, err)
	want := []Line{
		{},
		{Label: "start", Commands: []Command{
			{Name: "dhcp", Args: []string{"net0"}},
			{Op: OpOr, Name: "goto", Args: []string{"start"}},
		}, Comment: "retry forever "},
		{Comment: "note"},
		{Commands: []Command{{Name: "chain", Args: []string{"${filename}"}}}},
	}
	assert.Equal(t, want, s.Lines)
	assert.Equal(t, "#!ipxe\n\n:start dhcp net0 || goto start # retry forever \n# note\nchain ${filename}\n", s.String())

	// A continued magic line swallows the next line (it is one comment).
	s, err = ParseString("#!ipxe \\\nfrob\necho ok\n")
	require.NoError(t, err)
	assert.Equal(t, []Line{{Commands: []Command{{Name: "echo", Args: []string{"ok"}}}}}, s.Lines)
}

func TestParseSeveralErrors(t *testing.T) {
	_, err := ParseString("#!ipxe\nfrob\ngoto x\nsleep y\n")
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnknownCommand)
	assert.ErrorIs(t, err, ErrMissingLabel)
	assert.ErrorIs(t, err, ErrInteger)
	var d *Diagnostic
	require.True(t, errors.As(err, &d))
	assert.Equal(t, Pos{2, 1}, d.Pos, "errors.As finds the first")
	assert.Equal(t, "2:1: unknown command \"frob\"\n3:6: goto: no label \"x\" in the script\n4:7: sleep: invalid integer \"y\"", err.Error())
}

func TestParseReadError(t *testing.T) {
	_, err := Parse(iotest.ErrReader(errors.New("boom")))
	assert.ErrorContains(t, err, "boom")
	_, err = Lint(iotest.ErrReader(errors.New("boom")))
	assert.ErrorContains(t, err, "boom")
}

func TestValidInteger(t *testing.T) {
	for _, ok := range []string{"0", "10", "0x1f", "0X1F", "017", "0x", "-1", "+5", "-"} {
		assert.True(t, validInteger(ok), ok)
	}
	for _, bad := range []string{"", "08", "09", "1.5", "x", "0xg", "1k", " 1"} {
		assert.False(t, validInteger(bad), bad)
	}
}

func TestKnownCommand(t *testing.T) {
	assert.True(t, KnownCommand("chain"))
	assert.True(t, KnownCommand("shim"))
	assert.False(t, KnownCommand("frobnicate"))
}
