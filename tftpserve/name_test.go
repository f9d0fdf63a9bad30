package tftpserve

import (
	"errors"
	"io/fs"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCleanName(t *testing.T) {
	ok := map[string]string{
		"pxelinux.0":                        "pxelinux.0",
		"/pxelinux.0":                       "pxelinux.0",
		"///pxelinux.0":                     "pxelinux.0",
		"./a/./b":                           "a/b",
		"a//b/":                             "a/b",
		`\boot\x64\wdsnbp.com`:              "boot/x64/wdsnbp.com",
		`C:\boot\x64\wdsnbp.com`:            "boot/x64/wdsnbp.com",
		"c:/boot/bcd":                       "boot/bcd",
		"A:A:":                              "A:A:", // fuzz regression: cleaning is idempotent
		"C:x":                               "C:x",
		`C:\D:\x`:                           "x",
		`C:..\x`:                            "C:../x", // a plain name on this side
		"pxelinux.cfg/01-52-54-00-12-34-56": "pxelinux.cfg/01-52-54-00-12-34-56",
		"file%20name":                       "file%20name", // literal: TFTP names are not URLs
		"100%":                              "100%",
		"...":                               "...",
		"a..b":                              "a..b",
		"ümlaut":                            "ümlaut",
	}
	for in, want := range ok {
		got, err := CleanName(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
			assert.True(t, fs.ValidPath(got), got)
		}
	}
	bad := []string{
		"", "/", "//", ".", "./", "..", "../x", "a/../b", "a/..", `..\x`, `a\..\..\x`,
		"a\x00b", "a\nb", "a\x7fb", "a\tb", "\xff\xfe", "\xc0\xae\xc0\xae/x",
		"%2e%2e/x", "%2E%2E%2Fx", "a/%2e%2e/%2e%2e/x", "%252e%252e/x", "%25252e%25252e/x",
		"..%2fx", "..%5cx", "x%00", "%0a", strings.Repeat("a", 513),
	}
	for _, in := range bad {
		_, err := CleanName(in)
		assert.ErrorIs(t, err, ErrUnsafeName, "%q", in)
	}
}

// FuzzCleanName checks the invariants of CleanName on arbitrary names:
// an accepted name is a valid fs path without "..", control characters
// or backslashes, cleaning is idempotent, and no percent-decoding of the
// raw name yields a ".." element.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"pxelinux.0", "/a//b", `C:\boot\x`, "../x", "%2e%2e/x", "a%00", "%252e%252e", "\xc0\xae", "a/./b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name, err := CleanName(raw)
		if err != nil {
			if !errors.Is(err, ErrUnsafeName) {
				t.Fatalf("CleanName(%q) error %v does not wrap ErrUnsafeName", raw, err)
			}
			return
		}
		if !fs.ValidPath(name) || name == "." {
			t.Fatalf("CleanName(%q) = %q, not a valid fs path", raw, name)
		}
		if strings.ContainsAny(name, "\\\x00") {
			t.Fatalf("CleanName(%q) = %q contains a backslash or NUL", raw, name)
		}
		for _, e := range strings.Split(name, "/") {
			if e == ".." {
				t.Fatalf("CleanName(%q) = %q has ..", raw, name)
			}
		}
		again, err := CleanName(name)
		if err != nil || again != name {
			t.Fatalf("CleanName not idempotent: %q -> %q -> %q, %v", raw, name, again, err)
		}
		dec := raw
		for range 3 {
			d, err := url.PathUnescape(dec)
			if err != nil || d == dec {
				break
			}
			for _, e := range strings.Split(strings.ReplaceAll(d, `\`, "/"), "/") {
				if e == ".." {
					t.Fatalf("CleanName(%q) accepted, but it decodes to %q", raw, d)
				}
			}
			dec = d
		}
	})
}
