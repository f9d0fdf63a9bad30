package tftpserve

import (
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxNameLen bounds the file names CleanName accepts. A TFTP request
// must fit in one 512-octet datagram (RFC 2347), so real names are
// far shorter.
const maxNameLen = 512

// CleanName turns the file name of a TFTP request into a name that is
// valid for [io/fs] (see [fs.ValidPath]) and cannot leave the served
// root, or reports why it is refused with an error wrapping
// [ErrUnsafeName].
//
// The rules, in order:
//
//   - empty names, names longer than 512 bytes, invalid UTF-8, NUL and
//     other control characters are refused;
//   - backslashes become slashes and a DOS drive prefix ("C:\") is
//     dropped, so `C:\boot\x64\wdsnbp.com` names boot/x64/wdsnbp.com;
//   - leading, trailing and repeated slashes and "." elements are
//     dropped (absolute names are relative to the root);
//   - any ".." element is refused, even one that would stay inside;
//   - a name whose percent-decoded form (decoded up to three times)
//     would be refused by these rules is refused too, so "%2e%2e%2f"
//     and "%00" tricks fail; a harmless literal "%" is kept as is,
//     because TFTP names are not URLs.
//
// CleanName alone does not stop symbolic links that point outside a
// directory; serve directories with [OpenDir], which uses [os.Root].
func CleanName(raw string) (string, error) {
	name, err := cleanOnce(raw)
	if err != nil {
		return "", err
	}
	// Encoded forms: a client (or a proxy, or a handler that decodes)
	// may turn %2e%2e into "..". Refuse anything that decodes to a
	// refused name.
	dec := raw
	for range 3 {
		if !strings.Contains(dec, "%") {
			break
		}
		d, err := url.PathUnescape(dec)
		if err != nil || d == dec {
			break
		}
		if _, err := cleanOnce(d); err != nil {
			return "", fmt.Errorf("%w: %q decodes to a refused name", ErrUnsafeName, raw)
		}
		dec = d
	}
	return name, nil
}

func cleanOnce(raw string) (string, error) {
	switch {
	case raw == "":
		return "", fmt.Errorf("%w: empty name", ErrUnsafeName)
	case len(raw) > maxNameLen:
		return "", fmt.Errorf("%w: name longer than %d bytes", ErrUnsafeName, maxNameLen)
	case !utf8.ValidString(raw):
		return "", fmt.Errorf("%w: %q is not valid UTF-8", ErrUnsafeName, raw)
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%w: %q contains control character %#02x", ErrUnsafeName, raw, c)
		}
	}
	s := strings.ReplaceAll(raw, `\`, "/")
	for {
		// Leading slashes, and DOS drive prefixes as in
		// C:\boot\pxeboot.n12 (only when a slash follows: "C:x" is a
		// plain name).
		s = strings.TrimLeft(s, "/")
		if len(s) >= 3 && s[1] == ':' && s[2] == '/' && isASCIILetter(s[0]) {
			s = s[3:]
			continue
		}
		break
	}
	elems := make([]string, 0, strings.Count(s, "/")+1)
	for e := range strings.SplitSeq(s, "/") {
		switch e {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: %q has a \"..\" element", ErrUnsafeName, raw)
		}
		elems = append(elems, e)
	}
	if len(elems) == 0 {
		return "", fmt.Errorf("%w: %q names no file", ErrUnsafeName, raw)
	}
	name := strings.Join(elems, "/")
	if !fs.ValidPath(name) {
		// Unreachable with the rules above; kept as a last line.
		return "", fmt.Errorf("%w: %q", ErrUnsafeName, raw)
	}
	return name, nil
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
