package rootpath

import (
	"strings"
)

// KernelDefaultNFSPath is the path the kernel mounts when nfsroot= gives
// none (or "default"); "%s" stands for the node name (host name or IP).
const KernelDefaultNFSPath = "/tftpboot/%s"

// maxKernelNFSPath is the kernel's NFS_MAXPATHLEN: nfsroot= is copied into a
// buffer of that size and silently truncated beyond it.
const maxKernelNFSPath = 1024

// NFS is an NFS root: a server, an exported path and mount options.
//
// Three grammars produce it; String writes the one it came from:
//
//	[<ipv4>:]/<path>[,<opt>…]                       DHCP option 17, kernel nfsroot=
//	nfs:[<server>:]/<path>[(:|,)<opt>…]              dracut root=, and option 17 for dracut
//	nfs4:[<server>:]/<path>[(:|,)<opt>…]
//
// "%s" in Path is kept literally; the kernel replaces it with the node name.
type NFS struct {
	// Scheme is "" for the bare kernel form, or "nfs" / "nfs4" (dracut).
	Scheme string
	// Server is an IPv4 address, or in the dracut forms also an IPv6
	// address (printed in brackets) or a host name. Empty: use the DHCP
	// server's next-server / siaddr (dracut) or the DHCP root-path server
	// (kernel).
	Server string
	// Path is the exported directory, starting with "/".
	Path string
	// Options are the mount options in order, e.g. ["vers=3" "tcp"]; nil
	// when there are none.
	Options []string
}

// String writes the canonical form: scheme (if any), server (IPv6 in
// brackets), path, then the options each introduced by ",".
func (v *NFS) String() string {
	var b strings.Builder
	if v.Scheme != "" {
		b.WriteString(v.Scheme)
		b.WriteByte(':')
	}
	if v.Server != "" {
		b.WriteString(bracketHost(v.Server))
		b.WriteByte(':')
	}
	b.WriteString(v.Path)
	for _, o := range v.Options {
		b.WriteByte(',')
		b.WriteString(o)
	}
	return b.String()
}

// parseNFSBare reads "[<ipv4>:]/path[,opts]". In DHCP mode (dracut false)
// no ':' may follow the server: the kernel takes it as part of the path or
// options, dracut as the start of the options. In dracut mode (dracut's
// parse-nfsroot.sh: "<digit>…:/…" or "/…" but not "/dev/…") options may also
// follow ':'. Neither reads a bracketed IPv6 server in this form.
func parseNFSBare(input string, dracut bool) (*NFS, error) {
	v := &NFS{}
	rest := input
	switch {
	case strings.HasPrefix(rest, "/"):
		if dracut && strings.HasPrefix(rest, "/dev/") {
			return nil, newErr(input, FieldRootPath, input, reason(ErrUnsupported,
				"a local root device, not a network root"))
		}
	case strings.HasPrefix(rest, "["):
		return nil, newErr(input, FieldServer, input, reason(ErrUnsupported,
			"neither the kernel nor dracut reads a bracketed IPv6 server in a bare NFS root path; write nfs:[<ipv6>]:/<path>"))
	case rest[0] >= '0' && rest[0] <= '9':
		server, after, ok := strings.Cut(rest, ":")
		if !ok || !isIPv4(server) {
			return nil, newErr(input, FieldServer, server, reason(ErrSyntax,
				"want [<ipv4>:]/<path>: the server is a dotted IPv4 address followed by ':'"))
		}
		v.Server, rest = server, after
	default:
		return nil, newErr(input, FieldRootPath, input, reason(ErrUnsupported,
			"not a URI (iscsi:, aoe:, http:, fcp:, ib_srp:, nfs:) and not an NFS path"))
	}
	if dracut {
		if err := v.parsePathOpts(input, rest, ":,"); err != nil {
			return nil, err
		}
		return v, nil
	}
	if strings.Contains(rest, ":") {
		f, val := FieldPath, rest
		if i := strings.IndexByte(rest, ','); i >= 0 && i < strings.IndexByte(rest, ':') {
			f, val = FieldOptions, rest[i+1:]
		}
		return nil, newErr(input, f, val, reason(ErrSyntax,
			"':' after the server is ambiguous: the kernel reads it as part of the path or options, dracut as the start of the mount options"))
	}
	if err := v.parsePathOpts(input, rest, ","); err != nil {
		return nil, err
	}
	return v, nil
}

// parseNFSScheme reads the rest of "nfs:…" / "nfs4:…":
// [<server>:]/<path>[(:|,)<opts>].
func parseNFSScheme(input, scheme, rest string) (*NFS, error) {
	v := &NFS{Scheme: scheme}
	if strings.HasPrefix(rest, "//") {
		return nil, newErr(input, FieldRootPath, input, reason(ErrUnsupported,
			"%s:// URLs (RFC 2224) are not supported: write %s:<server>:/<path>", scheme, scheme))
	}
	if !strings.HasPrefix(rest, "/") {
		server, after, err := cutServer(input, rest)
		if err != nil {
			return nil, err
		}
		if v.Server, err = parseServer(server); err != nil {
			return nil, newErr(input, FieldServer, server, err)
		}
		rest = after
	}
	if err := v.parsePathOpts(input, rest, ":,"); err != nil {
		return nil, err
	}
	return v, nil
}

// parsePathOpts reads "/path[<sep>opt,opt…]" where the path ends at the
// first byte in seps. With ':' in seps (dracut's nfsroot_to_var), a second
// ":/" and a ':' inside the options are refused: dracut takes the path from
// the last ":/" and cuts options at a ',' in the path, so those texts mean
// something else to it.
func (v *NFS) parsePathOpts(input, rest, seps string) error {
	if strings.Contains(seps, ":") {
		if strings.Contains(rest, ":/") {
			return newErr(input, FieldPath, rest, reason(ErrSyntax, "dracut reads the path from the last \":/\"; do not repeat it"))
		}
		if i := strings.IndexAny(rest, seps); i >= 0 && strings.Contains(rest[i+1:], ":") {
			return newErr(input, FieldOptions, rest[i+1:], reason(ErrSyntax, "':' inside the mount options: dracut splits them differently (and drops part of them after a ',' in the path)"))
		}
	}
	path, opts := rest, ""
	hasOpts := false
	if i := strings.IndexAny(rest, seps); i >= 0 {
		path, opts, hasOpts = rest[:i], rest[i+1:], true
	}
	if !strings.HasPrefix(path, "/") {
		return newErr(input, FieldPath, path, reason(ErrSyntax, "the exported path must start with '/'"))
	}
	v.Path = path
	var err error
	v.Options, err = parseNFSOptions(input, opts, hasOpts)
	return err
}

func parseNFSOptions(input, opts string, present bool) ([]string, error) {
	if !present {
		return nil, nil
	}
	if opts == "" {
		return nil, newErr(input, FieldOptions, "", reason(ErrEmpty, "separator without mount options"))
	}
	list := strings.Split(opts, ",")
	for _, o := range list {
		if o == "" {
			return nil, newErr(input, FieldOptions, opts, reason(ErrSyntax, "empty mount option (\",,\" or a trailing \",\")"))
		}
	}
	return list, nil
}

// ParseNFSRoot reads the value of the kernel's nfsroot= parameter
// (Documentation/admin-guide/nfs/nfsroot.rst):
//
//	nfsroot=[<server-ip>:]<root-dir>[,<nfs-options>]
//
// It follows the kernel: a value that does not start with "/", "," or a
// digit is a directory under /tftpboot ("client1" ⇒ "/tftpboot/client1"),
// the server is recognised only as a dotted IPv4 address followed by ":" or
// the end, and an empty path or "default" means [KernelDefaultNFSPath].
// Where the kernel would quietly mount something else it refuses:
// "nfs.example:/srv" (the kernel would mount "/tftpboot/nfs.example:/srv"),
// a relative path after an address, and values the kernel truncates.
// The result has an empty Scheme; its String is again a valid nfsroot=.
func ParseNFSRoot(s string) (*NFS, error) {
	if err := checkText(s); err != nil {
		return nil, err
	}
	input, rest := s, s
	if c := s[0]; c != '/' && c != ',' && (c < '0' || c > '9') {
		if i := strings.IndexByte(s, ':'); i >= 0 {
			return nil, newErr(input, FieldServer, s[:i], reason(ErrUnsupported,
				"the kernel's nfsroot= takes only a dotted IPv4 server; this would mount /tftpboot/%s", s))
		}
		rest = "/tftpboot/" + s
	}
	if len(rest) > maxKernelNFSPath {
		return nil, newErr(input, FieldRootPath, input, reason(ErrRange, "longer than the kernel's %d-byte nfsroot buffer (it truncates silently)", maxKernelNFSPath))
	}
	v := &NFS{}
	if rest[0] >= '0' && rest[0] <= '9' {
		end := strings.IndexAny(rest, ":,")
		addr := rest
		if end >= 0 {
			addr = rest[:end]
		}
		if !isIPv4(addr) || (end >= 0 && rest[end] != ':') {
			return nil, newErr(input, FieldServer, addr, reason(ErrSyntax,
				"want <ipv4>:<path>: the kernel reads a server only as four decimal octets followed by ':'"))
		}
		v.Server = addr
		rest = strings.TrimPrefix(rest[len(addr):], ":")
	}
	path, opts, hasOpts := strings.Cut(rest, ",")
	if path == "" || path == "default" {
		path = KernelDefaultNFSPath
	}
	if !strings.HasPrefix(path, "/") {
		return nil, newErr(input, FieldPath, path, reason(ErrSyntax, "the exported path must start with '/'"))
	}
	v.Path = path
	var err error
	if v.Options, err = parseNFSOptions(input, opts, hasOpts); err != nil {
		return nil, err
	}
	return v, nil
}
