package ibft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// Structure ids, sizes and fixed offsets (see the package documentation).
const (
	headerLen    = 48 // ACPI description header (36) + 12 reserved bytes
	controlOff   = headerLen
	controlLen   = 18
	initiatorLen = 74
	nicLen       = 102
	targetLen    = 54

	idControl   = 1
	idInitiator = 2
	idNIC       = 3
	idTarget    = 4

	align = 16

	maxTableLen = 0xffff // string and structure offsets are 16-bit
)

// MarshalBinary encodes the table in the compact layout: the ACPI header,
// the control structure at offset 48, then the initiator, the NICs and the
// targets, each starting on a 16-byte boundary, then a string heap (on a
// 16-byte boundary) holding every non-empty string followed by a NUL, in
// iPXE's order: initiator name, NIC host names, then per target its name,
// CHAP name, CHAP secret, reverse CHAP name and reverse CHAP secret. The
// checksum byte is set so that all bytes sum to zero.
//
// It refuses (with an [*Error] wrapping [ErrInvalid] or [ErrTooLarge]) only
// values it cannot encode faithfully; use [Table.Validate] to check that
// the table is also useful to a booting OS.
func (t *Table) MarshalBinary() ([]byte, error) {
	if err := t.checkEncodable(); err != nil {
		return nil, err
	}

	// Place the structures.
	off := controlOff + controlLen
	place := func(n int) int {
		off = alignUp(off)
		at := off
		off += n
		return at
	}
	var iniOff int
	if t.Initiator != nil {
		iniOff = place(initiatorLen)
	}
	nicOff := make([]int, len(t.NICs))
	for i := range t.NICs {
		nicOff[i] = place(nicLen)
	}
	tgtOff := make([]int, len(t.Targets))
	for i := range t.Targets {
		tgtOff[i] = place(targetLen)
	}
	heapStart := alignUp(off)

	// Lay out the heap and compute the table length before allocating.
	heapLen := 0
	addLen := func(s string) {
		if s != "" {
			heapLen += len(s) + 1
		}
	}
	if t.Initiator != nil {
		addLen(t.Initiator.Name)
	}
	for i := range t.NICs {
		addLen(t.NICs[i].Hostname)
	}
	for i := range t.Targets {
		tg := &t.Targets[i]
		for _, s := range [...]string{tg.Name, tg.CHAPName, tg.CHAPSecret, tg.ReverseCHAPName, tg.ReverseCHAPSecret} {
			addLen(s)
		}
	}
	total := heapStart + heapLen
	if total > maxTableLen {
		return nil, &Error{Offset: -1, Err: ErrTooLarge,
			Detail: fmt.Sprintf("%d bytes; string and structure offsets are 16-bit, so a table ends by %d", total, maxTableLen)}
	}

	b := make([]byte, total)
	heap := heapStart
	putString := func(at int, s string) {
		if s == "" {
			return // length 0, offset 0: absent
		}
		binary.LittleEndian.PutUint16(b[at:], uint16(len(s)))
		binary.LittleEndian.PutUint16(b[at+2:], uint16(heap))
		copy(b[heap:], s)
		heap += len(s) + 1 // NUL terminator, already zero
	}

	// ACPI header.
	copy(b[0:4], t.Signature.String())
	binary.LittleEndian.PutUint32(b[4:], uint32(total))
	b[8] = 1 // revision
	copy(b[10:16], t.OEMID)
	copy(b[16:24], t.OEMTableID)
	binary.LittleEndian.PutUint32(b[24:], t.OEMRevision)
	copy(b[28:32], t.CreatorID)
	binary.LittleEndian.PutUint32(b[32:], t.CreatorRevision)

	// Control.
	putHeader(b[controlOff:], idControl, controlLen, 0, uint8(t.ControlFlags))
	c := b[controlOff:]
	binary.LittleEndian.PutUint16(c[8:], uint16(iniOff))
	for i := range nicOff {
		binary.LittleEndian.PutUint16(c[10+4*i:], uint16(nicOff[i]))
	}
	for i := range tgtOff {
		binary.LittleEndian.PutUint16(c[12+4*i:], uint16(tgtOff[i]))
	}

	// Initiator.
	if ini := t.Initiator; ini != nil {
		s := b[iniOff:]
		putHeader(s, idInitiator, initiatorLen, 0, uint8(ini.Flags))
		putAddr(s[6:], ini.ISNSServer)
		putAddr(s[22:], ini.SLPServer)
		putAddr(s[38:], ini.PrimaryRADIUS)
		putAddr(s[54:], ini.SecondaryRADIUS)
		putString(iniOff+70, ini.Name)
	}

	// NICs.
	for i := range t.NICs {
		n := &t.NICs[i]
		s := b[nicOff[i]:]
		putHeader(s, idNIC, nicLen, n.Index, uint8(n.Flags))
		putAddr(s[6:], n.IP)
		s[22] = n.PrefixLen
		s[23] = uint8(n.Origin)
		putAddr(s[24:], n.Gateway)
		putAddr(s[40:], n.PrimaryDNS)
		putAddr(s[56:], n.SecondaryDNS)
		putAddr(s[72:], n.DHCPServer)
		binary.LittleEndian.PutUint16(s[88:], n.VLAN)
		copy(s[90:96], n.MAC)
		binary.LittleEndian.PutUint16(s[96:], n.PCI.BDF())
		putString(nicOff[i]+98, n.Hostname)
	}

	// Targets.
	for i := range t.Targets {
		tg := &t.Targets[i]
		at := tgtOff[i]
		s := b[at:]
		putHeader(s, idTarget, targetLen, tg.Index, uint8(tg.Flags))
		putAddr(s[6:], tg.IP)
		binary.LittleEndian.PutUint16(s[22:], tg.Port)
		copy(s[24:32], tg.LUN[:])
		s[32] = uint8(tg.CHAPType)
		s[33] = tg.NIC
		putString(at+34, tg.Name)
		putString(at+38, tg.CHAPName)
		putString(at+42, tg.CHAPSecret)
		putString(at+46, tg.ReverseCHAPName)
		putString(at+50, tg.ReverseCHAPSecret)
	}

	b[9] = -sum(b)
	return b, nil
}

// checkEncodable reports values that cannot be written faithfully.
func (t *Table) checkEncodable() error {
	if !t.Signature.valid() {
		return errValue("signature", "%v is not one of iBFT, IBFT, BIFT", t.Signature)
	}
	for _, f := range [...]struct {
		name, v string
		n       int
	}{{"OEM ID", t.OEMID, 6}, {"OEM table ID", t.OEMTableID, 8}, {"creator ID", t.CreatorID, 4}} {
		if len(f.v) > f.n {
			return errValue(f.name, "%q is %d bytes, the field holds %d", f.v, len(f.v), f.n)
		}
		if strings.HasSuffix(f.v, "\x00") {
			return errValue(f.name, "%q ends in NUL; shorter values are NUL-padded already", f.v)
		}
	}
	if len(t.NICs) > MaxNICs {
		return errValue("NICs", "%d NICs; the control structure has %d slots", len(t.NICs), MaxNICs)
	}
	if len(t.Targets) > MaxTargets {
		return errValue("targets", "%d targets; the control structure has %d slots (Linux rejects a longer control structure)", len(t.Targets), MaxTargets)
	}
	if ini := t.Initiator; ini != nil {
		for _, a := range [...]struct {
			name string
			a    netip.Addr
		}{{"iSNS server", ini.ISNSServer}, {"SLP server", ini.SLPServer}, {"primary RADIUS server", ini.PrimaryRADIUS}, {"secondary RADIUS server", ini.SecondaryRADIUS}} {
			if err := checkAddr("initiator "+a.name, a.a); err != nil {
				return err
			}
		}
	}
	for i := range t.NICs {
		n := &t.NICs[i]
		field := fmt.Sprintf("NIC %d ", i)
		for _, a := range [...]struct {
			name string
			a    netip.Addr
		}{{"IP address", n.IP}, {"gateway", n.Gateway}, {"primary DNS", n.PrimaryDNS}, {"secondary DNS", n.SecondaryDNS}, {"DHCP server", n.DHCPServer}} {
			if err := checkAddr(field+a.name, a.a); err != nil {
				return err
			}
		}
		if n.MAC != nil {
			if len(n.MAC) != 6 {
				return errValue(field+"MAC", "%v is %d bytes, the field holds 6", n.MAC, len(n.MAC))
			}
			if isZero(n.MAC) {
				return errValue(field+"MAC", "all zero; leave MAC nil for no address")
			}
		}
		if n.PCI.Device > 31 || n.PCI.Function > 7 {
			return errValue(field+"PCI address", "device %d function %d: device is 0–31, function 0–7", n.PCI.Device, n.PCI.Function)
		}
	}
	if len(t.NICs) == 2 && t.NICs[0].Index == t.NICs[1].Index {
		return errValue("NICs", "both have index %d; Linux would show both as ethernet%d (give them 0 and 1)", t.NICs[0].Index, t.NICs[0].Index)
	}
	if len(t.Targets) == 2 && t.Targets[0].Index == t.Targets[1].Index {
		return errValue("targets", "both have index %d; Linux would show both as target%d (give them 0 and 1)", t.Targets[0].Index, t.Targets[0].Index)
	}
	for i := range t.Targets {
		if err := checkAddr(fmt.Sprintf("target %d IP address", i), t.Targets[i].IP); err != nil {
			return err
		}
	}
	return nil
}

// checkAddr accepts exactly the addresses that decode back to themselves.
func checkAddr(field string, a netip.Addr) error {
	switch {
	case !a.IsValid():
		return nil
	case a.Zone() != "":
		return errValue(field, "%v has a zone, which the table cannot hold", a)
	case a.Is4In6():
		return errValue(field, "%v is IPv4-mapped; give the plain IPv4 address %v (it is stored mapped)", a, a.Unmap())
	case a.Is6() && a.IsUnspecified():
		return errValue(field, ":: is stored as \"no address\"; leave the field as the zero netip.Addr")
	}
	return nil
}

func putHeader(b []byte, id uint8, length int, index, flags uint8) {
	b[0] = id
	b[1] = 1 // version
	binary.LittleEndian.PutUint16(b[2:], uint16(length))
	b[4] = index
	b[5] = flags
}

// putAddr writes a as an IP16: zero for none, IPv4-mapped for IPv4.
func putAddr(b []byte, a netip.Addr) {
	if !a.IsValid() {
		return
	}
	v := a.As16() // As16 of an IPv4 address is its mapped form
	copy(b[:16], v[:])
}

func alignUp(n int) int { return (n + align - 1) &^ (align - 1) }

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
