// Package rootpath parses and prints network root paths and SAN URIs: the
// text a DHCP server puts in option 17 ("root path", RFC 2132 §3.19), an
// iPXE script puts on a sanboot line, and an initramfs reads from root=,
// netroot= or nfsroot= on the kernel command line.
//
// Every form becomes a concrete type with exported fields, and every type's
// String method prints a canonical form that the parser it came from reads
// back to an equal value. Errors are [*Error] values that name the field and
// wrap a sentinel ([ErrEmpty], [ErrMissing], [ErrSyntax], [ErrRange],
// [ErrUnsupported]). The package uses only the standard library.
//
// # Which function for which text
//
//	DHCP option 17, iPXE sanboot/sanhook    Parse        (RFC 4173, iPXE URIs, DHCP NFS forms)
//	just an iscsi: path                     ParseISCSI
//	dracut root= / netroot=                 ParseDracut  (iscsi with credentials/iface, nfs:, dhcp)
//	kernel nfsroot=                         ParseNFSRoot
//	a LUN, an iSCSI name, a FC WWN          ParseLUN, NormalizeName / ValidateName, ParseWWN
//
// The command-line grammars differ from option 17 on purpose: dracut's
// iSCSI LUN is a decimal Linux LUN while RFC 4173's is hex, dracut accepts
// credentials the RFC does not, and the kernel turns "client1" into
// "/tftpboot/client1". Keep each text with its parser.
//
// # RFC 4173 iSCSI
//
//	iscsi:<server>:<protocol>:<port>:<LUN>:<targetname>
//
// The fields:
//
//   - server: DNS name, dotted IPv4, or IPv6 in brackets ("[2001:db8::1]").
//     Empty is allowed (discover the target by name) and kept empty; a
//     consumer that must connect should refuse it.
//   - protocol: empty or 6 (TCP), the only defined value. Default 6.
//   - port: empty or 1–65535. Default 3260 ([DefaultPort]). iPXE treats 0 or
//     garbage as 3260; here they are errors.
//   - LUN: empty or 1–4 groups of 1–4 hex digits joined by "-", filled left
//     to right into the 8-byte SAM LUN. Default 0. "10" is LUN 16: the
//     field is hex. See [LUN] for the byte layout, [LUN.Int] and [IntLUN]
//     for small integers, [LUN.Linux] and [LinuxLUN] for Linux numbering.
//   - targetname: everything after the fourth separator, colons included;
//     a valid iSCSI name (below), lowercased.
//
// Canonical form: "iscsi:", server (IPv6 bracketed), then protocol, port
// and LUN only when they are not the defaults:
//
//	iscsi:10.0.0.1:6:3260:0:iqn.2001-04.com.example:disk  ⇒  iscsi:10.0.0.1::::iqn.2001-04.com.example:disk
//
// # iSCSI names
//
// [NormalizeName] applies the ASCII part of RFC 3722: A–Z fold to a–z, and
// only a–z 0–9 "-" "." ":" remain legal; at most 223 bytes; one of
//
//	iqn.YYYY-MM.reversed.domain[:unique]   e.g. iqn.2001-04.com.example:storage:disk1
//	eui.<16 hex digits>                    e.g. eui.02004567a425678d
//	naa.<16 or 32 hex digits>              e.g. naa.52004567ba64678d
//
// Non-ASCII names are refused ([ErrUnsupported]): their normalization needs
// NFKC. Names with "_" and similar characters that some targets accept are
// refused too unless a [Parser] sets LenientNames; nothing is accepted
// silently.
//
// # iPXE SAN URIs
//
//	aoe:e<shelf>.<slot>                 *AoE    shelf 0–65535, slot 0–255, decimal
//	http://host[:port]/path, https://…  *HTTP   the server must honour Range requests
//	fcp:<wwn>:<LUN>, fcp://<wwn>/<LUN>  *FCP    wwn = xx:xx:xx:xx:xx:xx:xx:xx
//	ib_srp:<9 fields>                   *IBSRP  see its doc
//
// "fcoe:" is not a scheme (FCoE is a transport): it is refused with a hint
// to use fcp: in iPXE or dracut's fcoe= for Linux. [IsSAN] tells whether
// iPXE could attach a root path as a disk; iPXE ignores other root paths
// when DHCP also sends a boot file name.
//
// # NFS
//
//	[<ipv4>:]/<path>[,<opt>…]             Parse, ParseNFSRoot   kernel grammar
//	nfs:[<server>:]/<path>[(:|,)<opt>…]   Parse, ParseDracut    dracut grammar, also nfs4:
//	[<ipv4>:]/<path>[(:|,)<opt>…]         ParseDracut           dracut's legacy root= form
//
// A bare path in option 17 must not contain ":" (the kernel takes it as
// part of the path, dracut as the start of the options), and its server must
// be IPv4: the kernel mounts "/tftpboot/nfs.example:/srv" for a host name.
// ParseNFSRoot mirrors the kernel: "client1" ⇒ "/tftpboot/client1", empty
// or "default" path ⇒ "/tftpboot/%s" ([KernelDefaultNFSPath]); "%s" is kept
// literally everywhere. No server means: use the DHCP server's.
//
// # NBD
//
//	nbd:<server>:<port|exportname>[:<fstype>[:<rootflags>[:<nbdopts>]]]
//
// dracut's network block device root, accepted by Parse (dracut reads it
// from option 17 with netroot=dhcp) and ParseDracut; see [NBD].
//
// # dracut
//
//	iscsi:[<user>:<pass>[:<in_user>:<in_pass>]@][<server>]:[<proto>]:[<port>][:[<iface>]:[<netdev>]]:[<LUN>]:<target>
//
// parsed the way dracut's parse_iscsi_root does (credentials before the
// first "@", target from the last ":iqn.", ":eui." or ":naa."), but with
// every field checked; see [DracutISCSI]. "dhcp" and "dhcp6" give
// [*FromDHCP].
//
// # Input rules
//
// Whitespace, control characters and invalid UTF-8 are refused anywhere,
// including the trailing NULs some DHCP servers append (strip those at the
// DHCP layer: they are padding, not text). URI schemes are matched
// case-insensitively by Parse and printed lowercase.
package rootpath
