package tftpserve

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"strings"
)

// PXELinuxKind tells which step of PXELINUX's config lookup a file name
// belongs to.
type PXELinuxKind int

// The steps of the PXELINUX lookup, in the order the client tries them.
const (
	PXELinuxUUID     PXELinuxKind = iota + 1 // pxelinux.cfg/<uuid>
	PXELinuxMAC                              // pxelinux.cfg/01-<mac with dashes>
	PXELinuxIPPrefix                         // pxelinux.cfg/<IPv4 in hex, 8 down to 1 digits>
	PXELinuxDefault                          // pxelinux.cfg/default
)

// String returns a short name for the kind.
func (k PXELinuxKind) String() string {
	switch k {
	case PXELinuxUUID:
		return "uuid"
	case PXELinuxMAC:
		return "mac"
	case PXELinuxIPPrefix:
		return "ip-prefix"
	case PXELinuxDefault:
		return "default"
	}
	return fmt.Sprintf("PXELinuxKind(%d)", int(k))
}

// PXELinuxLookup is one config file name of the PXELINUX lookup, parsed.
type PXELinuxLookup struct {
	Kind PXELinuxKind
	// Dir is the directory holding pxelinux.cfg ("" at the root, or for
	// example "bios" when pxelinux.0 was loaded as bios/pxelinux.0).
	Dir string
	// UUID is the lower-case client UUID (Kind PXELinuxUUID).
	UUID string
	// MAC is the client's hardware address (Kind PXELinuxMAC) and
	// HardwareType its ARP type (1 for Ethernet).
	MAC          net.HardwareAddr
	HardwareType byte
	// Prefix is the IPv4 prefix the hex name stands for (Kind
	// PXELinuxIPPrefix): "C0A80" is 192.168.0.0/20.
	Prefix netip.Prefix
}

// PXELinuxConfigNames returns the config file names PXELINUX tries, in
// its order: the UUID (if any), "01-" and the MAC with dashes (if any),
// the IPv4 address in upper-case hex with ever shorter prefixes (if
// valid), then "default". Each is under dir/pxelinux.cfg.
func PXELinuxConfigNames(dir, uuid string, mac net.HardwareAddr, ip netip.Addr) []string {
	base := "pxelinux.cfg/"
	if dir != "" {
		base = strings.TrimSuffix(dir, "/") + "/" + base
	}
	var names []string
	if uuid != "" {
		names = append(names, base+strings.ToLower(uuid))
	}
	if len(mac) > 0 {
		names = append(names, base+"01-"+strings.ReplaceAll(mac.String(), ":", "-"))
	}
	if ip.Is4() || ip.Is4In6() {
		a := ip.Unmap().As4()
		h := strings.ToUpper(hex.EncodeToString(a[:]))
		for n := len(h); n >= 1; n-- {
			names = append(names, base+h[:n])
		}
	}
	return append(names, base+"default")
}

// ParsePXELinuxName parses a cleaned request name as a step of the
// PXELINUX config lookup. ok is false for names that are not one.
func ParsePXELinuxName(name string) (l PXELinuxLookup, ok bool) {
	dir, file := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, file = name[:i], name[i+1:]
	}
	switch {
	case dir == "pxelinux.cfg":
		dir = ""
	case strings.HasSuffix(dir, "/pxelinux.cfg"):
		dir = strings.TrimSuffix(dir, "/pxelinux.cfg")
	default:
		return l, false
	}
	l.Dir = dir
	switch {
	case file == "default":
		l.Kind = PXELinuxDefault
		return l, true
	case isUUID(file):
		l.Kind, l.UUID = PXELinuxUUID, strings.ToLower(file)
		return l, true
	case len(file) == 20 && file[2] == '-':
		ht, err := hex.DecodeString(file[:2])
		if err != nil {
			return l, false
		}
		mac, err := net.ParseMAC(file[3:])
		if err != nil || len(mac) != 6 || strings.Contains(file[3:], ":") {
			return l, false
		}
		l.Kind, l.MAC, l.HardwareType = PXELinuxMAC, mac, ht[0]
		return l, true
	case len(file) >= 1 && len(file) <= 8 && isUpperHex(file):
		var a [4]byte
		full := (file + "00000000")[:8]
		if _, err := hex.Decode(a[:], []byte(full)); err != nil {
			return l, false
		}
		l.Kind, l.Prefix = PXELinuxIPPrefix, netip.PrefixFrom(netip.AddrFrom4(a), 4*len(file))
		return l, true
	}
	return l, false
}

func isUpperHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f') {
				return false
			}
		}
	}
	return true
}

// PXELinux is a Handler for sites that boot PXELINUX. It answers the
// client's config lookup (see [PXELinuxConfigNames]) from a function per
// machine and from files, and passes every other request to Next.
//
// For each lookup name, Config (if set) is asked first; when it returns
// an error wrapping [fs.ErrNotExist], Files (if set) is asked for the
// same name; when that fails too, the client gets "file not found" and
// tries its next name. So a Config that answers only PXELinuxMAC
// lookups, with Files holding pxelinux.cfg/default, gives known machines
// their own menu and every other machine the default one.
type PXELinux struct {
	// Config answers a lookup for one machine. The Request carries the
	// client address, and MAC for PXELinuxMAC lookups.
	Config func(ctx context.Context, req *Request, l PXELinuxLookup) (Content, error)
	// Files serves config files under their lookup names
	// (pxelinux.cfg/01-52-54-00-12-34-56, pxelinux.cfg/C0A8, ...).
	Files fs.FS
	// Next serves everything that is not a config lookup (pxelinux.0,
	// ldlinux.c32, kernels). Nil means not found.
	Next Handler
}

// ServeTFTP answers req.
func (p *PXELinux) ServeTFTP(ctx context.Context, req *Request) (Content, error) {
	l, ok := ParsePXELinuxName(req.Name)
	if !ok {
		if p.Next == nil {
			return Content{}, fmt.Errorf("tftpserve: %q: %w", req.Name, fs.ErrNotExist)
		}
		return p.Next.ServeTFTP(ctx, req)
	}
	r := *req
	if l.Kind == PXELinuxMAC {
		r.MAC = l.MAC
	}
	if p.Config != nil {
		c, err := p.Config(ctx, &r, l)
		if err == nil || !isNotExist(err) {
			return c, err
		}
	}
	if p.Files != nil {
		return FileServer(p.Files).ServeTFTP(ctx, &r)
	}
	return Content{}, fmt.Errorf("tftpserve: no PXELINUX config %q: %w", req.Name, fs.ErrNotExist)
}

func isNotExist(err error) bool { return err != nil && errors.Is(err, fs.ErrNotExist) }
