package rootpath

import (
	"strings"
	"unicode/utf8"
)

// RootPath is a parsed root path: one of [*ISCSI], [*AoE], [*HTTP],
// [*FCP], [*IBSRP], [*NFS] or [*NBD] from [Parse], plus [*DracutISCSI] and
// [*FromDHCP] from [ParseDracut]. Use a type switch to get at the fields.
// String returns the canonical form, which the function that produced the
// value reads back to an equal value.
//
// The interface is closed: only this package's types implement it.
type RootPath interface {
	String() string
	rootPath()
}

func (*ISCSI) rootPath()       {}
func (*DracutISCSI) rootPath() {}
func (*AoE) rootPath()         {}
func (*HTTP) rootPath()        {}
func (*FCP) rootPath()         {}
func (*IBSRP) rootPath()       {}
func (*NFS) rootPath()         {}
func (*FromDHCP) rootPath()    {}
func (*NBD) rootPath()         {}

// IsSAN reports whether iPXE can attach rp as a SAN disk with sanboot or
// sanhook (iSCSI, AoE, HTTP(S), FCP, SRP). iPXE's autoboot ignores any
// other root path ("Ignoring unsupported root path") when DHCP also gives
// a boot file name, and fails when it does not.
func IsSAN(rp RootPath) bool {
	switch rp.(type) {
	case *ISCSI, *AoE, *HTTP, *FCP, *IBSRP:
		return true
	}
	return false
}

// Parser holds parsing options. The zero value is strict, and the
// package-level functions use it.
type Parser struct {
	// LenientNames accepts iSCSI target names with characters RFC 3722
	// prohibits (any printable ASCII except space, e.g. "_" as in
	// "iqn.2016-09.com.example:disk_1") and keeps their case, for targets
	// configured that way. Structure (type prefix, iqn date, lengths) is
	// still checked. Off by default: such names are never accepted silently.
	LenientNames bool
}

// Parse reads a root path as it arrives in DHCP option 17 (RFC 2132
// §3.19) or on an iPXE sanboot/sanhook line, using strict mode. The
// result is one of:
//
//	*ISCSI   iscsi:<server>:<protocol>:<port>:<LUN>:<targetname>   (RFC 4173)
//	*AoE     aoe:e<shelf>.<slot>
//	*HTTP    http://… or https://…                     (block device over HTTP ranges)
//	*FCP     fcp:<wwn>:<LUN> or fcp://<wwn>/<LUN>
//	*IBSRP   ib_srp:<sgid>:<id_ext>:<hca_guid>:<dgid>:<pkey>:<service_id>:<LUN>:<id_ext>:<ioc_guid>
//	*NFS     [<ipv4>:]/<path>[,<opt>…]  or  nfs:/nfs4:[<server>:]/<path>[(:|,)<opt>…]
//	*NBD     nbd:<server>:<port|export>[:<fstype>[:<rootflags>[:<nbdopts>]]]   (dracut)
//
// The input is taken as is: whitespace, control characters (including the
// trailing NULs some DHCP servers send; strip those at the DHCP layer) and
// invalid UTF-8 are refused. Errors are [*Error] values naming the field.
// Kernel command-line forms have their own grammars: see [ParseDracut] and
// [ParseNFSRoot].
func Parse(s string) (RootPath, error) { return Parser{}.Parse(s) }

// Parse is [Parse] with p's options.
func (p Parser) Parse(s string) (RootPath, error) {
	if err := checkText(s); err != nil {
		return nil, err
	}
	scheme, rest, ok := splitScheme(s)
	if !ok {
		return parseNFSBare(s, false)
	}
	switch strings.ToLower(scheme) {
	case "iscsi":
		return p.parseISCSI(s, rest)
	case "aoe":
		return parseAoE(s, rest)
	case "http", "https":
		return parseHTTP(s)
	case "fcp":
		return parseFCP(s, rest)
	case "ib_srp":
		return parseIBSRP(s, rest)
	case "nfs", "nfs4":
		return parseNFSScheme(s, strings.ToLower(scheme), rest)
	case "nbd":
		return parseNBD(s, rest)
	case "fcoe":
		return nil, newErr(s, FieldScheme, scheme, reason(ErrUnsupported,
			"fcoe: is not a URI scheme: FCoE is a transport; iPXE boots FC disks with fcp:<wwn>:<lun>, Linux sets up FCoE with dracut's fcoe=<if|MAC>:{dcb|nodcb}"))
	}
	if strings.Contains(scheme, ".") && strings.HasPrefix(rest, "/") {
		return nil, newErr(s, FieldServer, scheme, reason(ErrUnsupported,
			"an NFS server in a bare root path must be an IPv4 address (the kernel takes anything else as a path); write nfs:%s:%s for dracut", scheme, rest))
	}
	return nil, newErr(s, FieldScheme, scheme, reason(ErrUnsupported, "unsupported scheme (want iscsi, aoe, http, https, fcp, ib_srp, nfs, nfs4, nbd)"))
}

// checkText applies the rules every form shares.
func checkText(s string) error {
	if s == "" {
		return newErr(s, FieldRootPath, s, reason(ErrEmpty, "empty root path"))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 && strings.Trim(s[i:], "\x00") == "" {
			return newErr(s, FieldRootPath, s, reason(ErrSyntax, "trailing NUL at offset %d (DHCP padding: strip trailing NULs before parsing)", i))
		}
		if c <= ' ' || c == 0x7f {
			return newErr(s, FieldRootPath, s, reason(ErrSyntax, "whitespace or control character %q at offset %d", c, i))
		}
	}
	if !utf8.ValidString(s) {
		return newErr(s, FieldRootPath, s, reason(ErrSyntax, "invalid UTF-8"))
	}
	return nil
}

// splitScheme splits "scheme:rest" when s starts with a URI scheme
// (letter, then letters, digits, "+", "-", ".", "_"; iPXE's ib_srp has an
// underscore).
func splitScheme(s string) (scheme, rest string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", s, false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case j > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.' || c == '_'):
		default:
			return "", s, false
		}
	}
	return s[:i], s[i+1:], true
}
