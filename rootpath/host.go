package rootpath

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// JoinHostPort is [net.JoinHostPort] with a numeric port: an IPv6 literal
// is bracketed, a host name or IPv4 address is not. It is the form to hand
// to net.Dial for the server of a parsed root path.
func JoinHostPort(host string, port uint16) string {
	return net.JoinHostPort(host, strconv.FormatUint(uint64(port), 10))
}

// parseServer reads a server field as written in a root path: a DNS name,
// a dotted IPv4 address, or an IPv6 literal in brackets. It returns the
// canonical form without brackets (lowercase name, netip's address form).
func parseServer(s string) (string, error) {
	if strings.HasPrefix(s, "[") {
		if !strings.HasSuffix(s, "]") {
			return "", reason(ErrSyntax, "unbalanced '[' around an IPv6 address")
		}
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil || !a.Is6() {
			return "", reason(ErrSyntax, "not an IPv6 address inside [ ]")
		}
		if a.Zone() != "" {
			return "", reason(ErrUnsupported, "IPv6 zone %q: a root path is read on another host, zones do not carry over", a.Zone())
		}
		return a.String(), nil
	}
	if strings.ContainsAny(s, "[]") {
		return "", reason(ErrSyntax, "'[' and ']' may only enclose a whole IPv6 address")
	}
	if strings.Contains(s, ":") {
		return "", reason(ErrSyntax, "IPv6 addresses must be written in brackets")
	}
	return parseHostname(s)
}

// parseHostname accepts a dotted IPv4 address or a DNS host name
// (RFC 1123 labels), returning the canonical form.
func parseHostname(s string) (string, error) {
	if s == "" {
		return "", reason(ErrEmpty, "no host")
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return a.String(), nil
	}
	if strings.Trim(s, "0123456789.") == "" {
		return "", reason(ErrSyntax, "not a valid dotted IPv4 address (four decimal octets, no leading zeros)")
	}
	name := strings.TrimSuffix(s, ".")
	if len(name) > 253 {
		return "", reason(ErrRange, "host name longer than 253 bytes")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return "", reason(ErrSyntax, "host name label %q must be 1–63 characters", label)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", reason(ErrSyntax, "host name label %q starts or ends with '-'", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return "", reason(ErrSyntax, "character %q is not allowed in a host name", c)
			}
		}
	}
	return strings.ToLower(s), nil
}

// bracketHost writes a canonical server for a root path: IPv6 in brackets.
func bracketHost(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// isIPv4 reports whether s is a canonical dotted IPv4 address.
func isIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}
