package rootpath

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// LUN is an 8-byte SCSI logical unit number in SAM layout: four
// big-endian 16-bit addressing levels, first level first. It is the byte
// string an iSCSI PDU, an iBFT target structure and a REPORT LUNS list
// carry, so it can be copied into them verbatim.
//
// The RFC 4173 text form writes the levels as 1–4 groups of 1–4 hex digits
// joined by "-"; missing trailing levels are zero:
//
//	""  or "0"             00 00 00 00 00 00 00 00   LUN 0
//	"1"                    00 01 00 00 00 00 00 00   LUN 1 (peripheral addressing)
//	"10"                   00 10 00 00 00 00 00 00   LUN 16: the text is hex
//	"412c"                 41 2c 00 00 00 00 00 00   LUN 300 (flat space addressing)
//	"1-7"                  00 01 00 07 00 00 00 00   two levels
//	"4752-3a4f-6b7e-2f99"  47 52 3a 4f 6b 7e 2f 99   four levels
//
// The zero value is LUN 0. LUN implements [encoding.TextMarshaler] and
// [encoding.TextUnmarshaler] with the same text form.
type LUN [8]byte

// ParseLUN reads the RFC 4173 LUN text: empty (LUN 0) or 1–4 groups of
// 1–4 hex digits (either case) joined by "-". Unlike iPXE it refuses
// empty groups ("1--2"), groups wider than four digits, a "0x" prefix and
// more than four groups, because each of those silently changes the
// address on some implementation.
func ParseLUN(s string) (LUN, error) {
	l, err := parseLUN(s)
	if err != nil {
		return LUN{}, newErr(s, FieldLUN, s, err)
	}
	return l, nil
}

func parseLUN(s string) (LUN, error) {
	var l LUN
	if s == "" {
		return l, nil
	}
	groups := strings.Split(s, "-")
	if len(groups) > 4 {
		return l, reason(ErrRange, "%d groups, at most 4 addressing levels", len(groups))
	}
	for i, g := range groups {
		if g == "" {
			return l, reason(ErrSyntax, "group %d is empty", i+1)
		}
		if len(g) > 4 {
			return l, reason(ErrRange, "group %q has more than 4 hex digits", g)
		}
		var w uint16
		for j := 0; j < len(g); j++ {
			d, ok := hexDigit(g[j])
			if !ok {
				return l, reason(ErrSyntax, "%q is not a hex digit (LUN groups are hex, without 0x)", g[j])
			}
			w = w<<4 | uint16(d)
		}
		binary.BigEndian.PutUint16(l[2*i:], w)
	}
	return l, nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String returns the canonical text form: lowercase hex groups without
// leading zeros, trailing all-zero levels dropped, "0" for LUN 0.
// ParseLUN(l.String()) == l for every LUN.
func (l LUN) String() string {
	n := 4
	for n > 1 && l.word(n-1) == 0 {
		n--
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(strconv.FormatUint(uint64(l.word(i)), 16))
	}
	return b.String()
}

// rfcField is the LUN as it appears in an iscsi: root path: empty for LUN 0.
func (l LUN) rfcField() string {
	if l.IsZero() {
		return ""
	}
	return l.String()
}

func (l LUN) word(i int) uint16 { return binary.BigEndian.Uint16(l[2*i:]) }

// IsZero reports whether l is LUN 0.
func (l LUN) IsZero() bool { return l == LUN{} }

// Int returns the LUN as a small integer when l is a single-level LUN
// in peripheral device addressing (first level 00nn: nn) or flat space
// addressing (first level 01xxxxxx xxxxxxxx, i.e. 4000–7fff: the low 14
// bits), with the other levels zero. Any other form (multi-level, logical
// unit or extended addressing) reports false.
func (l LUN) Int() (int, bool) {
	if l.word(1) != 0 || l.word(2) != 0 || l.word(3) != 0 {
		return 0, false
	}
	w := l.word(0)
	switch w >> 14 {
	case 0: // peripheral device addressing: bus identifier must be 0
		if w>>8 != 0 {
			return 0, false
		}
		return int(w), true
	case 1: // flat space addressing
		return int(w & 0x3fff), true
	}
	return 0, false
}

// IntLUN encodes a small integer the way targets report it: 0–255 in
// peripheral device addressing (00nn), 256–16383 in flat space addressing
// (01 + 14 bits). It is the inverse of [LUN.Int]; larger or negative
// numbers are refused with [ErrRange].
func IntLUN(n int) (LUN, error) {
	var l LUN
	switch {
	case n < 0 || n > 0x3fff:
		s := strconv.Itoa(n)
		return l, newErr(s, FieldLUN, s, reason(ErrRange, "single-level LUNs are 0–16383"))
	case n < 256:
		binary.BigEndian.PutUint16(l[:], uint16(n))
	default:
		binary.BigEndian.PutUint16(l[:], 0x4000|uint16(n))
	}
	return l, nil
}

// Linux returns the LUN number Linux uses (scsilun_to_int): the 16-bit
// levels are laid out first level lowest, so LUN 1 is 1, flat-space LUN
// 300 (412c) is 16684, and "1-7" is 0x0007_0001. This is the number in
// /dev/disk/by-path/…-lun-N, in sysfs H:C:T:L and in dracut's netroot= LUN
// field.
func (l LUN) Linux() uint64 {
	var n uint64
	for i := 0; i < 4; i++ {
		n |= uint64(l.word(i)) << (16 * i)
	}
	return n
}

// LinuxLUN is the inverse of [LUN.Linux] (the kernel's int_to_scsilun).
func LinuxLUN(n uint64) LUN {
	var l LUN
	for i := 0; i < 4; i++ {
		binary.BigEndian.PutUint16(l[2*i:], uint16(n>>(16*i)))
	}
	return l
}

// MarshalText implements [encoding.TextMarshaler] with [LUN.String].
func (l LUN) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParseLUN].
func (l *LUN) UnmarshalText(b []byte) error {
	v, err := ParseLUN(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
