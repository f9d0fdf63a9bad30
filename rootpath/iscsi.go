package rootpath

import (
	"strconv"
	"strings"
)

// Defaults of an RFC 4173 root path.
const (
	DefaultPort = 3260 // iSCSI well-known port, used when the port field is empty
	ProtocolTCP = 6    // IANA protocol number of TCP, the only one RFC 4173 defines
)

// ISCSI is an RFC 4173 iSCSI root path:
//
//	iscsi:<server>:<protocol>:<port>:<LUN>:<targetname>
//
// Parse fills in the defaults, so a parsed value always has Protocol 6 and
// a non-zero Port. String treats a zero Protocol or Port as the default too,
// so a hand-built ISCSI{Server: "10.0.0.1", Target: "iqn…"} prints well.
type ISCSI struct {
	// Server is a DNS name, a dotted IPv4 address or an IPv6 address
	// (without brackets; for an address from an iBFT, which stores IPv4
	// as ::ffff:a.b.c.d, use netip.Addr.Unmap().String()). Empty means "no boot server: discover the target
	// by name" (RFC 4173 §5); iPXE and the kernel cannot boot from that.
	Server string
	// Protocol is the IANA transport protocol number; only 6 (TCP) exists.
	Protocol uint8
	// Port is the target's TCP port; 3260 when the field is empty.
	Port uint16
	// LUN is the logical unit to boot from (LUN 0 when the field is empty).
	LUN LUN
	// Target is the iSCSI target name, normalized (lowercase) in strict mode.
	Target string
}

// ParseISCSI parses an RFC 4173 "iscsi:" root path in strict mode.
//
// The server field is cut at the first ":" outside "[…]", then protocol,
// port and LUN at the next three; everything after the fourth separator is
// the target name, colons included. Unlike iPXE, a port of 0, a protocol
// other than 6 and a malformed LUN are errors, not silent defaults.
func ParseISCSI(s string) (*ISCSI, error) { return Parser{}.ParseISCSI(s) }

// ParseISCSI is [ParseISCSI] with p's options.
func (p Parser) ParseISCSI(s string) (*ISCSI, error) {
	if err := checkText(s); err != nil {
		return nil, err
	}
	scheme, rest, ok := splitScheme(s)
	if !ok || !strings.EqualFold(scheme, "iscsi") {
		return nil, newErr(s, FieldScheme, scheme, reason(ErrUnsupported, "not an iscsi: root path"))
	}
	return p.parseISCSI(s, rest)
}

func (p Parser) parseISCSI(input, rest string) (*ISCSI, error) {
	server, rest, err := cutServer(input, rest)
	if err != nil {
		return nil, err
	}
	var f [3]string
	for i := range f {
		var ok bool
		f[i], rest, ok = strings.Cut(rest, ":")
		if !ok {
			return nil, newErr(input, FieldRootPath, input, reason(ErrMissing,
				"too few fields: want iscsi:<server>:<protocol>:<port>:<LUN>:<targetname>"))
		}
	}
	v := &ISCSI{}
	if server != "" {
		if v.Server, err = parseServer(server); err != nil {
			return nil, newErr(input, FieldServer, server, err)
		}
	}
	if strings.Contains(f[0], "@") {
		return nil, newErr(input, FieldProtocol, f[0], reason(ErrSyntax,
			"credentials (user:password@) are a dracut extension, not RFC 4173: use ParseDracut"))
	}
	if v.Protocol, err = parseProtocol(f[0]); err != nil {
		return nil, newErr(input, FieldProtocol, f[0], err)
	}
	if v.Port, err = parsePort(f[1]); err != nil {
		return nil, newErr(input, FieldPort, f[1], err)
	}
	if v.LUN, err = parseLUN(f[2]); err != nil {
		if strings.HasPrefix(strings.ToLower(f[2]), "iqn.") {
			err = reason(ErrSyntax, "this looks like the target name: a field is missing (want <server>:<protocol>:<port>:<LUN>:<targetname>)")
		}
		return nil, newErr(input, FieldLUN, f[2], err)
	}
	if v.Target, err = p.normalizeName(rest); err != nil {
		return nil, newErr(input, FieldTarget, rest, err)
	}
	return v, nil
}

// cutServer cuts the server field at the first ':' that is not inside a
// leading "[…]".
func cutServer(input, rest string) (server, after string, err error) {
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", "", newErr(input, FieldServer, rest, reason(ErrSyntax, "unbalanced '[': no ']'"))
		}
		server, after = rest[:end+1], rest[end+1:]
		if after == "" {
			return "", "", newErr(input, FieldRootPath, input, reason(ErrMissing, "too few fields after the server"))
		}
		if after[0] != ':' {
			return "", "", newErr(input, FieldServer, rest[:end+2], reason(ErrSyntax, "']' must be followed by ':'"))
		}
		return server, after[1:], nil
	}
	server, after, ok := strings.Cut(rest, ":")
	if !ok {
		return "", "", newErr(input, FieldRootPath, input, reason(ErrMissing, "too few fields after the server"))
	}
	return server, after, nil
}

func parseProtocol(s string) (uint8, error) {
	if s == "" {
		return ProtocolTCP, nil
	}
	if !isDigits(s) {
		return 0, reason(ErrSyntax, "the protocol is a decimal IANA protocol number")
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n != ProtocolTCP {
		return 0, reason(ErrUnsupported, "only 6 (TCP) is defined for iSCSI")
	}
	return ProtocolTCP, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" {
		return DefaultPort, nil
	}
	if !isDigits(s) {
		return 0, reason(ErrSyntax, "the port is a decimal number")
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, reason(ErrRange, "port must be 1–65535")
	}
	if n == 0 {
		return 0, reason(ErrRange, "port 0 is not a port (iPXE would quietly use 3260; leave the field empty for that)")
	}
	return uint16(n), nil
}

// String returns the canonical RFC 4173 form: lowercase "iscsi:", IPv6
// server in brackets, protocol printed only when it is neither 0 nor 6,
// port only when it is neither 0 nor 3260, LUN only when non-zero:
//
//	iscsi:10.0.0.1::::iqn.2001-04.com.example:disk
//	iscsi:[2001:db8::1]::3261:1-7:iqn.2001-04.com.example:disk
//
// This is the text for DHCP option 17 and for an iPXE sanboot line.
func (v *ISCSI) String() string {
	var b strings.Builder
	b.WriteString("iscsi:")
	b.WriteString(bracketHost(v.Server))
	b.WriteByte(':')
	if v.Protocol != 0 && v.Protocol != ProtocolTCP {
		b.WriteString(strconv.Itoa(int(v.Protocol)))
	}
	b.WriteByte(':')
	if v.Port != 0 && v.Port != DefaultPort {
		b.WriteString(strconv.Itoa(int(v.Port)))
	}
	b.WriteByte(':')
	b.WriteString(v.LUN.rfcField())
	b.WriteByte(':')
	b.WriteString(v.Target)
	return b.String()
}

// PortOrDefault returns Port, or 3260 when Port is 0.
func (v *ISCSI) PortOrDefault() uint16 {
	if v.Port == 0 {
		return DefaultPort
	}
	return v.Port
}

// Address returns "host:port" for net.Dial ("[v6]:port" for IPv6), with
// the default port filled in. With an empty Server it returns ":3260",
// which dials the local host: check Server first when that matters.
func (v *ISCSI) Address() string { return JoinHostPort(v.Server, v.PortOrDefault()) }

// Validate checks a hand-built value in strict mode: the server (may be
// empty), the protocol (0 or 6) and the target name, which must already be
// normalized. A value that passes prints a String that [Parse] reads back
// to the same value, up to the defaults filled in for a zero Protocol or
// Port.
func (v *ISCSI) Validate() error {
	s := v.String()
	if v.Server != "" {
		if c, err := parseServer(bracketHost(v.Server)); err != nil {
			return newErr(s, FieldServer, v.Server, err)
		} else if c != v.Server {
			return newErr(s, FieldServer, v.Server, reason(ErrSyntax, "not in canonical form (want %q)", c))
		}
	}
	if v.Protocol != 0 && v.Protocol != ProtocolTCP {
		return newErr(s, FieldProtocol, strconv.Itoa(int(v.Protocol)), reason(ErrUnsupported, "only 6 (TCP) is defined for iSCSI"))
	}
	n, err := Parser{}.normalizeName(v.Target)
	if err != nil {
		return newErr(s, FieldTarget, v.Target, err)
	}
	if n != v.Target {
		return newErr(s, FieldTarget, v.Target, reason(ErrSyntax, "not normalized (want %q)", n))
	}
	return nil
}
