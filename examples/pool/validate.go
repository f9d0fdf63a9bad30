package main

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is matched (errors.Is) by every validation error of the pool: MACs,
// machine names, image names and image files.
var ErrInvalid = errors.New("invalid value")

// ParseMAC reads a 6-byte Ethernet MAC in any usual spelling (colons, hyphens,
// bare hex, any case) and returns it lower-case and colon-separated, the only
// form the store, URLs and forms use.
func ParseMAC(s string) (string, error) {
	if len(s) == 12 && isHex(s) {
		var b strings.Builder
		for i := 0; i < 12; i += 2 {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(s[i : i+2])
		}
		s = b.String()
	}
	if len(s) != 17 {
		return "", fmt.Errorf("%w: MAC %q: want 6 bytes such as 52:54:00:12:34:56", ErrInvalid, clip(s))
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("%w: MAC %q: want 6 bytes such as 52:54:00:12:34:56", ErrInvalid, clip(s))
	}
	return hw.String(), nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

var (
	imageNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	nameRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$`)
	fileNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)
)

// ValidImageName accepts image names: 1 to 63 of a-z 0-9 . _ -, starting with a
// letter or digit, no "..": safe as a file name, a URL path segment and an iPXE
// token.
func ValidImageName(s string) error {
	if !imageNameRE.MatchString(s) || strings.Contains(s, "..") {
		return fmt.Errorf("%w: image name %q: want 1-63 of a-z 0-9 . _ - starting with a letter or digit", ErrInvalid, clip(s))
	}
	return nil
}

// ValidName accepts machine names: 1 to 63 of A-Z a-z 0-9 space . _ -, starting
// with a letter or digit, no trailing space.
func ValidName(s string) error {
	if !nameRE.MatchString(s) || strings.HasSuffix(s, " ") || strings.Contains(s, "  ") {
		return fmt.Errorf("%w: name %q: want 1-63 of A-Z a-z 0-9 space . _ - starting with a letter or digit", ErrInvalid, clip(s))
	}
	return nil
}

// validFileName accepts the name of a file inside an image's directory: no slash,
// no "..", no leading dot or dash.
func validFileName(s string) error {
	if !fileNameRE.MatchString(s) || strings.Contains(s, "..") {
		return fmt.Errorf("%w: file name %q: want a plain file name in the image's directory (A-Z a-z 0-9 . _ + -)", ErrInvalid, clip(s))
	}
	return nil
}

// clip shortens untrusted text quoted in an error message.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	s = s[:64]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s + "…"
}
