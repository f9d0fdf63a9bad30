package ibft

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// UnmarshalBinary decodes a table strictly: it checks the signature (iBFT,
// IBFT or BIFT), the declared length against len(b), the revision (1), the
// checksum, the control structure, and every structure and string offset
// and length against the table's bounds, and returns an [*Error] naming the
// first defect. It accepts any placement of the structures and strings
// (iPXE's fixed slots, our compact layout, gaps, shared strings) and
// dispatches structures by their id as Linux does. Bytes after the declared
// length are ignored. On error t is left unchanged.
func (t *Table) UnmarshalBinary(b []byte) error {
	nt, _, err := decode(b, false)
	if err != nil {
		return err
	}
	*t = *nt
	return nil
}

// Parse is [Table.UnmarshalBinary] as a function.
func Parse(b []byte) (*Table, error) {
	t, _, err := decode(b, false)
	return t, err
}

// ParseLenient decodes a table the way Linux's iscsi_ibft driver does:
// defects that make Linux refuse the whole table (signature, length,
// revision, checksum, control structure) are still an error, but a
// structure Linux would skip (unknown id, wrong length, offset out of
// bounds, duplicate) is skipped and a string that lies outside the table
// is read as empty. Each thing skipped is reported in skipped as an
// [*Error]. It never reads outside b.
func ParseLenient(b []byte) (t *Table, skipped []error, err error) {
	return decode(b, true)
}

type decoder struct {
	b       []byte // exactly the declared length
	lenient bool
	skipped []error
}

// problem records a non-fatal defect; in strict mode it is returned as the
// error.
func (d *decoder) problem(e *Error) error {
	if d.lenient {
		d.skipped = append(d.skipped, e)
		return nil
	}
	return e
}

func decode(b []byte, lenient bool) (*Table, []error, error) {
	if len(b) < headerLen+controlLen {
		return nil, nil, errAt(0, "header", ErrShort, "%d bytes; the ACPI header and control structure need %d", len(b), headerLen+controlLen)
	}
	t := &Table{}
	switch string(b[0:4]) {
	case "iBFT":
		t.Signature = SignatureIBFT
	case "IBFT":
		t.Signature = SignatureACPI
	case "BIFT":
		t.Signature = SignatureBroadcom
	default:
		return nil, nil, errAt(0, "signature", ErrSignature, "%q; Linux looks for iBFT, IBFT or BIFT", b[0:4])
	}
	length := binary.LittleEndian.Uint32(b[4:])
	if length < headerLen+controlLen {
		return nil, nil, errAt(4, "length", ErrShort, "declared length %d is less than the %d bytes of the header and control structure", length, headerLen+controlLen)
	}
	if uint64(length) > uint64(len(b)) {
		return nil, nil, errAt(4, "length", ErrShort, "declared length %d but only %d bytes given", length, len(b))
	}
	b = b[:length]
	if b[8] != 1 {
		return nil, nil, errAt(8, "revision", ErrRevision, "revision %d; Linux supports only revision 1", b[8])
	}
	if s := sum(b); s != 0 {
		return nil, nil, errAt(9, "checksum", ErrChecksum, "the %d bytes sum to %#02x; checksum byte %#02x should be %#02x", len(b), s, b[9], b[9]-s)
	}
	t.OEMID = string(bytes.TrimRight(b[10:16], "\x00"))
	t.OEMTableID = string(bytes.TrimRight(b[16:24], "\x00"))
	t.OEMRevision = binary.LittleEndian.Uint32(b[24:])
	t.CreatorID = string(bytes.TrimRight(b[28:32], "\x00"))
	t.CreatorRevision = binary.LittleEndian.Uint32(b[32:])

	c := b[controlOff:]
	if c[0] != idControl || binary.LittleEndian.Uint16(c[2:]) != controlLen || c[4] != 0 {
		return nil, nil, errAt(controlOff, "control", ErrControl, "id %d, length %d, index %d; Linux requires id 1, length 18, index 0",
			c[0], binary.LittleEndian.Uint16(c[2:]), c[4])
	}
	t.ControlFlags = ControlFlags(c[5])

	d := &decoder{b: b, lenient: lenient}
	slots := [...]string{"initiator", "NIC 0", "target 0", "NIC 1", "target 1"}
	seen := map[int]string{}
	for k, slot := range slots {
		at := controlOff + 8 + 2*k
		off := int(binary.LittleEndian.Uint16(b[at:]))
		if off == 0 {
			continue
		}
		field := slot + " offset"
		if off < headerLen {
			if err := d.problem(errAt(at, field, ErrOffset, "%#x points into the ACPI header", off)); err != nil {
				return nil, nil, err
			}
			continue
		}
		if off+6 > len(b) {
			if err := d.problem(errAt(at, field, ErrOffset, "structure header %#x+6 runs past the table end %#x", off, len(b))); err != nil {
				return nil, nil, err
			}
			continue
		}
		if prev, dup := seen[off]; dup {
			if err := d.problem(errAt(at, field, ErrStructure, "%#x is also the %s offset; Linux would register the structure twice", off, prev)); err != nil {
				return nil, nil, err
			}
			continue
		}
		seen[off] = slot
		if err := d.structure(t, slot, off); err != nil {
			return nil, nil, err
		}
	}
	return t, d.skipped, nil
}

// structure decodes the structure at off, referenced from the given control
// slot, into t. Like Linux it goes by the structure's id, not the slot.
func (d *decoder) structure(t *Table, slot string, off int) error {
	b := d.b
	id := b[off]
	slen := int(binary.LittleEndian.Uint16(b[off+2:]))
	index := b[off+4]
	flags := Flags(b[off+5])
	var want int
	var kind string
	switch id {
	case idInitiator:
		want, kind = initiatorLen, "initiator"
	case idNIC:
		want, kind = nicLen, fmt.Sprintf("NIC %d", index)
	case idTarget:
		want, kind = targetLen, fmt.Sprintf("target %d", index)
	default:
		return d.problem(errAt(off, slot, ErrStructure, "structure id %d (%s); the slot must point to an initiator (2), NIC (3) or target (4)", id, idName(id)))
	}
	if slen != want {
		return d.problem(errAt(off+2, kind, ErrStructure, "length %d; a %s structure is %d bytes (Linux skips it)", slen, idName(id), want))
	}
	if off+slen > len(b) {
		return d.problem(errAt(off, kind, ErrOffset, "structure %#x+%d runs past the table end %#x", off, slen, len(b)))
	}
	s := b[off : off+slen]
	switch id {
	case idInitiator:
		if t.Initiator != nil {
			return d.problem(errAt(off, kind, ErrStructure, "second initiator structure (from the %s slot)", slot))
		}
		ini := &Initiator{
			Flags:           flags,
			ISNSServer:      getAddr(s[6:]),
			SLPServer:       getAddr(s[22:]),
			PrimaryRADIUS:   getAddr(s[38:]),
			SecondaryRADIUS: getAddr(s[54:]),
		}
		var err error
		if ini.Name, err = d.str(off+70, kind+" name"); err != nil {
			return err
		}
		t.Initiator = ini
	case idNIC:
		for i := range t.NICs {
			if t.NICs[i].Index == index {
				return d.problem(errAt(off+4, kind, ErrStructure, "a second NIC with index %d (from the %s slot); Linux cannot register both", index, slot))
			}
		}
		if len(t.NICs) == MaxNICs {
			return d.problem(errAt(off, kind, ErrStructure, "a third NIC (from the %s slot); a table holds %d", slot, MaxNICs))
		}
		n := NIC{
			Index:        index,
			Flags:        flags,
			IP:           getAddr(s[6:]),
			PrefixLen:    s[22],
			Origin:       Origin(s[23]),
			Gateway:      getAddr(s[24:]),
			PrimaryDNS:   getAddr(s[40:]),
			SecondaryDNS: getAddr(s[56:]),
			DHCPServer:   getAddr(s[72:]),
			VLAN:         binary.LittleEndian.Uint16(s[88:]),
			PCI:          PCIAddressFromBDF(binary.LittleEndian.Uint16(s[96:])),
		}
		if !isZero(s[90:96]) {
			n.MAC = net.HardwareAddr(bytes.Clone(s[90:96]))
		}
		var err error
		if n.Hostname, err = d.str(off+98, kind+" hostname"); err != nil {
			return err
		}
		t.NICs = append(t.NICs, n)
	case idTarget:
		for i := range t.Targets {
			if t.Targets[i].Index == index {
				return d.problem(errAt(off+4, kind, ErrStructure, "a second target with index %d (from the %s slot); Linux cannot register both", index, slot))
			}
		}
		if len(t.Targets) == MaxTargets {
			return d.problem(errAt(off, kind, ErrStructure, "a third target (from the %s slot); a table holds %d", slot, MaxTargets))
		}
		tg := Target{
			Index:    index,
			Flags:    flags,
			IP:       getAddr(s[6:]),
			Port:     binary.LittleEndian.Uint16(s[22:]),
			CHAPType: CHAPType(s[32]),
			NIC:      s[33],
		}
		copy(tg.LUN[:], s[24:32])
		for _, f := range [...]struct {
			at   int
			name string
			dst  *string
		}{
			{34, "name", &tg.Name},
			{38, "CHAP name", &tg.CHAPName},
			{42, "CHAP secret", &tg.CHAPSecret},
			{46, "reverse CHAP name", &tg.ReverseCHAPName},
			{50, "reverse CHAP secret", &tg.ReverseCHAPSecret},
		} {
			var err error
			if *f.dst, err = d.str(off+f.at, kind+" "+f.name); err != nil {
				return err
			}
		}
		t.Targets = append(t.Targets, tg)
	}
	return nil
}

// str reads the (length, offset) string descriptor at at. A string of
// length 0 is empty whatever its offset. The bytes are returned verbatim,
// without the NUL that usually follows them.
func (d *decoder) str(at int, field string) (string, error) {
	n := int(binary.LittleEndian.Uint16(d.b[at:]))
	off := int(binary.LittleEndian.Uint16(d.b[at+2:]))
	if n == 0 {
		return "", nil
	}
	if off < headerLen {
		return "", d.problem(errAt(at, field, ErrOffset, "string of %d bytes at %#x points into the ACPI header", n, off))
	}
	if off+n > len(d.b) {
		return "", d.problem(errAt(at, field, ErrOffset, "string %#x+%d runs past the table end %#x", off, n, len(d.b)))
	}
	return string(d.b[off : off+n]), nil
}

// getAddr reads an IP16: all zero is no address, the IPv4-mapped form is
// IPv4, anything else IPv6.
func getAddr(b []byte) netip.Addr {
	var a [16]byte
	copy(a[:], b[:16])
	if a == [16]byte{} {
		return netip.Addr{}
	}
	if [12]byte(a[:12]) == [12]byte{10: 0xff, 11: 0xff} { // IPv4-mapped
		return netip.AddrFrom4([4]byte(a[12:]))
	}
	return netip.AddrFrom16(a)
}

func idName(id uint8) string {
	switch id {
	case 0:
		return "reserved"
	case idControl:
		return "control"
	case idInitiator:
		return "initiator"
	case idNIC:
		return "NIC"
	case idTarget:
		return "target"
	case 5:
		return "extensions"
	}
	return "unknown"
}
