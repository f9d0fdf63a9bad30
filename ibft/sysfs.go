package ibft

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"
)

// SysfsDir is where Linux's iscsi_ibft driver shows the table. Pass
// os.DirFS(SysfsDir) to [ReadSysfs].
const SysfsDir = "/sys/firmware/ibft"

// ReadSysfs reads the table as Linux's iscsi_ibft driver shows it, from a
// file system rooted at /sys/firmware/ibft (os.DirFS([SysfsDir]) in
// production, an fstest.MapFS in tests): initiator/, ethernet<N>/,
// target<N>/ and acpi_header/.
//
// Linux leaves out attributes whose value is null (an address of zero, an
// empty string), so absent attributes become zero values. What sysfs does
// not show is not in the result: the ACPI OEM revision and creator fields,
// the control flags, an empty host name's offset. The NIC's PCI address
// comes from the ethernet<N>/device symlink when fsys implements
// fs.ReadLinkFS (os.DirFS and fstest.MapFS do).
//
// The LUN attribute is printed by Linux as eight unpadded "%x" bytes, which
// is ambiguous for some LUNs; ReadSysfs picks the reading with two-digit
// bytes earliest, which is right for single-level LUNs (0–16383).
//
// A missing directory is an error wrapping fs.ErrNotExist (no iBFT, or the
// iscsi_ibft module not loaded); reading the attributes needs
// CAP_SYS_ADMIN, otherwise Linux returns EACCES. Malformed attributes are
// an [*Error] wrapping [ErrSysfs].
func ReadSysfs(fsys fs.FS) (*Table, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("ibft: reading sysfs: %w", err)
	}
	t := &Table{}
	r := sysfsReader{fsys: fsys}
	type numbered struct {
		n    int
		name string
	}
	var nics, targets []numbered
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == "initiator":
			t.Initiator = r.initiator(name)
		case name == "acpi_header":
			r.acpiHeader(t, name)
		case strings.HasPrefix(name, "ethernet"):
			if n, err := strconv.Atoi(name[len("ethernet"):]); err == nil {
				nics = append(nics, numbered{n, name})
			}
		case strings.HasPrefix(name, "target"):
			if n, err := strconv.Atoi(name[len("target"):]); err == nil {
				targets = append(targets, numbered{n, name})
			}
		}
	}
	sort.Slice(nics, func(i, j int) bool { return nics[i].n < nics[j].n })
	sort.Slice(targets, func(i, j int) bool { return targets[i].n < targets[j].n })
	for _, d := range nics {
		t.NICs = append(t.NICs, r.nic(d.name, d.n))
	}
	for _, d := range targets {
		t.Targets = append(t.Targets, r.target(d.name, d.n))
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(t.NICs) > MaxNICs || len(t.Targets) > MaxTargets {
		return nil, &Error{Offset: -1, Field: ".", Err: ErrSysfs,
			Detail: fmt.Sprintf("%d NICs and %d targets; a table holds at most %d and %d", len(t.NICs), len(t.Targets), MaxNICs, MaxTargets)}
	}
	return t, nil
}

// sysfsReader reads attributes and keeps the first error.
type sysfsReader struct {
	fsys fs.FS
	err  error
}

func (r *sysfsReader) fail(p, format string, args ...any) {
	if r.err == nil {
		r.err = &Error{Offset: -1, Field: p, Err: ErrSysfs, Detail: fmt.Sprintf(format, args...)}
	}
}

// raw returns the attribute's content and whether it exists.
func (r *sysfsReader) raw(p string) (string, bool) {
	b, err := fs.ReadFile(r.fsys, p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		if r.err == nil {
			r.err = fmt.Errorf("ibft: reading sysfs %s: %w", p, err)
		}
		return "", false
	}
	return string(b), true
}

// str reads a string attribute, which Linux ends with one newline.
func (r *sysfsReader) str(p string) string {
	s, _ := r.raw(p)
	return strings.TrimSuffix(s, "\n")
}

func (r *sysfsReader) uint(p string, bits int) (uint64, bool) {
	s, ok := r.raw(p)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, bits)
	if err != nil {
		r.fail(p, "%q is not a %d-bit unsigned number", s, bits)
		return 0, false
	}
	return v, true
}

func (r *sysfsReader) u8(p string) uint8 {
	v, _ := r.uint(p, 8)
	return uint8(v)
}

// addr reads an address attribute: a dotted quad for IPv4-mapped
// addresses, 8 groups of 4 hex digits otherwise; "::" (all zero) is none.
func (r *sysfsReader) addr(p string) netip.Addr {
	s, ok := r.raw(p)
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		r.fail(p, "%q is not an IP address", s)
		return netip.Addr{}
	}
	if a.Is6() && a.IsUnspecified() {
		return netip.Addr{}
	}
	return a.Unmap()
}

func (r *sysfsReader) initiator(dir string) *Initiator {
	return &Initiator{
		Flags:           Flags(r.u8(dir + "/flags")),
		Name:            r.str(dir + "/initiator-name"),
		ISNSServer:      r.addr(dir + "/isns-server"),
		SLPServer:       r.addr(dir + "/slp-server"),
		PrimaryRADIUS:   r.addr(dir + "/pri-radius-server"),
		SecondaryRADIUS: r.addr(dir + "/sec-radius-server"),
	}
}

func (r *sysfsReader) acpiHeader(t *Table, dir string) {
	if s, ok := r.raw(dir + "/signature"); ok {
		switch strings.TrimSuffix(s, "\n") {
		case "iBFT":
			t.Signature = SignatureIBFT
		case "IBFT":
			t.Signature = SignatureACPI
		case "BIFT":
			t.Signature = SignatureBroadcom
		default:
			r.fail(dir+"/signature", "%q is none of iBFT, IBFT, BIFT", s)
		}
	}
	t.OEMID = r.str(dir + "/oem_id")
	t.OEMTableID = r.str(dir + "/oem_table_id")
}

func (r *sysfsReader) index(dir string, n int) uint8 {
	if v, ok := r.uint(dir+"/index", 8); ok {
		return uint8(v)
	}
	return uint8(n)
}

func (r *sysfsReader) nic(dir string, n int) NIC {
	nic := NIC{
		Index:        r.index(dir, n),
		Flags:        Flags(r.u8(dir + "/flags")),
		IP:           r.addr(dir + "/ip-addr"),
		Origin:       Origin(r.u8(dir + "/origin")),
		Gateway:      r.addr(dir + "/gateway"),
		PrimaryDNS:   r.addr(dir + "/primary-dns"),
		SecondaryDNS: r.addr(dir + "/secondary-dns"),
		DHCPServer:   r.addr(dir + "/dhcp"),
		Hostname:     r.str(dir + "/hostname"),
	}
	if v, ok := r.uint(dir+"/vlan", 16); ok {
		nic.VLAN = uint16(v)
	}
	if v, ok := r.uint(dir+"/prefix-len", 8); ok {
		nic.PrefixLen = uint8(v)
	} else if s, ok := r.raw(dir + "/subnet-mask"); ok {
		m, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || !m.Is4() {
			r.fail(dir+"/subnet-mask", "%q is not a dotted-quad mask", s)
		} else {
			b := m.As4()
			ones, _ := net.IPv4Mask(b[0], b[1], b[2], b[3]).Size()
			nic.PrefixLen = uint8(ones)
		}
	}
	if s, ok := r.raw(dir + "/mac"); ok {
		mac, err := net.ParseMAC(strings.TrimSpace(s))
		if err != nil || len(mac) != 6 {
			r.fail(dir+"/mac", "%q is not a 6-byte MAC address", s)
		} else if !isZero(mac) {
			nic.MAC = mac
		}
	}
	if rl, ok := r.fsys.(fs.ReadLinkFS); ok {
		if dst, err := rl.ReadLink(dir + "/device"); err == nil {
			if pci, ok := parsePCILink(dst); ok {
				nic.PCI = pci
			}
		}
	}
	return nic
}

// parsePCILink reads the PCI address from the last element of a sysfs
// device link, e.g. "../../../devices/pci0000:00/0000:00:03.0".
func parsePCILink(dst string) (PCIAddress, bool) {
	var dom, bus, dev, fn uint
	if n, err := fmt.Sscanf(path.Base(dst), "%04x:%02x:%02x.%x", &dom, &bus, &dev, &fn); err != nil || n != 4 ||
		dom != 0 || bus > 0xff || dev > 31 || fn > 7 {
		return PCIAddress{}, false
	}
	return PCIAddress{Bus: uint8(bus), Device: uint8(dev), Function: uint8(fn)}, true
}

func (r *sysfsReader) target(dir string, n int) Target {
	t := Target{
		Index:             r.index(dir, n),
		Flags:             Flags(r.u8(dir + "/flags")),
		IP:                r.addr(dir + "/ip-addr"),
		NIC:               r.u8(dir + "/nic-assoc"),
		CHAPType:          CHAPType(r.u8(dir + "/chap-type")),
		Name:              r.str(dir + "/target-name"),
		CHAPName:          r.str(dir + "/chap-name"),
		CHAPSecret:        r.str(dir + "/chap-secret"),
		ReverseCHAPName:   r.str(dir + "/rev-chap-name"),
		ReverseCHAPSecret: r.str(dir + "/rev-chap-name-secret"),
	}
	if v, ok := r.uint(dir+"/port", 16); ok {
		t.Port = uint16(v)
	}
	if s, ok := r.raw(dir + "/lun"); ok {
		lun, ok := parseSysfsLUN(strings.TrimSpace(s))
		if !ok {
			r.fail(dir+"/lun", "%q is not 8 bytes printed as unpadded hex", s)
		}
		t.LUN = lun
	}
	return t
}

// parseSysfsLUN undoes Linux's "%x" per byte: each byte is one hex digit
// (below 0x10) or two digits not starting with 0. Of the possible
// readings it prefers two-digit bytes as early as possible.
func parseSysfsLUN(s string) (LUN, bool) {
	var l LUN
	var walk func(i, pos int) bool
	walk = func(i, pos int) bool {
		if i == 8 {
			return pos == len(s)
		}
		rest := len(s) - pos
		if rest < 8-i || rest > 2*(8-i) {
			return false
		}
		if rest >= 2 && s[pos] != '0' {
			if v, err := strconv.ParseUint(s[pos:pos+2], 16, 8); err == nil {
				l[i] = byte(v)
				if walk(i+1, pos+2) {
					return true
				}
			}
		}
		if v, err := strconv.ParseUint(s[pos:pos+1], 16, 8); err == nil {
			l[i] = byte(v)
			return walk(i+1, pos+1)
		}
		return false
	}
	if !walk(0, 0) {
		return LUN{}, false
	}
	return l, true
}
