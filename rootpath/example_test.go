package rootpath_test

import (
	"errors"
	"fmt"

	"github.com/netbootkit/netboot/rootpath"
)

// Parse whatever arrived in DHCP option 17 and act on its type.
func ExampleParse() {
	for _, s := range []string{
		"iscsi:10.0.0.5:::1-7:iqn.2010-11.private:winsrvr2008",
		"aoe:e1.10",
		"https://[2001:db8::1]:8443/disk.img",
		"10.0.0.1:/srv/nfsroot/client1,vers=3,tcp",
	} {
		rp, err := rootpath.Parse(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		switch v := rp.(type) {
		case *rootpath.ISCSI:
			fmt.Printf("iSCSI %s LUN %s target %s\n", v.Address(), v.LUN, v.Target)
		case *rootpath.AoE:
			fmt.Printf("AoE shelf %d slot %d\n", v.Shelf, v.Slot)
		case *rootpath.HTTP:
			fmt.Printf("HTTP SAN %s on %s\n", v.URL.Path, v.URL.Host)
		case *rootpath.NFS:
			fmt.Printf("NFS %s:%s options %q\n", v.Server, v.Path, v.Options)
		}
	}
	// Output:
	// iSCSI 10.0.0.5:3260 LUN 1-7 target iqn.2010-11.private:winsrvr2008
	// AoE shelf 1 slot 10
	// HTTP SAN /disk.img on [2001:db8::1]:8443
	// NFS 10.0.0.1:/srv/nfsroot/client1 options ["vers=3" "tcp"]
}

// Errors name the field and wrap a sentinel reason.
func ExampleParse_errors() {
	_, err := rootpath.Parse("iscsi:10.0.0.1::0::iqn.2001-04.com.example:disk")
	var perr *rootpath.Error
	if errors.As(err, &perr) {
		fmt.Println(perr.Field, errors.Is(err, rootpath.ErrRange))
	}

	_, err = rootpath.Parse("fcoe:eth0")
	fmt.Println(err)
	// Output:
	// port true
	// rootpath: "fcoe:eth0": scheme "fcoe": unsupported: fcoe: is not a URI scheme: FCoE is a transport; iPXE boots FC disks with fcp:<wwn>:<lun>, Linux sets up FCoE with dracut's fcoe=<if|MAC>:{dcb|nodcb}
}

// Build a root path for DHCP option 17 or an iPXE sanboot line.
func ExampleISCSI_String() {
	lun, _ := rootpath.IntLUN(1)
	v := &rootpath.ISCSI{
		Server: "2001:db8::10",
		LUN:    lun,
		Target: "iqn.2024-01.org.example:disk1",
	}
	if err := v.Validate(); err != nil {
		panic(err)
	}
	fmt.Println(v)
	fmt.Println("sanboot " + v.String())
	// Output:
	// iscsi:[2001:db8::10]:::1:iqn.2024-01.org.example:disk1
	// sanboot iscsi:[2001:db8::10]:::1:iqn.2024-01.org.example:disk1
}

// Defaults are filled in when parsing and left out when printing.
func ExampleParseISCSI() {
	v, err := rootpath.ParseISCSI("iscsi:10.0.0.1:6:3260:0:IQN.2001-04.com.Example:Disk")
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Protocol, v.Port, v.LUN, v.Target)
	fmt.Println(v)
	// Output:
	// 6 3260 0 iqn.2001-04.com.example:disk
	// iscsi:10.0.0.1::::iqn.2001-04.com.example:disk
}

// The LUN field is hex and maps onto the 8-byte SAM LUN.
func ExampleParseLUN() {
	for _, s := range []string{"10", "412c", "1-7"} {
		l, _ := rootpath.ParseLUN(s)
		n, small := l.Int()
		fmt.Printf("%-5s % x  int=%d,%v linux=%d\n", s, l[:], n, small, l.Linux())
	}
	// Output:
	// 10    00 10 00 00 00 00 00 00  int=16,true linux=16
	// 412c  41 2c 00 00 00 00 00 00  int=300,true linux=16684
	// 1-7   00 01 00 07 00 00 00 00  int=0,false linux=458753
}

func ExampleNormalizeName() {
	n, err := rootpath.NormalizeName("EUI.02004567A425678D")
	fmt.Println(n, err)

	_, err = rootpath.NormalizeName("iqn.2016-09.com.example:disk_1")
	fmt.Println(err)

	lenient := rootpath.Parser{LenientNames: true}
	n, err = lenient.NormalizeName("iqn.2016-09.com.example:disk_1")
	fmt.Println(n, err)
	// Output:
	// eui.02004567a425678d <nil>
	// rootpath: "iqn.2016-09.com.example:disk_1": invalid syntax: character '_' is prohibited by RFC 3722 (allowed: a-z 0-9 - . :)
	// iqn.2016-09.com.example:disk_1 <nil>
}

// An initramfs reads root=/netroot= with ParseDracut: credentials,
// interface and a decimal Linux LUN.
func ExampleParseDracut() {
	rp, err := rootpath.ParseDracut("iscsi:user:secret@192.168.50.1::3260:iface0:eth0:1:iqn.2009-06.dracut:target0")
	if err != nil {
		panic(err)
	}
	v := rp.(*rootpath.DracutISCSI)
	fmt.Println(v.Username, v.Server, v.Iface, v.Netdev, v.LUN.Linux(), v.Target)
	// Output:
	// user 192.168.50.1 iface0 eth0 1 iqn.2009-06.dracut:target0
}

// The kernel's nfsroot= has its own rules: no host names, relative paths
// live under /tftpboot.
func ExampleParseNFSRoot() {
	v, _ := rootpath.ParseNFSRoot("client1,vers=3")
	fmt.Println(v.Path, v.Options)

	_, err := rootpath.ParseNFSRoot("nfs.example:/srv/root")
	fmt.Println(errors.Is(err, rootpath.ErrUnsupported))
	// Output:
	// /tftpboot/client1 [vers=3]
	// true
}

// iPXE attaches only SAN paths; it ignores NFS root paths.
func ExampleIsSAN() {
	for _, s := range []string{"aoe:e0.1", "nfs:10.0.0.1:/srv/root"} {
		rp, _ := rootpath.Parse(s)
		fmt.Println(s, rootpath.IsSAN(rp))
	}
	// Output:
	// aoe:e0.1 true
	// nfs:10.0.0.1:/srv/root false
}
