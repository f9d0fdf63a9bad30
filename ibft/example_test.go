package ibft_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing/fstest"

	"github.com/netbootkit/netboot/ibft"
)

// Build the table a bootloader leaves for the OS after booting from an
// iSCSI target.
func ExampleTable_MarshalBinary() {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	lun, _ := ibft.LUNFromInt(1)
	t := ibft.Table{
		OEMID:      "GONETB",
		OEMTableID: "NETBOOT",
		Initiator: &ibft.Initiator{
			Flags: ibft.FlagValid | ibft.FlagBootSelected,
			Name:  "iqn.2024-01.org.example:client1",
		},
		NICs: []ibft.NIC{{
			Flags:     ibft.FlagValid | ibft.FlagBootSelected,
			IP:        netip.MustParseAddr("192.168.1.50"),
			PrefixLen: 24,
			Origin:    ibft.OriginDHCP,
			Gateway:   netip.MustParseAddr("192.168.1.1"),
			MAC:       mac,
			PCI:       ibft.PCIAddress{Bus: 0, Device: 3, Function: 0},
		}},
		Targets: []ibft.Target{{
			Flags: ibft.FlagValid | ibft.FlagBootSelected,
			IP:    netip.MustParseAddr("192.168.1.10"),
			Port:  ibft.DefaultPort,
			LUN:   lun,
			Name:  "iqn.2024-01.org.example:disk1",
		}},
	}
	if err := t.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	b, err := t.MarshalBinary()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s, %d bytes, revision %d, checksum %#02x\n", b[:4], len(b), b[8], b[9])
	fmt.Println(t.Targets[0].RootPath())
	// Output:
	// iBFT, 398 bytes, revision 1, checksum 0xdb
	// iscsi:192.168.1.10:::1:iqn.2024-01.org.example:disk1
}

// Decode a table, e.g. /sys/firmware/acpi/tables/iBFT, and see precisely
// what is wrong with a damaged one.
func ExampleParse() {
	t := ibft.Table{Targets: []ibft.Target{{Port: 3260, Name: "iqn.2024-01.org.example:disk1"}}}
	b, _ := t.MarshalBinary()

	got, err := ibft.Parse(b)
	fmt.Println(got.Targets[0].Name, err)

	b[0x50+36] = 0xf0 // move the target name's offset past the end
	b[9] -= 0xf0 - 0x90
	_, err = ibft.Parse(b)
	fmt.Println(errors.Is(err, ibft.ErrOffset))
	fmt.Println(err)
	// Output:
	// iqn.2024-01.org.example:disk1 <nil>
	// true
	// ibft: offset 0x72: target 0 name: offset out of bounds: string 0xf0+29 runs past the table end 0xae
}

// An initramfs tool finds its root disk in what the kernel shows. In
// production the file system is os.DirFS(ibft.SysfsDir).
func ExampleReadSysfs() {
	sysfs := fstest.MapFS{
		"initiator/initiator-name": {Data: []byte("iqn.2024-01.org.example:client1\n")},
		"ethernet0/flags":          {Data: []byte("3\n")},
		"ethernet0/mac":            {Data: []byte("52:54:00:12:34:56\n")},
		"ethernet0/ip-addr":        {Data: []byte("192.168.1.50\n")},
		"ethernet0/prefix-len":     {Data: []byte("24\n")},
		"ethernet0/subnet-mask":    {Data: []byte("255.255.255.0")},
		"target0/flags":            {Data: []byte("3\n")},
		"target0/ip-addr":          {Data: []byte("192.168.1.10\n")},
		"target0/port":             {Data: []byte("3260\n")},
		"target0/lun":              {Data: []byte("01000000\n")},
		"target0/nic-assoc":        {Data: []byte("0\n")},
		"target0/target-name":      {Data: []byte("iqn.2024-01.org.example:disk1\n")},
	}
	t, err := ibft.ReadSysfs(sysfs)
	if err != nil {
		fmt.Println(err)
		return
	}
	target, nic, ok := t.BootTarget()
	if !ok {
		fmt.Println("no boot target")
		return
	}
	fmt.Println(t.Initiator.Name)
	fmt.Println(nic.MAC, nic.Prefix())
	fmt.Println(target.RootPath())
	// Output:
	// iqn.2024-01.org.example:client1
	// 52:54:00:12:34:56 192.168.1.50/24
	// iscsi:192.168.1.10:::1:iqn.2024-01.org.example:disk1
}
