package rootpath

import (
	"reflect"
	"strings"
	"testing"
)

// seeds shared by the fuzz targets: every spec vector plus a few edge cases.
var fuzzSeeds = []string{
	"iscsi:192.168.0.1::::iqn.2000-04.uk.co.fensystems:iscsi-boot",
	"iscsi:192.168.0.1:::1:iqn.2000-04.uk.co.fensystems:iscsi-boot",
	"iscsi:iscsi.example.com::::iqn.1991-05.com.microsoft:snubfin-msdos622-target",
	"iscsi:10.0.0.5:::1-7:iqn.2010-11.private:winsrvr2008",
	"iscsi:10.0.0.1:6:3260:0:iqn.2001-04.com.example:disk",
	"iscsi:[2001:db8::1]::3261::iqn.2001-04.com.example:disk",
	"iscsi:10.0.0.1::::iqn.2001-04.com.example:storage:diskarrays-sn-a8675309",
	"iscsi:10.0.0.1:::4752-3A4F-6b7e-2F99:iqn.2001-04.com.example:d",
	"iscsi:10.0.0.1:::6734-9-156f-127:iqn.2001-04.com.example:d",
	"iscsi:10.0.0.1:::10:iqn.2001-04.com.example:d",
	"iscsi:10.0.0.1::::eui.02004567A425678D",
	"iscsi:10.0.0.1::::naa.52004567BA64678D",
	"iscsi:::::iqn.2001-04.com.example:d",
	"iscsi:10.0.0.1:::iqn.2001-04.com.example:d",
	"iscsi:10.0.0.1::iqn.2001-04.com.example",
	"iscsi:10.0.0.1:17:::iqn.2001-04.com.example:d",
	"iscsi:10.0.0.1::0::iqn.2001-04.com.example:d",
	"iscsi:10.0.0.1::65536::iqn.2001-04.com.example:d",
	"iscsi:10.0.0.1:::1-2-3-4-5:iqn.2001-04.com.example:d",
	"iscsi:10.0.0.1:::12345:iqn.2001-04.com.example:d",
	"iscsi:10.0.0.1:::1--2:iqn.2001-04.com.example:d",
	"iscsi:10.0.0.1:::0x1:iqn.2001-04.com.example:d",
	"iscsi:[2001:db8::1::::iqn.2001-04.com.example:d",
	"iscsi:10.0.0.1::::",
	"iscsi:10.0.0.1::::iqn.2001-04.com.example:disk_1",
	"iscsi:10.0.0.1::::iqn.2001-13.com.example",
	"iscsi:10.0.0.1::::eui.02004567A425678",
	"iscsi:user:secret@10.0.0.1::::iqn.2009-06.dracut:target0",
	"iscsi:user:secret:in:pw@[2001:db8::1]::3261:iface0:eth0:300:iqn.2009-06.dracut:target0",
	"iscsi:@10.0.0.1::::iqn.2009-06.dracut:t@rget",
	"iscsi:192.168.50.1::3260:iface0:eth0:1:iqn.2009-06.dracut:target0",
	"iscsi:10.0.0.1::::iqn.2001-04.com.example:d\x00",
	"aoe:e0.0", "aoe:e1.10", "aoe:e1", "aoe:0.1", "aoe://e1.1", "aoe:e65536.0", "aoe:e1.256",
	"http://10.0.0.1/images/win10.iso",
	"https://[2001:db8::1]:8443/disk.img",
	"http:///disk.img",
	"https://user:pw@san.example.com/a%20b/disk.img?x=1",
	"fcp:10:00:00:00:c9:12:34:56:0",
	"fcp://10:00:00:00:c9:12:34:56/1-2",
	"fcoe:eth0",
	"ib_srp::::fe800000000000000002c90300000001:ffff:0002c90300000002:0:0002c90300000003:0002c90300000004",
	"10.0.0.1:/srv/nfsroot/client1,vers=3,tcp",
	"/srv/root",
	"client1",
	"nfs.example:/srv/root",
	"nfs:[2001:db8::1]:/srv/root:vers=4.2",
	"nfs4:10.0.0.1:/srv/root",
	"nfs:nfs.example.com:/srv/root,vers=3:x",
	"10.0.0.1:/srv/%s",
	"10.0.0.1",
	",vers=3",
	"default,tcp",
	"[2001:db8::1]:/srv/root:vers=4",
	"dhcp", "dhcp6", "/dev/nfs",
	"nbd:10.0.0.1:10809", "nbd:[2001:db8::1]:rootfs:ext4:ro,noatime:timeout=30", "nbd:10.0.0.1:10809:::persist", "nbd:h:ext4:ext4",
	" iscsi:10.0.0.1::::iqn.2001-04.com.example:d", "", "ftp://x/y",
}

func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
}

// checkFixedPoint asserts that a successful parse prints a form the same
// parser reads back to an equal value that prints identically.
func checkFixedPoint(t *testing.T, name string, parse func(string) (RootPath, error), in string) {
	rp, err := parse(in)
	if err != nil {
		if _, ok := err.(*Error); !ok {
			t.Fatalf("%s(%q): error is %T, want *Error: %v", name, in, err, err)
		}
		_ = err.Error()
		return
	}
	s := rp.String()
	rp2, err := parse(s)
	if err != nil {
		t.Fatalf("%s(%q) = %q, which does not parse: %v", name, in, s, err)
	}
	if s2 := rp2.String(); s2 != s {
		t.Fatalf("%s(%q): String not a fixed point: %q then %q", name, in, s, s2)
	}
	if _, isHTTP := rp.(*HTTP); !isHTTP && !reflect.DeepEqual(rp, rp2) {
		t.Fatalf("%s(%q): values differ after a round trip through %q:\n%#v\n%#v", name, in, s, rp, rp2)
	}
}

func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		checkFixedPoint(t, "Parse", Parse, s)
		checkFixedPoint(t, "Parser{LenientNames}.Parse", Parser{LenientNames: true}.Parse, s)
		// ParseISCSI agrees with Parse on iscsi: paths.
		v, err := ParseISCSI(s)
		rp, err2 := Parse(s)
		if err == nil {
			if err2 != nil || !reflect.DeepEqual(RootPath(v), rp) {
				t.Fatalf("ParseISCSI(%q) = %v but Parse = %v, %v", s, v, rp, err2)
			}
			if verr := v.Validate(); verr != nil {
				t.Fatalf("ParseISCSI(%q) gives a value that does not Validate: %v", s, verr)
			}
		}
	})
}

func FuzzParseDracut(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		checkFixedPoint(t, "ParseDracut", ParseDracut, s)
		if rp, err := ParseDracut(s); err == nil {
			if v, ok := rp.(*DracutISCSI); ok {
				if verr := v.Validate(); verr != nil {
					t.Fatalf("ParseDracut(%q) gives a value that does not Validate: %v", s, verr)
				}
			}
		}
		checkFixedPoint(t, "Parser{LenientNames}.ParseDracut", Parser{LenientNames: true}.ParseDracut, s)
	})
}

func FuzzParseNFSRoot(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		checkFixedPoint(t, "ParseNFSRoot", func(s string) (RootPath, error) { return ParseNFSRoot(s) }, s)
	})
}

func FuzzLUN(f *testing.F) {
	for _, s := range []string{"", "0", "1", "10", "412c", "1-7", "4752-3a4f-6b7e-2f99", "6734-9-156f-127", "1--2", "12345", "0x1", "FFFF-ffff-FFFF-ffff", "1-2-3-4-5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLUN(s)
		if err != nil {
			return
		}
		txt := l.String()
		l2, err := ParseLUN(txt)
		if err != nil || l2 != l {
			t.Fatalf("ParseLUN(%q) = % x prints %q, which reads back as % x, %v", s, l[:], txt, l2[:], err)
		}
		if LinuxLUN(l.Linux()) != l {
			t.Fatalf("Linux round trip of % x failed", l[:])
		}
		if n, ok := l.Int(); ok {
			l3, err := IntLUN(n)
			if err != nil {
				t.Fatalf("IntLUN(%d) from % x: %v", n, l[:], err)
			}
			if m, ok := l3.Int(); !ok || m != n {
				t.Fatalf("IntLUN(%d).Int() = %d, %v", n, m, ok)
			}
		}
	})
}

func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{"iqn.2001-04.com.example", "IQN.2001-04.COM.EXAMPLE:Disk", "eui.02004567A425678D", "naa.52004567BA64678D", "iqn.2001-04.com.example:disk_1", "iqn.2001-13.x", "naa.62004567BA64678D0123456789ABCDEF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range []Parser{{}, {LenientNames: true}} {
			n, err := p.NormalizeName(s)
			if err != nil {
				continue
			}
			if len(n) > MaxNameLen {
				t.Fatalf("NormalizeName(%q) = %q longer than %d", s, n, MaxNameLen)
			}
			n2, err := p.NormalizeName(n)
			if err != nil || n2 != n {
				t.Fatalf("NormalizeName not idempotent: %q -> %q -> %q, %v", s, n, n2, err)
			}
			if !p.LenientNames && n != strings.ToLower(n) {
				t.Fatalf("strict NormalizeName(%q) = %q not lowercase", s, n)
			}
		}
	})
}
