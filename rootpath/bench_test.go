package rootpath

import "testing"

var benchSink any

func benchParse(b *testing.B, s string) {
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		rp, err := Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = rp
	}
}

func BenchmarkParseISCSI(b *testing.B) {
	benchParse(b, "iscsi:10.0.0.1:::4752-3a4f-6b7e-2f99:iqn.2001-04.com.example:storage:diskarrays-sn-a8675309")
}

func BenchmarkParseISCSIv6(b *testing.B) {
	benchParse(b, "iscsi:[2001:db8::1]::3261::iqn.2001-04.com.example:disk")
}

func BenchmarkParseNFS(b *testing.B) { benchParse(b, "10.0.0.1:/srv/nfsroot/client1,vers=3,tcp") }

func BenchmarkParseHTTP(b *testing.B) { benchParse(b, "https://[2001:db8::1]:8443/disk.img") }

func BenchmarkISCSIString(b *testing.B) {
	v, err := ParseISCSI("iscsi:[2001:db8::1]::3261:1-7:iqn.2001-04.com.example:disk")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		benchSink = v.String()
	}
}

func BenchmarkParseLUN(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		l, err := ParseLUN("4752-3a4f-6b7e-2f99")
		if err != nil {
			b.Fatal(err)
		}
		benchSink = l
	}
}
