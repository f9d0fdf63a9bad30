package ibft

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// workedExample is the table of the spec note's worked example (ibft.md §9).
func workedExample() *Table {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	return &Table{
		OEMID:       "GONETB",
		OEMTableID:  "NETBOOT ",
		OEMRevision: 1,
		Initiator: &Initiator{
			Flags: FlagValid | FlagBootSelected,
			Name:  "iqn.2024-01.org.example:client1",
		},
		NICs: []NIC{{
			Flags:      FlagValid | FlagBootSelected,
			IP:         netip.MustParseAddr("192.168.1.50"),
			PrefixLen:  24,
			Origin:     OriginDHCP,
			Gateway:    netip.MustParseAddr("192.168.1.1"),
			PrimaryDNS: netip.MustParseAddr("192.168.1.1"),
			DHCPServer: netip.MustParseAddr("192.168.1.1"),
			MAC:        mac,
			PCI:        PCIAddress{Bus: 0, Device: 3, Function: 0},
			Hostname:   "client1",
		}},
		Targets: []Target{{
			Flags: FlagValid | FlagBootSelected,
			IP:    netip.MustParseAddr("192.168.1.10"),
			Port:  3260,
			Name:  "iqn.2024-01.org.example:disk1",
		}},
	}
}

// workedExampleBytes is the spec note's hex dump, typed in independently of
// the encoder.
func workedExampleBytes(t *testing.T) []byte {
	t.Helper()
	rows := []string{
		"69 42 46 54 96 01 00 00 01 b3 47 4f 4e 45 54 42  4e 45 54 42 4f 4f 54 20 01 00 00 00 00 00 00 00",
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  01 01 12 00 00 00 00 00 50 00 a0 00 10 01 00 00",
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  02 01 4a 00 00 03 00 00 00 00 00 00 00 00 00 00",
		strings.Repeat("00 ", 32),
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  00 00 00 00 00 00 1f 00 50 01 00 00 00 00 00 00",
		"03 01 66 00 00 03 00 00 00 00 00 00 00 00 00 00  ff ff c0 a8 01 32 18 03 00 00 00 00 00 00 00 00",
		"00 00 ff ff c0 a8 01 01 00 00 00 00 00 00 00 00  00 00 ff ff c0 a8 01 01 00 00 00 00 00 00 00 00",
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  00 00 ff ff c0 a8 01 01 00 00 52 54 00 12 34 56",
		"18 00 07 00 70 01 00 00 00 00 00 00 00 00 00 00  04 01 36 00 00 03 00 00 00 00 00 00 00 00 00 00",
		"ff ff c0 a8 01 0a bc 0c 00 00 00 00 00 00 00 00  00 00 1d 00 78 01 00 00 00 00 00 00 00 00 00 00",
		"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
	}
	b, err := hex.DecodeString(strings.ReplaceAll(strings.Join(rows, ""), " ", ""))
	require.NoError(t, err)
	b = append(b, "iqn.2024-01.org.example:client1\x00client1\x00iqn.2024-01.org.example:disk1\x00"...)
	require.Len(t, b, 0x196)
	return b
}

func TestWorkedExampleByteExact(t *testing.T) {
	got, err := workedExample().MarshalBinary()
	require.NoError(t, err)
	want := workedExampleBytes(t)
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes differ from the spec's worked example\ngot:\n%s\nwant:\n%s", hex.Dump(got), hex.Dump(want))
	}
	sumHex := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	assert.Equal(t, "e1feadb6280d5e5b31e7dcbf7f1b79f4bc3c63cc52d521c84074bbfaa0ff81e6", sumHex(got))
	assert.Equal(t, byte(0xb3), got[9])

	tb := workedExample()
	tb.Signature = SignatureACPI
	acpi, err := tb.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, "IBFT", string(acpi[:4]))
	assert.Equal(t, byte(0xd3), acpi[9])
	assert.Equal(t, "87a8d21a68ebf77b9483c0beb1752aeba966406ce197ce93cc128a56598bee5d", sumHex(acpi))
}

func TestWorkedExampleDecodes(t *testing.T) {
	got, err := Parse(workedExampleBytes(t))
	require.NoError(t, err)
	assert.Equal(t, workedExample(), got)
	tg, nic, ok := got.BootTarget()
	require.True(t, ok)
	assert.Equal(t, "iqn.2024-01.org.example:disk1", tg.Name)
	assert.Equal(t, "client1", nic.Hostname)
	assert.Equal(t, "iscsi:192.168.1.10::::iqn.2024-01.org.example:disk1", tg.RootPath())
	assert.Equal(t, netip.MustParsePrefix("192.168.1.50/24"), nic.Prefix())
	assert.NoError(t, got.Validate())
}

// fullTable uses every field, both NIC and target slots, IPv6, CHAP.
func fullTable() *Table {
	mac0, _ := net.ParseMAC("52:54:00:aa:bb:01")
	mac1, _ := net.ParseMAC("52:54:00:aa:bb:02")
	return &Table{
		Signature:       SignatureBroadcom,
		OEMID:           "ACME",
		OEMTableID:      "BOOT1",
		OEMRevision:     0xdeadbeef,
		CreatorID:       "GO",
		CreatorRevision: 7,
		ControlFlags:    ControlSingleLogin,
		Initiator: &Initiator{
			Flags:           FlagValid | FlagBootSelected,
			Name:            "iqn.2024-01.org.example:full",
			ISNSServer:      netip.MustParseAddr("10.0.0.2"),
			SLPServer:       netip.MustParseAddr("2001:db8::2"),
			PrimaryRADIUS:   netip.MustParseAddr("10.0.0.3"),
			SecondaryRADIUS: netip.MustParseAddr("0.0.0.0"),
		},
		NICs: []NIC{{
			Index: 0, Flags: FlagValid | FlagBootSelected | FlagNICGlobal,
			IP: netip.MustParseAddr("2001:db8::10"), PrefixLen: 64, Origin: OriginRouterAdv,
			Gateway: netip.MustParseAddr("fe80::1"), PrimaryDNS: netip.MustParseAddr("2001:db8::53"),
			SecondaryDNS: netip.MustParseAddr("2001:db8::54"), VLAN: 4094, MAC: mac0,
			PCI: PCIAddress{Bus: 0x81, Device: 31, Function: 7}, Hostname: "full",
		}, {
			Index: 1, Flags: FlagValid, IP: netip.MustParseAddr("10.1.0.10"), PrefixLen: 16,
			Origin: OriginManual, MAC: mac1, PCI: PCIAddress{Bus: 1, Device: 0, Function: 1},
		}},
		Targets: []Target{{
			Index: 0, Flags: FlagValid | FlagBootSelected | FlagTargetRADIUSCHAP,
			IP: netip.MustParseAddr("2001:db8::100"), Port: 3261, LUN: LUN{0x47, 0x52, 0x3a, 0x4f, 0x6b, 0x7e, 0x2f, 0x99},
			NIC: 0, Name: "iqn.2024-01.org.example:disk-a", CHAPType: CHAPMutual,
			CHAPName: "user", CHAPSecret: "secret-12chars", ReverseCHAPName: "target", ReverseCHAPSecret: "other-secret",
		}, {
			Index: 1, Flags: FlagValid, IP: netip.MustParseAddr("10.1.0.1"), Port: 3260, LUN: LUN{0, 1},
			NIC: 1, Name: "iqn.2024-01.org.example:disk-b", CHAPType: CHAPOneWay, CHAPName: "u\x00nul", CHAPSecret: "s",
		}},
	}
}

func TestRoundTripTableBytesTable(t *testing.T) {
	cases := map[string]*Table{
		"zero":                         {},
		"worked":                       workedExample(),
		"full":                         fullTable(),
		"nic only":                     {NICs: []NIC{{Index: 5, Hostname: "h"}}},
		"target only, swapped indexes": {Targets: []Target{{Index: 1, Name: "b"}, {Index: 0, Name: "a"}}},
		"initiator without name":       {Initiator: &Initiator{Flags: FlagValid}},
		"binary strings":               {Targets: []Target{{CHAPSecret: "\xff\x00\x01 é", Name: strings.Repeat("x", 1000)}}},
	}
	for name, tb := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := tb.MarshalBinary()
			require.NoError(t, err)
			assert.Zero(t, sum(b), "checksum")
			assert.Equal(t, uint32(len(b)), binary.LittleEndian.Uint32(b[4:]))
			got, err := Parse(b)
			require.NoError(t, err)
			if tb.NICs == nil {
				tb.NICs = nil
			}
			assert.Equal(t, tb, got)
			// bytes → Table → bytes is exact in our layout.
			again, err := got.MarshalBinary()
			require.NoError(t, err)
			assert.Equal(t, b, again)
		})
	}
}

func TestLayoutIsCompactAndAligned(t *testing.T) {
	b, err := fullTable().MarshalBinary()
	require.NoError(t, err)
	c := b[controlOff:]
	offs := []int{}
	for k := 0; k < 5; k++ {
		offs = append(offs, int(binary.LittleEndian.Uint16(c[8+2*k:])))
	}
	// initiator, NIC0, target0, NIC1, target1
	assert.Equal(t, []int{0x50, 0xa0, 0x180, 0x110, 0x1c0}, offs)
	for _, o := range offs {
		assert.Zero(t, o%16)
	}
	// Heap starts right after target 1 (0x1c0+54 → 0x200) with the initiator name.
	assert.Equal(t, uint16(0x200), binary.LittleEndian.Uint16(b[0x50+72:]))
	// Every string is NUL-terminated and its length excludes the NUL.
	tg := b[0x180:]
	n, off := binary.LittleEndian.Uint16(tg[34:]), binary.LittleEndian.Uint16(tg[36:])
	assert.Equal(t, "iqn.2024-01.org.example:disk-a", string(b[off:off+n]))
	assert.Zero(t, b[off+n])
	assert.Equal(t, "BIFT", string(b[:4]))
}

func TestMarshalRefusesWhatItCannotEncode(t *testing.T) {
	mac := net.HardwareAddr{1, 2, 3, 4, 5, 6}
	cases := map[string]struct {
		tb    Table
		field string
		err   error
	}{
		"three NICs":        {Table{NICs: make([]NIC, 3)}, "NICs", ErrInvalid},
		"three targets":     {Table{Targets: make([]Target, 3)}, "targets", ErrInvalid},
		"same NIC index":    {Table{NICs: []NIC{{}, {}}}, "NICs", ErrInvalid},
		"same target index": {Table{Targets: []Target{{Index: 1}, {Index: 1}}}, "targets", ErrInvalid},
		"long OEM ID":       {Table{OEMID: "1234567"}, "OEM ID", ErrInvalid},
		"long OEM table ID": {Table{OEMTableID: "123456789"}, "OEM table ID", ErrInvalid},
		"long creator":      {Table{CreatorID: "ABCDE"}, "creator ID", ErrInvalid},
		"trailing NUL":      {Table{OEMID: "AB\x00"}, "OEM ID", ErrInvalid},
		"bad signature":     {Table{Signature: 9}, "signature", ErrInvalid},
		"zone":              {Table{NICs: []NIC{{Gateway: netip.MustParseAddr("fe80::1%eth0")}}}, "NIC 0 gateway", ErrInvalid},
		"4in6":              {Table{Targets: []Target{{IP: netip.MustParseAddr("::ffff:1.2.3.4")}}}, "target 0 IP address", ErrInvalid},
		"unspecified v6":    {Table{Initiator: &Initiator{ISNSServer: netip.IPv6Unspecified()}}, "initiator iSNS server", ErrInvalid},
		"short MAC":         {Table{NICs: []NIC{{MAC: mac[:4]}}}, "NIC 0 MAC", ErrInvalid},
		"zero MAC":          {Table{NICs: []NIC{{MAC: make(net.HardwareAddr, 6)}}}, "NIC 0 MAC", ErrInvalid},
		"PCI device":        {Table{NICs: []NIC{{PCI: PCIAddress{Device: 32}}}}, "NIC 0 PCI address", ErrInvalid},
		"PCI function":      {Table{NICs: []NIC{{PCI: PCIAddress{Function: 8}}}}, "NIC 0 PCI address", ErrInvalid},
		"too large":         {Table{Targets: []Target{{Name: strings.Repeat("n", 0xffff)}}}, "", ErrTooLarge},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := c.tb.MarshalBinary()
			assert.Nil(t, b)
			require.ErrorIs(t, err, c.err)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, c.field, e.Field)
			assert.Equal(t, -1, e.Offset)
			assert.NotEmpty(t, e.Detail)
		})
	}
}

func TestMaxSizeFits(t *testing.T) {
	// header+control 66 → initiator none → target at 0x50 (54 bytes) → heap at 0x90.
	name := strings.Repeat("n", 0xffff-0x90-1)
	b, err := (&Table{Targets: []Target{{Name: name}}}).MarshalBinary()
	require.NoError(t, err)
	assert.Len(t, b, 0xffff)
	got, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, name, got.Targets[0].Name)
}

// corrupt returns the worked example after f changed it, with the checksum
// fixed unless keepSum.
func corrupt(t *testing.T, f func(b []byte) []byte) []byte {
	b := f(workedExampleBytes(t))
	if len(b) > 9 {
		b[9] = 0
		n := len(b)
		if len(b) >= 8 {
			if l := int(binary.LittleEndian.Uint32(b[4:])); l <= n {
				n = l
			}
		}
		b[9] = -sum(b[:n])
	}
	return b
}

func TestUnmarshalSaysWhatIsWrong(t *testing.T) {
	put16 := func(off int, v uint16) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint16(b[off:], v); return b }
	}
	cases := map[string]struct {
		b      []byte
		err    error
		offset int
		detail string
	}{
		"empty":            {nil, ErrShort, 0, "0 bytes"},
		"truncated":        {workedExampleBytes(t)[:0x190], ErrShort, 4, "declared length 406 but only 400 bytes given"},
		"signature":        {corrupt(t, func(b []byte) []byte { copy(b, "ABCD"); return b }), ErrSignature, 0, `"ABCD"`},
		"length too small": {corrupt(t, func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 40); return b }), ErrShort, 4, "declared length 40"},
		"revision":         {corrupt(t, func(b []byte) []byte { b[8] = 2; return b }), ErrRevision, 8, "revision 2"},
		"checksum": {func() []byte { b := workedExampleBytes(t); b[9]--; return b }(), ErrChecksum, 9,
			"sum to 0xff; checksum byte 0xb2 should be 0xb3"},
		"control id":         {corrupt(t, func(b []byte) []byte { b[48] = 2; return b }), ErrControl, 48, "id 2, length 18, index 0"},
		"control length":     {corrupt(t, put16(50, 20)), ErrControl, 48, "length 20"},
		"control index":      {corrupt(t, func(b []byte) []byte { b[52] = 1; return b }), ErrControl, 48, "index 1"},
		"NIC offset in hdr":  {corrupt(t, put16(58, 0x10)), ErrOffset, 58, "0x10 points into the ACPI header"},
		"NIC offset past":    {corrupt(t, put16(58, 0x193)), ErrOffset, 58, "0x193+6 runs past the table end 0x196"},
		"NIC offset 0xffff":  {corrupt(t, put16(58, 0xffff)), ErrOffset, 58, "0xffff+6"},
		"structure past end": {corrupt(t, put16(58, 0x150)), ErrStructure, 0x150, "structure id 105"},
		"duplicate":          {corrupt(t, put16(62, 0xa0)), ErrStructure, 62, "also the NIC 0 offset"},
		"wrong NIC length":   {corrupt(t, put16(0xa2, 100)), ErrStructure, 0xa2, "length 100; a NIC structure is 102 bytes"},
		"unknown id":         {corrupt(t, func(b []byte) []byte { b[0x110] = 5; return b }), ErrStructure, 0x110, "structure id 5 (extensions)"},
		"string past end":    {corrupt(t, put16(0x110+34, 0x1f)), ErrOffset, 0x110 + 34, "string 0x178+31 runs past the table end 0x196"},
		"string in header":   {corrupt(t, put16(0xa0+100, 0x20)), ErrOffset, 0xa0 + 98, "string of 7 bytes at 0x20 points into the ACPI header"},
		"string offset 0":    {corrupt(t, put16(0x50+72, 0)), ErrOffset, 0x50 + 70, "at 0x0"},
		"second initiator":   {corrupt(t, func(b []byte) []byte { copy(b[0x110:0x110+6], []byte{2, 1, 74, 0, 0, 3}); return b }), ErrStructure, 0x110, "second initiator structure (from the target 0 slot)"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var tb Table
			err := tb.UnmarshalBinary(c.b)
			require.ErrorIs(t, err, c.err)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, c.offset, e.Offset, "offset in %v", err)
			assert.Contains(t, err.Error(), c.detail)
			assert.Equal(t, Table{}, tb, "unchanged on error")
		})
	}
}

func TestLenientSkipsWhatLinuxSkips(t *testing.T) {
	// Target structure id changed to 5 (extensions): Linux skips it.
	b := corrupt(t, func(b []byte) []byte { b[0x110] = 5; return b })
	_, err := Parse(b)
	require.ErrorIs(t, err, ErrStructure)
	got, skipped, err := ParseLenient(b)
	require.NoError(t, err)
	require.Len(t, skipped, 1)
	assert.ErrorIs(t, skipped[0], ErrStructure)
	assert.Empty(t, got.Targets)
	assert.Len(t, got.NICs, 1)
	assert.Equal(t, "iqn.2024-01.org.example:client1", got.Initiator.Name)

	// A hostname past the end reads as empty; the NIC is kept.
	b = corrupt(t, func(b []byte) []byte { binary.LittleEndian.PutUint16(b[0x102:], 0x195); return b })
	got, skipped, err = ParseLenient(b)
	require.NoError(t, err)
	require.Len(t, skipped, 1)
	assert.Contains(t, skipped[0].Error(), "NIC 0 hostname")
	assert.Equal(t, "", got.NICs[0].Hostname)
	assert.Equal(t, netip.MustParseAddr("192.168.1.50"), got.NICs[0].IP)

	// Fatal defects stay fatal.
	b = workedExampleBytes(t)
	b[9] ^= 1
	_, _, err = ParseLenient(b)
	assert.ErrorIs(t, err, ErrChecksum)
}

func TestUnmarshalAcceptsOtherLayouts(t *testing.T) {
	// Structures in reverse order with gaps, strings shared and placed
	// before the structures, extra bytes after the declared length, IBFT
	// signature, mapped 0.0.0.0 and all-zero addresses.
	b := make([]byte, 0x210)
	copy(b, "IBFT")
	binary.LittleEndian.PutUint32(b[4:], 0x200)
	b[8] = 1
	copy(b[48:], []byte{1, 1, 18, 0, 0, 0})
	binary.LittleEndian.PutUint16(b[48+8:], 0x1b0)  // initiator last
	binary.LittleEndian.PutUint16(b[48+10:], 0x140) // NIC0
	binary.LittleEndian.PutUint16(b[48+12:], 0x100) // target0 first
	copy(b[0x60:], "iqn.x:shared\x00")
	copy(b[0x1b0:], []byte{2, 1, 74, 0, 0, 2})
	binary.LittleEndian.PutUint16(b[0x1b0+70:], 12)
	binary.LittleEndian.PutUint16(b[0x1b0+72:], 0x60)
	copy(b[0x140:], []byte{3, 1, 102, 0, 1, 1})
	copy(b[0x140+6:], []byte{10: 0xff, 11: 0xff}) // ::ffff:0.0.0.0
	copy(b[0x100:], []byte{4, 1, 54, 0, 0, 3})
	binary.LittleEndian.PutUint16(b[0x100+22:], 3260)
	b[0x100+33] = 1
	binary.LittleEndian.PutUint16(b[0x100+34:], 12)
	binary.LittleEndian.PutUint16(b[0x100+36:], 0x60)
	b[9] = -sum(b[:0x200])
	got, err := Parse(b)
	require.NoError(t, err)
	want := &Table{
		Signature: SignatureACPI,
		Initiator: &Initiator{Flags: FlagBootSelected, Name: "iqn.x:shared"},
		NICs:      []NIC{{Index: 1, Flags: FlagValid, IP: netip.MustParseAddr("0.0.0.0")}},
		Targets:   []Target{{Flags: FlagValid | FlagBootSelected, Port: 3260, NIC: 1, Name: "iqn.x:shared"}},
	}
	assert.Equal(t, want, got)
	tg, nic, ok := got.BootTarget()
	require.True(t, ok)
	assert.Same(t, &got.NICs[0], nic)
	assert.Equal(t, "iscsi:::::iqn.x:shared", tg.RootPath())
}

func TestUnmarshalInvalidArgumentsNeverPanic(t *testing.T) {
	b := workedExampleBytes(t)
	for n := 0; n < len(b); n++ {
		_, err := Parse(b[:n])
		require.Error(t, err, "prefix of %d bytes", n)
	}
	var e *Error
	_, err := Parse(b[:65])
	require.ErrorAs(t, err, &e)
	assert.True(t, errors.Is(err, ErrShort))
}

func TestLUN(t *testing.T) {
	cases := []struct {
		n    int
		lun  LUN
		text string
	}{
		{0, LUN{}, "0"},
		{1, LUN{0, 1}, "1"},
		{16, LUN{0, 0x10}, "10"},
		{255, LUN{0, 0xff}, "ff"},
		{256, LUN{0x41, 0x00}, "4100"},
		{300, LUN{0x41, 0x2c}, "412c"},
		{16383, LUN{0x7f, 0xff}, "7fff"},
	}
	for _, c := range cases {
		l, ok := LUNFromInt(c.n)
		require.True(t, ok)
		assert.Equal(t, c.lun, l)
		assert.Equal(t, c.text, l.String())
		n, ok := l.Int()
		require.True(t, ok)
		assert.Equal(t, c.n, n)
	}
	_, ok := LUNFromInt(16384)
	assert.False(t, ok)
	_, ok = LUNFromInt(-1)
	assert.False(t, ok)
	_, ok = LUN{0, 1, 0, 7}.Int()
	assert.False(t, ok)
	_, ok = LUN{1, 1}.Int() // bus 1
	assert.False(t, ok)
	assert.Equal(t, "1-7", LUN{0, 1, 0, 7}.String())
	assert.Equal(t, "4752-3a4f-6b7e-2f99", LUN{0x47, 0x52, 0x3a, 0x4f, 0x6b, 0x7e, 0x2f, 0x99}.String())
	assert.Equal(t, "0-0-0-1", LUN{7: 1}.String())
}

func TestRootPath(t *testing.T) {
	cases := []struct {
		tg   Target
		want string
	}{
		{Target{IP: netip.MustParseAddr("192.168.0.1"), Port: 3260, Name: "iqn.2000-04.uk.co.fensystems:iscsi-boot"},
			"iscsi:192.168.0.1::::iqn.2000-04.uk.co.fensystems:iscsi-boot"},
		{Target{IP: netip.MustParseAddr("10.0.0.5"), Port: 3260, LUN: LUN{0, 1, 0, 7}, Name: "iqn.2010-11.private:winsrvr2008"},
			"iscsi:10.0.0.5:::1-7:iqn.2010-11.private:winsrvr2008"},
		{Target{IP: netip.MustParseAddr("2001:db8::1"), Port: 3261, LUN: LUN{0, 1}, Name: "iqn.2024-01.org.example:d"},
			"iscsi:[2001:db8::1]::3261:1:iqn.2024-01.org.example:d"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.tg.RootPath())
	}
}

func TestPCIAddress(t *testing.T) {
	p := PCIAddress{Bus: 0, Device: 3, Function: 0}
	assert.Equal(t, uint16(0x0018), p.BDF())
	assert.Equal(t, "00:03.0", p.String())
	q := PCIAddress{Bus: 0x81, Device: 31, Function: 7}
	assert.Equal(t, uint16(0x81ff), q.BDF())
	assert.Equal(t, q, PCIAddressFromBDF(0x81ff))
	assert.Equal(t, "81:1f.7", q.String())
}

func TestValidate(t *testing.T) {
	assert.NoError(t, workedExample().Validate())
	err := (&Table{}).Validate()
	require.ErrorIs(t, err, ErrInvalid)
	for _, s := range []string{"initiator: invalid value: missing", "NICs: invalid value: none", "targets: invalid value: none"} {
		assert.Contains(t, err.Error(), s)
	}
	tb := workedExample()
	tb.Targets[0].Port = 0
	tb.Targets[0].NIC = 1
	tb.Targets[0].CHAPType = CHAPOneWay
	tb.Targets[0].Flags = FlagValid
	tb.NICs[0].MAC = nil
	tb.Initiator.Name = strings.Repeat("a", 224)
	tb.NICs[0].PrefixLen = 33
	err = tb.Validate()
	for _, s := range []string{"target 0 port", "target 0 NIC: invalid value: index 1", "target 0 CHAP: invalid value: one-way CHAP",
		"targets: invalid value: none has FlagBootSelected", "NIC 0 MAC", "initiator name: invalid value: 224 bytes",
		"NIC 0 prefix length: invalid value: /33 is longer than the 32-bit address"} {
		assert.Contains(t, err.Error(), s)
	}
}
