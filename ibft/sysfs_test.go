package ibft

import (
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// linuxSysfsView renders tb the way Linux's iscsi_ibft driver shows it
// under /sys/firmware/ibft (ibft.md §7): which attributes exist and their
// exact bytes. The kernel test checks this model against the real driver.
func linuxSysfsView(tb *Table) map[string]string {
	m := map[string]string{}
	notNull := func(a netip.Addr) bool { return a.IsValid() && !(a.Is4() && a.IsUnspecified()) }
	ip := func(a netip.Addr) string {
		if !a.IsValid() {
			a = netip.IPv6Unspecified()
		}
		if a.Is4() {
			return a.String() + "\n"
		}
		b := a.As16()
		var g []string
		for i := 0; i < 16; i += 2 {
			g = append(g, fmt.Sprintf("%02x%02x", b[i], b[i+1]))
		}
		return strings.Join(g, ":") + "\n"
	}
	cstr := func(s string, n int) string { // "%.*s\n"
		if len(s) > n {
			s = s[:n]
		}
		if i := strings.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		return s + "\n"
	}
	str := func(s string) string { return cstr(s, len(s)) }
	m["acpi_header/signature"] = tb.Signature.String() + "\n"
	m["acpi_header/oem_id"] = cstr(tb.OEMID, 6)
	m["acpi_header/oem_table_id"] = cstr(tb.OEMTableID, 8)
	if ini := tb.Initiator; ini != nil {
		m["initiator/index"] = "0\n"
		m["initiator/flags"] = fmt.Sprintf("%d\n", ini.Flags)
		for name, a := range map[string]netip.Addr{"isns-server": ini.ISNSServer, "slp-server": ini.SLPServer,
			"pri-radius-server": ini.PrimaryRADIUS, "sec-radius-server": ini.SecondaryRADIUS} {
			if notNull(a) {
				m["initiator/"+name] = ip(a)
			}
		}
		if ini.Name != "" {
			m["initiator/initiator-name"] = str(ini.Name)
		}
	}
	for _, n := range tb.NICs {
		d := fmt.Sprintf("ethernet%d/", n.Index)
		m[d+"index"] = fmt.Sprintf("%d\n", n.Index)
		m[d+"flags"] = fmt.Sprintf("%d\n", n.Flags)
		m[d+"origin"] = fmt.Sprintf("%d\n", n.Origin)
		m[d+"vlan"] = fmt.Sprintf("%d\n", n.VLAN)
		mac := make([]byte, 6)
		copy(mac, n.MAC)
		m[d+"mac"] = fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x\n", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
		for name, a := range map[string]netip.Addr{"ip-addr": n.IP, "gateway": n.Gateway, "primary-dns": n.PrimaryDNS,
			"secondary-dns": n.SecondaryDNS, "dhcp": n.DHCPServer} {
			if notNull(a) {
				m[d+name] = ip(a)
			}
		}
		if n.PrefixLen != 0 {
			m[d+"prefix-len"] = fmt.Sprintf("%d\n", n.PrefixLen)
			// ~((1 << (32-p)) - 1): above /32 the C shift count is
			// negative; x86 masks it to 5 bits (a /64 shows as
			// 255.255.255.255, seen in the kernel test).
			mask := ^(uint32(1)<<((32-int(n.PrefixLen))&31) - 1)
			m[d+"subnet-mask"] = fmt.Sprintf("%d.%d.%d.%d", mask>>24, mask>>16&0xff, mask>>8&0xff, mask&0xff)
		}
		if n.Hostname != "" {
			m[d+"hostname"] = str(n.Hostname)
		}
	}
	for _, tg := range tb.Targets {
		d := fmt.Sprintf("target%d/", tg.Index)
		m[d+"index"] = fmt.Sprintf("%d\n", tg.Index)
		m[d+"flags"] = fmt.Sprintf("%d\n", tg.Flags)
		m[d+"ip-addr"] = ip(tg.IP)
		m[d+"port"] = fmt.Sprintf("%d\n", tg.Port)
		lun := ""
		for _, b := range tg.LUN {
			lun += fmt.Sprintf("%x", b)
		}
		m[d+"lun"] = lun + "\n"
		m[d+"nic-assoc"] = fmt.Sprintf("%d\n", tg.NIC)
		m[d+"chap-type"] = fmt.Sprintf("%d\n", tg.CHAPType)
		if tg.Name != "" {
			m[d+"target-name"] = str(tg.Name)
		}
		if tg.CHAPName != "" {
			m[d+"chap-name"] = str(tg.CHAPName)
			m[d+"chap-secret"] = str(tg.CHAPSecret)
		}
		if tg.ReverseCHAPName != "" {
			m[d+"rev-chap-name"] = str(tg.ReverseCHAPName)
			m[d+"rev-chap-name-secret"] = str(tg.ReverseCHAPSecret)
		}
	}
	return m
}

// sysfsVisible is what ReadSysfs can recover of tb: the fields sysfs
// shows, as it shows them.
func sysfsVisible(tb *Table) *Table {
	v := &Table{Signature: tb.Signature, OEMID: cut(tb.OEMID), OEMTableID: cut(tb.OEMTableID)}
	null := func(a netip.Addr) netip.Addr {
		if a.Is4() && a.IsUnspecified() {
			return netip.Addr{}
		}
		return a
	}
	if ini := tb.Initiator; ini != nil {
		v.Initiator = &Initiator{Flags: ini.Flags, Name: cut(ini.Name), ISNSServer: null(ini.ISNSServer),
			SLPServer: null(ini.SLPServer), PrimaryRADIUS: null(ini.PrimaryRADIUS), SecondaryRADIUS: null(ini.SecondaryRADIUS)}
	}
	for _, n := range tb.NICs {
		n.IP, n.Gateway, n.PrimaryDNS, n.SecondaryDNS, n.DHCPServer =
			null(n.IP), null(n.Gateway), null(n.PrimaryDNS), null(n.SecondaryDNS), null(n.DHCPServer)
		n.Hostname = cut(n.Hostname)
		n.PCI = PCIAddress{}
		v.NICs = append(v.NICs, n)
	}
	for _, tg := range tb.Targets {
		tg.Name = cut(tg.Name)
		if tg.CHAPName == "" {
			tg.CHAPSecret = ""
		}
		if tg.ReverseCHAPName == "" {
			tg.ReverseCHAPSecret = ""
		}
		tg.CHAPName, tg.CHAPSecret = cut(tg.CHAPName), cut(tg.CHAPSecret)
		tg.ReverseCHAPName, tg.ReverseCHAPSecret = cut(tg.ReverseCHAPName), cut(tg.ReverseCHAPSecret)
		v.Targets = append(v.Targets, tg)
	}
	return v
}

func cut(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: []byte(data), Mode: 0o400}
	}
	return m
}

// TestReadSysfsWorkedExample feeds the Linux view of the spec's worked
// example written out by hand from ibft.md §9, quirks included.
func TestReadSysfsWorkedExample(t *testing.T) {
	fsys := mapFS(map[string]string{
		"acpi_header/signature":    "iBFT\n",
		"acpi_header/oem_id":       "GONETB\n",
		"acpi_header/oem_table_id": "NETBOOT \n",
		"initiator/index":          "0\n",
		"initiator/flags":          "3\n",
		"initiator/initiator-name": "iqn.2024-01.org.example:client1\n",
		"ethernet0/index":          "0\n",
		"ethernet0/flags":          "3\n",
		"ethernet0/ip-addr":        "192.168.1.50\n",
		"ethernet0/prefix-len":     "24\n",
		"ethernet0/subnet-mask":    "255.255.255.0",
		"ethernet0/origin":         "3\n",
		"ethernet0/gateway":        "192.168.1.1\n",
		"ethernet0/primary-dns":    "192.168.1.1\n",
		"ethernet0/dhcp":           "192.168.1.1\n",
		"ethernet0/vlan":           "0\n",
		"ethernet0/mac":            "52:54:00:12:34:56\n",
		"ethernet0/hostname":       "client1\n",
		"target0/index":            "0\n",
		"target0/flags":            "3\n",
		"target0/ip-addr":          "192.168.1.10\n",
		"target0/port":             "3260\n",
		"target0/lun":              "00000000\n",
		"target0/nic-assoc":        "0\n",
		"target0/chap-type":        "0\n",
		"target0/target-name":      "iqn.2024-01.org.example:disk1\n",
	})
	fsys["ethernet0/device"] = &fstest.MapFile{Data: []byte("../../../devices/pci0000:00/0000:00:03.0"), Mode: fs.ModeSymlink}
	assert.Equal(t, linuxSysfsView(workedExample()), func() map[string]string {
		m := map[string]string{}
		for k, f := range fsys {
			if f.Mode&fs.ModeSymlink == 0 {
				m[k] = string(f.Data)
			}
		}
		return m
	}(), "the model of Linux's view agrees with the hand-written one")

	got, err := ReadSysfs(fsys)
	require.NoError(t, err)
	want := workedExample()
	want.OEMRevision = 0 // not shown in sysfs
	assert.Equal(t, want, got)
	tg, _, ok := got.BootTarget()
	require.True(t, ok)
	assert.Equal(t, "iscsi:192.168.1.10::::iqn.2024-01.org.example:disk1", tg.RootPath())
}

func TestReadSysfsModelRoundTrip(t *testing.T) {
	for name, tb := range map[string]*Table{"worked": workedExample(), "full": fullTable(), "empty": {}} {
		t.Run(name, func(t *testing.T) {
			got, err := ReadSysfs(mapFS(linuxSysfsView(tb)))
			require.NoError(t, err)
			assert.Equal(t, sysfsVisible(tb), got)
		})
	}
}

func TestReadSysfsIPv6AndQuirks(t *testing.T) {
	got, err := ReadSysfs(mapFS(map[string]string{
		"ethernet1/index":       "1\n",
		"ethernet1/flags":       "7\n",
		"ethernet1/ip-addr":     "2001:0db8:0000:0000:0000:0000:0000:0010\n",
		"ethernet1/subnet-mask": "255.255.0.0", // no prefix-len: derive it
		"ethernet1/mac":         "00:00:00:00:00:00\n",
		"target0/ip-addr":       "0000:0000:0000:0000:0000:0000:0000:0000\n",
		"target0/lun":           "010000000\n",
		"target1/lun":           "411000000\n",
		"target1/index":         "1\n",
	}))
	require.NoError(t, err)
	require.Len(t, got.NICs, 1)
	assert.Equal(t, NIC{Index: 1, Flags: 7, IP: netip.MustParseAddr("2001:db8::10"), PrefixLen: 16}, got.NICs[0])
	require.Len(t, got.Targets, 2)
	assert.False(t, got.Targets[0].IP.IsValid(), "all-zero target address is no address")
	assert.Equal(t, LUN{0, 0x10}, got.Targets[0].LUN, "LUN 16")
	assert.Equal(t, LUN{0x41, 0x01}, got.Targets[1].LUN, "flat LUN 257")
	assert.Nil(t, got.Initiator)
}

func TestParseSysfsLUN(t *testing.T) {
	for n := 0; n < 1<<14; n++ {
		l, _ := LUNFromInt(n)
		s := ""
		for _, b := range l {
			s += fmt.Sprintf("%x", b)
		}
		got, ok := parseSysfsLUN(s)
		require.True(t, ok, s)
		require.Equal(t, l, got, "LUN %d printed as %q", n, s)
	}
	for _, bad := range []string{"", "0000000", "00000000000000000", "0000000g", "00000001x"} {
		_, ok := parseSysfsLUN(bad)
		assert.False(t, ok, bad)
	}
	got, ok := parseSysfsLUN("ffffffffffffffff")
	require.True(t, ok)
	assert.Equal(t, LUN{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, got)
}

func TestReadSysfsErrors(t *testing.T) {
	_, err := ReadSysfs(fstest.MapFS{})
	require.NoError(t, err, "an empty directory is an empty table")

	missing, err := fs.Sub(mapFS(map[string]string{"x": ""}), "missing")
	require.NoError(t, err)
	_, err = ReadSysfs(missing)
	require.ErrorIs(t, err, fs.ErrNotExist)

	for path, data := range map[string]string{
		"ethernet0/mac":         "52:54:00\n",
		"ethernet0/vlan":        "70000\n",
		"ethernet0/ip-addr":     "192.168.1\n",
		"ethernet0/subnet-mask": "ffff",
		"target0/lun":           "0\n",
		"target0/port":          "-1\n",
		"acpi_header/signature": "ABCD\n",
	} {
		_, err := ReadSysfs(mapFS(map[string]string{path: data}))
		require.ErrorIs(t, err, ErrSysfs, path)
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, path, e.Field)
	}
	three := map[string]string{"target0/index": "0\n", "target1/index": "1\n", "target2/index": "2\n"}
	_, err = ReadSysfs(mapFS(three))
	assert.ErrorIs(t, err, ErrSysfs)
}
