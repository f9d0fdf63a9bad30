package rootpath

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The spec's vector table (specs/rootpath.md §7), one case per row, each
// mapped to the function whose grammar it belongs to.

type parseFunc func(string) (RootPath, error)

var (
	fnParse     parseFunc = Parse
	fnLenient   parseFunc = Parser{LenientNames: true}.Parse
	fnDracut    parseFunc = ParseDracut
	fnNFSRoot   parseFunc = func(s string) (RootPath, error) { return ParseNFSRoot(s) }
	fnParseISCS parseFunc = func(s string) (RootPath, error) { return ParseISCSI(s) }
)

func mustLUN(t *testing.T, s string) LUN {
	t.Helper()
	l, err := ParseLUN(s)
	require.NoError(t, err)
	return l
}

func lunBytes(b ...byte) LUN {
	var l LUN
	copy(l[:], b)
	return l
}

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for i := 0; i+1 < len(s); i += 2 {
		hi, _ := hexDigit(s[i])
		lo, _ := hexDigit(s[i+1])
		out = append(out, hi<<4|lo)
	}
	return out
}

func TestSpecVectorsOK(t *testing.T) {
	name223 := "iqn.2001-04.com.example:" + strings.Repeat("a", 223-len("iqn.2001-04.com.example:"))
	require.Len(t, name223, 223)

	tests := []struct {
		id    string
		fn    parseFunc
		in    string
		want  RootPath
		canon string // expected String(); "" = same as in
	}{
		{"1", fnParse, "iscsi:192.168.0.1::::iqn.2000-04.uk.co.fensystems:iscsi-boot",
			&ISCSI{Server: "192.168.0.1", Protocol: 6, Port: 3260, Target: "iqn.2000-04.uk.co.fensystems:iscsi-boot"}, ""},
		{"2", fnParse, "iscsi:192.168.0.1:::1:iqn.2000-04.uk.co.fensystems:iscsi-boot",
			&ISCSI{Server: "192.168.0.1", Protocol: 6, Port: 3260, LUN: lunBytes(0, 1), Target: "iqn.2000-04.uk.co.fensystems:iscsi-boot"}, ""},
		{"3", fnParse, "iscsi:iscsi.example.com::::iqn.1991-05.com.microsoft:snubfin-msdos622-target",
			&ISCSI{Server: "iscsi.example.com", Protocol: 6, Port: 3260, Target: "iqn.1991-05.com.microsoft:snubfin-msdos622-target"}, ""},
		{"4", fnParse, "iscsi:10.0.0.5:::1-7:iqn.2010-11.private:winsrvr2008",
			&ISCSI{Server: "10.0.0.5", Protocol: 6, Port: 3260, LUN: lunBytes(0, 1, 0, 7), Target: "iqn.2010-11.private:winsrvr2008"}, ""},
		{"5", fnParse, "iscsi:10.0.0.1:6:3260:0:iqn.2001-04.com.example:disk",
			&ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: "iqn.2001-04.com.example:disk"},
			"iscsi:10.0.0.1::::iqn.2001-04.com.example:disk"},
		{"6", fnParse, "iscsi:[2001:db8::1]::3261::iqn.2001-04.com.example:disk",
			&ISCSI{Server: "2001:db8::1", Protocol: 6, Port: 3261, Target: "iqn.2001-04.com.example:disk"}, ""},
		{"7", fnParse, "iscsi:10.0.0.1::::iqn.2001-04.com.example:storage:diskarrays-sn-a8675309",
			&ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: "iqn.2001-04.com.example:storage:diskarrays-sn-a8675309"}, ""},
		{"8", fnParse, "iscsi:10.0.0.1:::4752-3A4F-6b7e-2F99:iqn.2001-04.com.example:d",
			&ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, LUN: lunBytes(0x47, 0x52, 0x3a, 0x4f, 0x6b, 0x7e, 0x2f, 0x99), Target: "iqn.2001-04.com.example:d"},
			"iscsi:10.0.0.1:::4752-3a4f-6b7e-2f99:iqn.2001-04.com.example:d"},
		{"9", fnParse, "iscsi:10.0.0.1:::6734-9-156f-127:iqn.2001-04.com.example:d",
			&ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, LUN: lunBytes(0x67, 0x34, 0, 9, 0x15, 0x6f, 1, 0x27), Target: "iqn.2001-04.com.example:d"}, ""},
		{"10", fnParse, "iscsi:10.0.0.1:::10:iqn.2001-04.com.example:d",
			&ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, LUN: lunBytes(0, 0x10), Target: "iqn.2001-04.com.example:d"}, ""},
		{"11", fnParse, "iscsi:10.0.0.1::::eui.02004567A425678D",
			&ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: "eui.02004567a425678d"},
			"iscsi:10.0.0.1::::eui.02004567a425678d"},
		{"12", fnParse, "iscsi:10.0.0.1::::naa.52004567BA64678D",
			&ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: "naa.52004567ba64678d"},
			"iscsi:10.0.0.1::::naa.52004567ba64678d"},
		{"12b", fnParse, "iscsi:10.0.0.1::::naa.62004567BA64678D0123456789ABCDEF",
			&ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: "naa.62004567ba64678d0123456789abcdef"},
			"iscsi:10.0.0.1::::naa.62004567ba64678d0123456789abcdef"},
		{"13", fnParse, "iscsi:::::iqn.2001-04.com.example:d",
			&ISCSI{Protocol: 6, Port: 3260, Target: "iqn.2001-04.com.example:d"}, ""},
		{"25-lenient", fnLenient, "iscsi:10.0.0.1::::iqn.2001-04.com.example:disk_1",
			&ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: "iqn.2001-04.com.example:disk_1"}, ""},
		{"28-223", fnParse, "iscsi:10.0.0.1::::" + name223,
			&ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: name223}, ""},
		{"29-dracut", fnDracut, "iscsi:user:secret@10.0.0.1::::iqn.2009-06.dracut:target0",
			&DracutISCSI{ISCSI: ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: "iqn.2009-06.dracut:target0"}, Username: "user", Password: "secret"}, ""},
		{"30-dracut", fnDracut, "iscsi:192.168.50.1::3260:iface0:eth0:1:iqn.2009-06.dracut:target0",
			&DracutISCSI{ISCSI: ISCSI{Server: "192.168.50.1", Protocol: 6, Port: 3260, LUN: lunBytes(0, 1), Target: "iqn.2009-06.dracut:target0"}, Iface: "iface0", Netdev: "eth0"},
			"iscsi:192.168.50.1:::iface0:eth0:1:iqn.2009-06.dracut:target0"},
		{"32a", fnParse, "aoe:e0.0", &AoE{}, ""},
		{"32b", fnParse, "aoe:e1.10", &AoE{Shelf: 1, Slot: 10}, ""},
		{"32c", fnParse, "aoe:e65535.255", &AoE{Shelf: 65535, Slot: 255}, ""},
		{"32d", fnParse, "AOE:e007.01", &AoE{Shelf: 7, Slot: 1}, "aoe:e7.1"},
		{"35", fnParse, "http://10.0.0.1/images/win10.iso", &HTTP{URL: &url.URL{Scheme: "http", Host: "10.0.0.1", Path: "/images/win10.iso"}}, ""},
		{"36", fnParse, "https://[2001:db8::1]:8443/disk.img", &HTTP{URL: &url.URL{Scheme: "https", Host: "[2001:db8::1]:8443", Path: "/disk.img"}}, ""},
		{"37", fnParse, "fcp:10:00:00:00:c9:12:34:56:0", &FCP{WWN: WWN{0x10, 0, 0, 0, 0xc9, 0x12, 0x34, 0x56}}, ""},
		{"37b", fnParse, "fcp://10:00:00:00:C9:12:34:56/1-2", &FCP{WWN: WWN{0x10, 0, 0, 0, 0xc9, 0x12, 0x34, 0x56}, LUN: lunBytes(0, 1, 0, 2)},
			"fcp:10:00:00:00:c9:12:34:56:1-2"},
		{"40", fnParse, "10.0.0.1:/srv/nfsroot/client1,vers=3,tcp", &NFS{Server: "10.0.0.1", Path: "/srv/nfsroot/client1", Options: []string{"vers=3", "tcp"}}, ""},
		{"40-kernel", fnNFSRoot, "10.0.0.1:/srv/nfsroot/client1,vers=3,tcp", &NFS{Server: "10.0.0.1", Path: "/srv/nfsroot/client1", Options: []string{"vers=3", "tcp"}}, ""},
		{"41", fnParse, "/srv/root", &NFS{Path: "/srv/root"}, ""},
		{"42", fnNFSRoot, "client1", &NFS{Path: "/tftpboot/client1"}, "/tftpboot/client1"},
		{"44", fnDracut, "nfs:[2001:db8::1]:/srv/root:vers=4.2", &NFS{Scheme: "nfs", Server: "2001:db8::1", Path: "/srv/root", Options: []string{"vers=4.2"}},
			"nfs:[2001:db8::1]:/srv/root,vers=4.2"},
		{"44-dhcp", fnParse, "nfs:[2001:db8::1]:/srv/root:vers=4.2", &NFS{Scheme: "nfs", Server: "2001:db8::1", Path: "/srv/root", Options: []string{"vers=4.2"}},
			"nfs:[2001:db8::1]:/srv/root,vers=4.2"},
		{"45a", fnParse, "nfs4:10.0.0.1:/srv/root", &NFS{Scheme: "nfs4", Server: "10.0.0.1", Path: "/srv/root"}, ""},
		{"45a-dracut", fnDracut, "nfs4:10.0.0.1:/srv/root", &NFS{Scheme: "nfs4", Server: "10.0.0.1", Path: "/srv/root"}, ""},
		{"45b", fnParse, "10.0.0.1:/srv/%s", &NFS{Server: "10.0.0.1", Path: "/srv/%s"}, ""},
		{"45b-kernel", fnNFSRoot, "10.0.0.1:/srv/%s", &NFS{Server: "10.0.0.1", Path: "/srv/%s"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			got, err := tc.fn(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			canon := tc.canon
			if canon == "" {
				canon = tc.in
			}
			assert.Equal(t, canon, got.String())
			again, err := tc.fn(got.String())
			require.NoError(t, err, "canonical form must parse")
			assert.Equal(t, got, again, "Parse(String()) must give the same value")
		})
	}
}

func TestSpecVectorsIBSRP(t *testing.T) {
	in := "ib_srp::::fe800000000000000002c90300000001:ffff:0002c90300000002:0:0002c90300000003:0002c90300000004"
	rp, err := Parse(in)
	require.NoError(t, err)
	v, ok := rp.(*IBSRP)
	require.True(t, ok, "%T", rp)
	assert.Equal(t, [16]byte{}, v.SGID)
	assert.Equal(t, [8]byte{}, v.InitiatorIDExt)
	assert.Equal(t, [8]byte{}, v.InitiatorHCAGUID)
	assert.Equal(t, hexBytes(t, "fe800000000000000002c90300000001"), v.DGID[:])
	assert.Equal(t, uint16(0xffff), v.PKey)
	assert.Equal(t, hexBytes(t, "0002c90300000002"), v.ServiceID[:])
	assert.True(t, v.LUN.IsZero())
	assert.Equal(t, hexBytes(t, "0002c90300000003"), v.TargetIDExt[:])
	assert.Equal(t, hexBytes(t, "0002c90300000004"), v.TargetIOCGUID[:])
	assert.Equal(t, in, v.String())

	// Empty pkey defaults to ffff; uppercase hex is read and printed lowercase.
	rp, err = Parse("ib_srp:FE800000000000000002C90300000009:0000000000000001:0002c90300000009:fe800000000000000002c90300000001::0002c90300000002:1:0002c90300000003:0002c90300000004")
	require.NoError(t, err)
	v = rp.(*IBSRP)
	assert.Equal(t, uint16(0xffff), v.PKey)
	assert.Equal(t, "ib_srp:fe800000000000000002c90300000009:0000000000000001:0002c90300000009:fe800000000000000002c90300000001:ffff:0002c90300000002:1:0002c90300000003:0002c90300000004", v.String())
}

func TestSpecVectorsErrors(t *testing.T) {
	name224 := "iqn.2001-04.com.example:" + strings.Repeat("a", 224-len("iqn.2001-04.com.example:"))
	tests := []struct {
		id     string
		fn     parseFunc
		in     string
		field  Field
		reason error
		msg    string // substring of the message, optional
	}{
		{"14", fnParse, "iscsi:10.0.0.1:::iqn.2001-04.com.example:d", FieldLUN, ErrSyntax, "a field is missing"},
		{"15", fnParse, "iscsi:10.0.0.1::iqn.2001-04.com.example", FieldRootPath, ErrMissing, "too few fields"},
		{"15b", fnParse, "iscsi:10.0.0.1", FieldRootPath, ErrMissing, "too few fields"},
		{"16", fnParse, "iscsi:10.0.0.1:17:::iqn.2001-04.com.example:d", FieldProtocol, ErrUnsupported, "only 6"},
		{"16b", fnParse, "iscsi:10.0.0.1:tcp:::iqn.2001-04.com.example:d", FieldProtocol, ErrSyntax, ""},
		{"17", fnParse, "iscsi:10.0.0.1::0::iqn.2001-04.com.example:d", FieldPort, ErrRange, "3260"},
		{"18", fnParse, "iscsi:10.0.0.1::65536::iqn.2001-04.com.example:d", FieldPort, ErrRange, ""},
		{"18b", fnParse, "iscsi:10.0.0.1::+80::iqn.2001-04.com.example:d", FieldPort, ErrSyntax, ""},
		{"19", fnParse, "iscsi:10.0.0.1:::1-2-3-4-5:iqn.2001-04.com.example:d", FieldLUN, ErrRange, "groups"},
		{"20", fnParse, "iscsi:10.0.0.1:::12345:iqn.2001-04.com.example:d", FieldLUN, ErrRange, "4 hex digits"},
		{"21", fnParse, "iscsi:10.0.0.1:::1--2:iqn.2001-04.com.example:d", FieldLUN, ErrSyntax, "empty"},
		{"22", fnParse, "iscsi:10.0.0.1:::0x1:iqn.2001-04.com.example:d", FieldLUN, ErrSyntax, "hex"},
		{"23", fnParse, "iscsi:[2001:db8::1::::iqn.2001-04.com.example:d", FieldServer, ErrSyntax, "unbalanced"},
		{"23b", fnParse, "iscsi:2001:db8::1::::iqn.2001-04.com.example:d", FieldServer, ErrSyntax, ""},
		{"23c", fnParse, "iscsi:[10.0.0.1]::::iqn.2001-04.com.example:d", FieldServer, ErrSyntax, "IPv6"},
		{"23d", fnParse, "iscsi:[fe80::1%eth0]::::iqn.2001-04.com.example:d", FieldServer, ErrUnsupported, "zone"},
		{"23e", fnParse, "iscsi:10.0.0.256::::iqn.2001-04.com.example:d", FieldServer, ErrSyntax, "IPv4"},
		{"23f", fnParse, "iscsi:bad_host::::iqn.2001-04.com.example:d", FieldServer, ErrSyntax, ""},
		{"24", fnParse, "iscsi:10.0.0.1::::", FieldTarget, ErrEmpty, ""},
		{"25", fnParse, "iscsi:10.0.0.1::::iqn.2001-04.com.example:disk_1", FieldTarget, ErrSyntax, "'_'"},
		{"26", fnParse, "iscsi:10.0.0.1::::iqn.2001-13.com.example", FieldTarget, ErrRange, "month"},
		{"26b", fnParse, "iscsi:10.0.0.1::::iqn.2001-00.com.example", FieldTarget, ErrRange, "month"},
		{"26c", fnParse, "iscsi:10.0.0.1::::iqn.01-04.com.example", FieldTarget, ErrSyntax, "date"},
		{"26d", fnParse, "iscsi:10.0.0.1::::iqn.2001-04..com", FieldTarget, ErrSyntax, "label"},
		{"26e", fnParse, "iscsi:10.0.0.1::::iqn.2001-04.com.example:", FieldTarget, ErrSyntax, "after ':'"},
		{"26f", fnParse, "iscsi:10.0.0.1::::disk1", FieldTarget, ErrSyntax, "iqn., eui. or naa."},
		{"27", fnParse, "iscsi:10.0.0.1::::eui.02004567A425678", FieldTarget, ErrSyntax, "16 hex"},
		{"27b", fnParse, "iscsi:10.0.0.1::::naa.52004567BA64678D01", FieldTarget, ErrSyntax, "16 or 32"},
		{"27c", fnParse, "iscsi:10.0.0.1::::iqn.2001-04.com.exämple", FieldTarget, ErrUnsupported, "non-ASCII"},
		{"28-224", fnParse, "iscsi:10.0.0.1::::" + name224, FieldTarget, ErrRange, "223"},
		{"29-rfc", fnParse, "iscsi:user:secret@10.0.0.1::::iqn.2009-06.dracut:target0", FieldProtocol, ErrSyntax, "ParseDracut"},
		{"31", fnParse, "iscsi:10.0.0.1::::iqn.2001-04.com.example:d\x00", FieldRootPath, ErrSyntax, "NUL"},
		{"31b", fnParse, "iscsi:10.0.0.1::::iqn.2001-04.com.example:d\x00x", FieldRootPath, ErrSyntax, "control"},
		{"33a", fnParse, "aoe:e1", FieldSlot, ErrMissing, ""},
		{"33b", fnParse, "aoe:0.1", FieldShelf, ErrSyntax, "'e'"},
		{"33c", fnParse, "aoe://e1.1", FieldRootPath, ErrSyntax, "opaque"},
		{"33d", fnParse, "aoe:e1.1x", FieldSlot, ErrSyntax, ""},
		{"33e", fnParse, "aoe:e.1", FieldShelf, ErrSyntax, ""},
		{"34a", fnParse, "aoe:e65536.0", FieldShelf, ErrRange, ""},
		{"34b", fnParse, "aoe:e1.256", FieldSlot, ErrRange, ""},
		{"36b", fnParse, "http:///disk.img", FieldServer, ErrMissing, "host"},
		{"36c", fnParse, "http:disk.img", FieldURL, ErrSyntax, ""},
		{"36d", fnParse, "http://10.0.0.1:70000/disk.img", FieldPort, ErrRange, ""},
		{"36e", fnParse, "http://10.0.0.1/disk.img#frag", FieldURL, ErrSyntax, "fragment"},
		{"36f", fnParse, "http://bad_host/disk.img", FieldServer, ErrSyntax, ""},
		{"37c", fnParse, "fcp:10:00:00:00:c9:12:34:5:0", FieldRootPath, ErrSyntax, "23"},
		{"37d", fnParse, "fcp:10:00:00:00:c9:12:34:5g:0", FieldWWN, ErrSyntax, "hex"},
		{"37e", fnParse, "fcp:10:00:00:00:c9:12:34:56:1--2", FieldLUN, ErrSyntax, ""},
		{"37f", fnParse, "fcp://10:00:00:00:c9:12:34:56", FieldLUN, ErrMissing, ""},
		{"38", fnParse, "fcoe:eth0", FieldScheme, ErrUnsupported, "fcp:"},
		{"39b", fnParse, "ib_srp::::fe800000000000000002c90300000001:ffff:0002c90300000002:0:0002c90300000003", FieldRootPath, ErrMissing, "9 fields"},
		{"39c", fnParse, "ib_srp::::fe80:ffff:0002c90300000002:0:0002c90300000003:0002c90300000004", FieldDGID, ErrSyntax, "32"},
		{"39d", fnParse, "ib_srp:::::ffff:0002c90300000002:0:0002c90300000003:0002c90300000004", FieldDGID, ErrEmpty, ""},
		{"39e", fnParse, "ib_srp::::fe800000000000000002c90300000001:10000:0002c90300000002:0:0002c90300000003:0002c90300000004", FieldPKey, ErrSyntax, ""},
		{"43", fnNFSRoot, "nfs.example:/srv/root", FieldServer, ErrUnsupported, "/tftpboot/nfs.example:/srv/root"},
		{"43-dhcp", fnParse, "nfs.example:/srv/root", FieldServer, ErrUnsupported, "IPv4"},
		{"46a", fnParse, " iscsi:10.0.0.1::::iqn.2001-04.com.example:d", FieldRootPath, ErrSyntax, "whitespace"},
		{"46b", fnParse, "", FieldRootPath, ErrEmpty, ""},
		{"46c", fnParse, "ftp://x/y", FieldScheme, ErrUnsupported, ""},
		{"46d", fnParse, "iscsi:10.0.0.1::::iqn.2001-04.com.example:d\n", FieldRootPath, ErrSyntax, "whitespace"},
		{"46e", fnParse, "\xff", FieldRootPath, ErrSyntax, "UTF-8"},
		{"nfs-colon", fnParse, "10.0.0.1:/srv/root:vers=3", FieldPath, ErrSyntax, "ambiguous"},
		{"nfs-v6-bare", fnParse, "[2001:db8::1]:/srv/root", FieldServer, ErrUnsupported, "nfs:"},
		{"nfs-relative", fnParse, "client1", FieldRootPath, ErrUnsupported, ""},
		{"nfs-noserver", fnParse, "10.0.0.1", FieldServer, ErrSyntax, ""},
		{"nfs-emptyopt", fnParse, "10.0.0.1:/srv,,tcp", FieldOptions, ErrSyntax, ""},
		{"nfs-url", fnParse, "nfs://10.0.0.1/srv", FieldRootPath, ErrUnsupported, "RFC 2224"},
		{"nfs-relpath", fnParse, "nfs:10.0.0.1:srv", FieldPath, ErrSyntax, "'/'"},
		{"kernel-relpath", fnNFSRoot, "10.0.0.1:srv", FieldPath, ErrSyntax, "'/'"},
		{"kernel-comma", fnNFSRoot, "10.0.0.1,vers=3", FieldServer, ErrSyntax, ""},
		{"kernel-digit", fnNFSRoot, "1client", FieldServer, ErrSyntax, ""},
		{"kernel-long", fnNFSRoot, "/" + strings.Repeat("a", 1024), FieldRootPath, ErrRange, ""},
		{"dracut-devnfs", fnDracut, "/dev/nfs", FieldRootPath, ErrUnsupported, "ParseNFSRoot"},
		{"dracut-local", fnDracut, "/dev/sda1", FieldRootPath, ErrUnsupported, "local"},
		{"dracut-uuid", fnDracut, "UUID=1234", FieldRootPath, ErrUnsupported, ""},
		{"dracut-notarget", fnDracut, "iscsi:10.0.0.1::::disk1", FieldTarget, ErrMissing, ""},
		{"dracut-fields", fnDracut, "iscsi:10.0.0.1:::a:b:c:1:iqn.2009-06.dracut:t", FieldRootPath, ErrSyntax, "fields"},
		{"dracut-auth3", fnDracut, "iscsi:a:b:c@10.0.0.1::::iqn.2009-06.dracut:t", FieldAuth, ErrSyntax, ""},
		{"dracut-lunhex", fnDracut, "iscsi:10.0.0.1:::1a:iqn.2009-06.dracut:t", FieldLUN, ErrSyntax, "decimal"},
		{"dracut-netdev", fnDracut, "iscsi:10.0.0.1:::if:averyveryverylongname:1:iqn.2009-06.dracut:t", FieldNetdev, ErrSyntax, ""},
		{"dracut-innerIQN", fnDracut, "iscsi:10.0.0.1::::iqn.2009-06.dracut:IQN.x", FieldTarget, ErrSyntax, "inner"},
		{"parseiscsi-scheme", fnParseISCS, "aoe:e1.1", FieldScheme, ErrUnsupported, ""},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			got, err := tc.fn(tc.in)
			require.Error(t, err, "got %v", got)
			var perr *Error
			require.True(t, errors.As(err, &perr), "want *Error, got %T: %v", err, err)
			assert.Equal(t, tc.field, perr.Field, "%v", err)
			assert.ErrorIs(t, err, tc.reason)
			assert.Equal(t, tc.in, perr.Input)
			if tc.msg != "" {
				assert.Contains(t, err.Error(), tc.msg)
			}
		})
	}
}
