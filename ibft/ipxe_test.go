package ibft

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ipxeFixture builds, byte by byte and without this package's encoder, the
// table Debian's iPXE (git 36a4c85, 2019-01; src/drivers/block/ibft.c
// ibft_install and src/arch/x86/interface/pcbios/int13.c int13_install)
// would leave for `sanboot` of one CHAP-protected target over QEMU user
// networking: iPXE's fixed-slot layout with two NIC and two target slots
// reserved (control 0x30, initiator 0x50, NICs 0xa0/0x110, targets
// 0x180/0x1c0, strings 0x200), only the first of each filled, strings in
// the order initiator name, NIC host name, target name, CHAP name, CHAP
// secret, each followed by a NUL, OEM fields set by int13_install.
//
// It is hand-built from iPXE's source; TestIPXESanbootGolden shows that the
// same builder reproduces a table dumped from a running iPXE byte for byte.
func ipxeFixture(tb testing.TB) []byte {
	return ipxeFixtureFrom(ipxeParams{
		initiator:  "iqn.2010-04.org.ipxe:client", // iPXE's default from the hostname
		hostname:   "client",                      // DHCP option 12
		target:     "iqn.2026-11.org.netbootkit:fixture",
		chapName:   "ipxeuser",
		chapSecret: "ipxesecret12",
		ip:         [4]byte{10, 0, 2, 15},
		gateway:    [4]byte{10, 0, 2, 2},
		dns:        [4]byte{10, 0, 2, 3},
		dhcp:       [4]byte{10, 0, 2, 2},
		targetIP:   [4]byte{10, 0, 2, 100},
	})
}

// ipxeParams are what iPXE puts into its table.
type ipxeParams struct {
	initiator, hostname, target, chapName, chapSecret string
	reverseName, reverseSecret                        string // mutual CHAP when set
	ip, gateway, dns, dhcp, targetIP                  [4]byte
}

func ipxeFixtureFrom(p ipxeParams) []byte {
	strs := []string{p.initiator, p.hostname, p.target, p.chapName, p.chapSecret}
	if p.reverseName != "" {
		strs = append(strs, p.reverseName, p.reverseSecret)
	}
	const stringsOff = 0x200
	n := stringsOff
	offs := make([]int, len(strs))
	for i, s := range strs {
		offs[i] = n
		n += len(s) + 1
	}
	b := make([]byte, n)
	le := binary.LittleEndian
	copy(b, "iBFT")
	le.PutUint32(b[4:], uint32(n))
	b[8] = 1
	copy(b[10:], "FENSYS")
	copy(b[16:], "iPXE")
	// Control: header, extensions 0, initiator, pair[0] = {nic, target}.
	copy(b[0x30:], []byte{1, 1, 18, 0, 0, 0})
	le.PutUint16(b[0x30+8:], 0x50)
	le.PutUint16(b[0x30+10:], 0xa0)
	le.PutUint16(b[0x30+12:], 0x180)
	str := func(at, i int) {
		le.PutUint16(b[at:], uint16(len(strs[i])))
		le.PutUint16(b[at+2:], uint16(offs[i]))
	}
	mapped := func(at int, a [4]byte) {
		if a == [4]byte{} {
			return // iPXE's ibft_set_ipaddr: 0.0.0.0 is 16 zero bytes
		}
		b[at+10], b[at+11] = 0xff, 0xff
		copy(b[at+12:], a[:])
	}
	// Initiator.
	copy(b[0x50:], []byte{2, 1, 74, 0, 0, 3})
	str(0x50+70, 0)
	// NIC 0.
	nic := 0xa0
	copy(b[nic:], []byte{3, 1, 102, 0, 0, 3})
	mapped(nic+6, p.ip)
	b[nic+22] = 24 // prefix from netmask 255.255.255.0
	b[nic+23] = 3  // origin DHCP
	mapped(nic+24, p.gateway)
	mapped(nic+40, p.dns)
	mapped(nic+72, p.dhcp)
	copy(b[nic+90:], []byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56})
	le.PutUint16(b[nic+96:], 0x0018) // 00:03.0
	str(nic+98, 1)
	// Target 0.
	tg := 0x180
	copy(b[tg:], []byte{4, 1, 54, 0, 0, 3})
	mapped(tg+6, p.targetIP)
	le.PutUint16(b[tg+22:], 3260)
	b[tg+25] = 1 // LUN 1: 00 01 00 00 00 00 00 00
	b[tg+32] = 1 // one-way CHAP
	if p.reverseName != "" {
		b[tg+32] = 2 // mutual CHAP
		str(tg+46, 5)
		str(tg+50, 6)
	}
	b[tg+33] = 0
	str(tg+34, 2)
	str(tg+38, 3)
	str(tg+42, 4)
	for i, s := range strs {
		copy(b[offs[i]:], s)
	}
	b[9] = -sum(b)
	return b
}

func ipxeFixtureTable() *Table {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	return &Table{
		OEMID:      "FENSYS",
		OEMTableID: "iPXE",
		Initiator:  &Initiator{Flags: FlagValid | FlagBootSelected, Name: "iqn.2010-04.org.ipxe:client"},
		NICs: []NIC{{
			Flags: FlagValid | FlagBootSelected, IP: netip.MustParseAddr("10.0.2.15"), PrefixLen: 24, Origin: OriginDHCP,
			Gateway: netip.MustParseAddr("10.0.2.2"), PrimaryDNS: netip.MustParseAddr("10.0.2.3"),
			DHCPServer: netip.MustParseAddr("10.0.2.2"), MAC: mac, PCI: PCIAddress{Device: 3}, Hostname: "client",
		}},
		Targets: []Target{{
			Flags: FlagValid | FlagBootSelected, IP: netip.MustParseAddr("10.0.2.100"), Port: 3260, LUN: LUN{0, 1},
			Name: "iqn.2026-11.org.netbootkit:fixture", CHAPType: CHAPOneWay, CHAPName: "ipxeuser", CHAPSecret: "ipxesecret12",
		}},
	}
}

func TestIPXEFixedSlotLayout(t *testing.T) {
	b := ipxeFixture(t)
	got, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, ipxeFixtureTable(), got)
	assert.NoError(t, got.Validate())

	tg, nic, ok := got.BootTarget()
	require.True(t, ok)
	assert.Equal(t, "iscsi:10.0.2.100:::1:iqn.2026-11.org.netbootkit:fixture", tg.RootPath())
	assert.Equal(t, "00:03.0", nic.PCI.String())

	// Re-encoded into our compact layout: same values, different bytes.
	ours, err := got.MarshalBinary()
	require.NoError(t, err)
	assert.NotEqual(t, b, ours)
	assert.Less(t, len(ours), len(b))
	assert.Equal(t, uint16(0x110), binary.LittleEndian.Uint16(ours[0x30+12:]), "target right after the NIC")
	back, err := Parse(ours)
	require.NoError(t, err)
	assert.Equal(t, got, back)
}
