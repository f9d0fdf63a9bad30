package rootpath

import (
	"strconv"
	"strings"
)

// FromDHCP is dracut's root=dhcp / root=dhcp6 / netroot=dhcp: take the
// root path from DHCP option 17 (or the DHCPv6 equivalent) and parse that
// with [Parse].
type FromDHCP struct {
	IPv6 bool // dhcp6
}

// String returns "dhcp" or "dhcp6".
func (v *FromDHCP) String() string {
	if v.IPv6 {
		return "dhcp6"
	}
	return "dhcp"
}

// DracutISCSI is dracut's extended iSCSI root (dracut.cmdline(7)):
//
//	iscsi:[<user>:<pass>[:<in_user>:<in_pass>]@][<server>]:[<proto>]:[<port>][:[<iface>]:[<netdev>]]:[<LUN>]:<target>
//
// The embedded ISCSI holds the RFC 4173 part. The LUN field of this form
// is the decimal Linux LUN number (dracut looks for
// /dev/disk/by-path/…-lun-<LUN>), converted here to the SAM LUN with
// [LinuxLUN]; String converts it back.
//
// Credentials on the kernel command line are readable by every user
// through /proc/cmdline; prefer rd.iscsi.username / an iBFT with CHAP.
type DracutISCSI struct {
	ISCSI
	Username   string // CHAP name the initiator sends
	Password   string // CHAP secret the initiator uses
	InUsername string // reverse (mutual) CHAP name the target sends
	InPassword string // reverse CHAP secret
	Iface      string // open-iscsi iface name
	Netdev     string // network device to bind to, e.g. "eth0"
}

// String writes the dracut form. An "@" is put in front of the server when
// there are no credentials but a later field contains "@", so dracut does
// not read the start of the path as credentials.
func (v *DracutISCSI) String() string {
	var b strings.Builder
	b.WriteString("iscsi:")
	if v.Username != "" || v.Password != "" || v.InUsername != "" || v.InPassword != "" {
		b.WriteString(v.Username + ":" + v.Password)
		if v.InUsername != "" || v.InPassword != "" {
			b.WriteString(":" + v.InUsername + ":" + v.InPassword)
		}
		b.WriteByte('@')
	} else if strings.Contains(v.Iface+v.Netdev+v.Target, "@") {
		b.WriteByte('@')
	}
	b.WriteString(bracketHost(v.Server))
	b.WriteByte(':')
	if v.Protocol != 0 && v.Protocol != ProtocolTCP {
		b.WriteString(strconv.Itoa(int(v.Protocol)))
	}
	b.WriteByte(':')
	if v.Port != 0 && v.Port != DefaultPort {
		b.WriteString(strconv.Itoa(int(v.Port)))
	}
	if v.Iface != "" || v.Netdev != "" {
		b.WriteString(":" + v.Iface + ":" + v.Netdev)
	}
	b.WriteByte(':')
	if !v.LUN.IsZero() {
		b.WriteString(strconv.FormatUint(v.LUN.Linux(), 10))
	}
	b.WriteByte(':')
	b.WriteString(v.Target)
	return b.String()
}

// ParseDracut reads a dracut root= or netroot= value (without the "root="),
// strict mode:
//
//	iscsi:…                          *DracutISCSI (see its doc)
//	nfs:[<server>:]/<path>[:<opts>]  *NFS (opts after ':' or ',', separated by ',')
//	nfs4:…                           *NFS
//	[<ipv4>:]/<path>[:<opts>]        *NFS (not /dev/…; IPv6 only in the nfs: form)
//	nbd:<server>:<port|export>…      *NBD
//	dhcp, dhcp6                      *FromDHCP
//
// root=/dev/nfs means "see nfsroot=": it is refused with [ErrUnsupported];
// parse the nfsroot= value with [ParseNFSRoot]. Local devices ("/dev/sda1",
// "UUID=…", "LABEL=…") are not network roots and are refused the same way.
func ParseDracut(s string) (RootPath, error) { return Parser{}.ParseDracut(s) }

// ParseDracut is [ParseDracut] with p's options.
func (p Parser) ParseDracut(s string) (RootPath, error) {
	if err := checkText(s); err != nil {
		return nil, err
	}
	switch s {
	case "dhcp":
		return &FromDHCP{}, nil
	case "dhcp6":
		return &FromDHCP{IPv6: true}, nil
	case "/dev/nfs":
		return nil, newErr(s, FieldRootPath, s, reason(ErrUnsupported, "root=/dev/nfs takes the server and path from nfsroot=: parse that with ParseNFSRoot"))
	}
	scheme, rest, ok := splitScheme(s)
	if !ok {
		return parseNFSBare(s, true)
	}
	switch scheme {
	case "iscsi":
		return p.parseDracutISCSI(s, rest)
	case "nfs", "nfs4":
		return parseNFSScheme(s, scheme, rest)
	case "nbd":
		return parseNBD(s, rest)
	}
	return nil, newErr(s, FieldScheme, scheme, reason(ErrUnsupported, "not a dracut network root (want iscsi:, nfs:, nfs4:, nbd:, <ip>:/path, dhcp, dhcp6)"))
}

// parseDracutISCSI follows dracut-lib.sh parse_iscsi_root: credentials up
// to the first '@' when four ':' follow it; the server (bracketed or up to
// ':'); the target from the last ":iqn." (else ":eui.", else ":naa."); then
// proto:port[:iface:netdev]:LUN. Unlike dracut it checks every field.
func (p Parser) parseDracutISCSI(input, rest string) (*DracutISCSI, error) {
	v := &DracutISCSI{}
	if at := strings.IndexByte(rest, '@'); at >= 0 && strings.Count(rest[at:], ":") >= 4 {
		auth := rest[:at]
		rest = rest[at+1:]
		if auth != "" {
			f := strings.Split(auth, ":")
			if (len(f) != 2 && len(f) != 4) || f[0] == "" || f[1] == "" || (len(f) == 4 && (f[2] == "" || f[3] == "")) {
				return nil, newErr(input, FieldAuth, "", reason(ErrSyntax, "want <user>:<password>[:<in_user>:<in_password>]@ with no empty part"))
			}
			v.Username, v.Password = f[0], f[1]
			if len(f) == 4 {
				v.InUsername, v.InPassword = f[2], f[3]
			}
		}
	}
	server, rest, err := cutServer(input, rest)
	if err != nil {
		return nil, err
	}
	if server != "" {
		if v.Server, err = parseServer(server); err != nil {
			return nil, newErr(input, FieldServer, server, err)
		}
	}
	var target string
	found := false
	for _, prefix := range []string{":iqn.", ":eui.", ":naa."} {
		if i := strings.LastIndex(rest, prefix); i >= 0 {
			target, rest, found = rest[i+1:], rest[:i], true
			break
		}
	}
	if !found {
		return nil, newErr(input, FieldTarget, "", reason(ErrMissing, "dracut finds the target name by its \":iqn.\", \":eui.\" or \":naa.\" prefix; none found"))
	}
	f := strings.Split(rest, ":")
	var lun string
	switch len(f) {
	case 3:
		lun = f[2]
	case 4:
		v.Netdev, lun = f[2], f[3]
	case 5:
		v.Iface, v.Netdev, lun = f[2], f[3], f[4]
	default:
		return nil, newErr(input, FieldRootPath, input, reason(ErrSyntax, "want <proto>:<port>[:<iface>:<netdev>]:<LUN> between the server and the target name, got %d fields", len(f)))
	}
	if v.Protocol, err = parseProtocol(f[0]); err != nil {
		return nil, newErr(input, FieldProtocol, f[0], err)
	}
	if v.Port, err = parsePort(f[1]); err != nil {
		return nil, newErr(input, FieldPort, f[1], err)
	}
	if len(v.Netdev) > 15 || strings.ContainsAny(v.Netdev, "/") {
		return nil, newErr(input, FieldNetdev, v.Netdev, reason(ErrSyntax, "a Linux interface name is at most 15 bytes without '/'"))
	}
	if lun != "" {
		if !isDigits(lun) {
			return nil, newErr(input, FieldLUN, lun, reason(ErrSyntax, "dracut's LUN is the decimal Linux LUN number"))
		}
		n, err := strconv.ParseUint(lun, 10, 64)
		if err != nil {
			return nil, newErr(input, FieldLUN, lun, reason(ErrRange, "larger than 64 bits"))
		}
		v.LUN = LinuxLUN(n)
	}
	if v.Target, err = p.normalizeName(target); err != nil {
		return nil, newErr(input, FieldTarget, target, err)
	}
	if strings.Contains(v.Target[1:], ":iqn.") {
		return nil, newErr(input, FieldTarget, target, reason(ErrSyntax, "dracut would cut the target name at the inner \":iqn.\""))
	}
	return v, nil
}

// Validate checks a hand-built value in strict mode: the RFC 4173 part as
// [ISCSI.Validate] does, then that credentials come in pairs and that no
// field holds a separator dracut would split at, by printing the value and
// reading it back.
func (v *DracutISCSI) Validate() error {
	if err := v.ISCSI.Validate(); err != nil {
		return err
	}
	s := v.String()
	if (v.Username == "") != (v.Password == "") || (v.InUsername == "") != (v.InPassword == "") ||
		(v.InUsername != "" && v.Username == "") {
		return newErr(s, FieldAuth, "", reason(ErrMissing, "credentials come as user and password, reverse ones only after forward ones"))
	}
	rp, err := ParseDracut(s)
	if err != nil {
		return err
	}
	want := *v
	if want.Protocol == 0 {
		want.Protocol = ProtocolTCP
	}
	if want.Port == 0 {
		want.Port = DefaultPort
	}
	if got := rp.(*DracutISCSI); *got != want {
		return newErr(s, FieldRootPath, s, reason(ErrSyntax, "a field contains ':' or '@' or another separator, so dracut would read it differently"))
	}
	return nil
}
