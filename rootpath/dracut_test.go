package rootpath

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDracutISCSI(t *testing.T) {
	target := "iqn.2009-06.dracut:target0"
	for _, tc := range []struct {
		in    string
		want  *DracutISCSI
		canon string
	}{
		{"iscsi:192.168.50.1::::" + target,
			&DracutISCSI{ISCSI: ISCSI{Server: "192.168.50.1", Protocol: 6, Port: 3260, Target: target}}, ""},
		{"iscsi:u:p:ru:rp@192.168.50.1::3261::" + target,
			&DracutISCSI{ISCSI: ISCSI{Server: "192.168.50.1", Protocol: 6, Port: 3261, Target: target}, Username: "u", Password: "p", InUsername: "ru", InPassword: "rp"}, ""},
		// IPv6 in brackets; decimal Linux LUN 300 → SAM 01 2c (peripheral, bus 1).
		{"iscsi:[2001:db8::1]:::300:" + target,
			&DracutISCSI{ISCSI: ISCSI{Server: "2001:db8::1", Protocol: 6, Port: 3260, LUN: LinuxLUN(300), Target: target}}, ""},
		// Four fields: proto, port, netdev, LUN (dracut's $# -eq 2 branch).
		{"iscsi:10.0.0.1:::eth0:1:" + target,
			&DracutISCSI{ISCSI: ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, LUN: LinuxLUN(1), Target: target}, Netdev: "eth0"},
			"iscsi:10.0.0.1::::eth0:1:" + target},
		// Empty credentials with "@" protect an "@" later on; here there is none, so it is dropped.
		{"iscsi:@10.0.0.1::::" + target,
			&DracutISCSI{ISCSI: ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: target}},
			"iscsi:10.0.0.1::::" + target},
		// Empty server: dracut then uses rd.iscsi.target.ip / iBFT.
		{"iscsi:::::" + target,
			&DracutISCSI{ISCSI: ISCSI{Protocol: 6, Port: 3260, Target: target}}, ""},
		// eui. and naa. targets keep their prefix (some forks rewrite them to iqn.).
		{"iscsi:10.0.0.1::::eui.02004567A425678D",
			&DracutISCSI{ISCSI: ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: "eui.02004567a425678d"}},
			"iscsi:10.0.0.1::::eui.02004567a425678d"},
		{"iscsi:10.0.0.1::::naa.52004567ba64678d",
			&DracutISCSI{ISCSI: ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: "naa.52004567ba64678d"}}, ""},
		// A target name with colons: the last ":iqn." starts it.
		{"iscsi:10.0.0.1::::iqn.2001-04.com.example:storage:disk1",
			&DracutISCSI{ISCSI: ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: "iqn.2001-04.com.example:storage:disk1"}}, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			rp, err := ParseDracut(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, rp)
			canon := tc.canon
			if canon == "" {
				canon = tc.in
			}
			assert.Equal(t, canon, rp.String())
			again, err := ParseDracut(rp.String())
			require.NoError(t, err)
			assert.Equal(t, rp, again)
		})
	}
}

func TestDracutLenientAt(t *testing.T) {
	// A lenient target name containing "@" gets a leading "@" so dracut does
	// not read the start of the path as credentials.
	p := Parser{LenientNames: true}
	v := &DracutISCSI{ISCSI: ISCSI{Server: "10.0.0.1", Protocol: 6, Port: 3260, Target: "iqn.2001-04.com.example:t@a:b:c:d:e"}}
	s := v.String()
	assert.Equal(t, "iscsi:@10.0.0.1::::iqn.2001-04.com.example:t@a:b:c:d:e", s)
	rp, err := p.ParseDracut(s)
	require.NoError(t, err)
	assert.Equal(t, v, rp)
}

func TestParseDracutOther(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want RootPath
	}{
		{"dhcp", &FromDHCP{}},
		{"dhcp6", &FromDHCP{IPv6: true}},
		{"nfs:/srv/root", &NFS{Scheme: "nfs", Path: "/srv/root"}},
		{"nfs:10.0.0.1:/srv/root:vers=3,tcp", &NFS{Scheme: "nfs", Server: "10.0.0.1", Path: "/srv/root", Options: []string{"vers=3", "tcp"}}},
		{"nfs:10.0.0.1:/srv/root,vers=3", &NFS{Scheme: "nfs", Server: "10.0.0.1", Path: "/srv/root", Options: []string{"vers=3"}}},
		{"nfs4:nfs.example.com:/exports/root", &NFS{Scheme: "nfs4", Server: "nfs.example.com", Path: "/exports/root"}},
		{"10.0.0.1:/srv/root:vers=3", &NFS{Server: "10.0.0.1", Path: "/srv/root", Options: []string{"vers=3"}}},
		{"/srv/root", &NFS{Path: "/srv/root"}}, // parse-nfsroot.sh: "/*" but not "/dev/*" is NFS
		{"/srv/root:vers=3", &NFS{Path: "/srv/root", Options: []string{"vers=3"}}},
	} {
		rp, err := ParseDracut(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, rp, tc.in)
		again, err := ParseDracut(rp.String())
		require.NoError(t, err, rp.String())
		assert.Equal(t, rp, again)
	}
	_, err := ParseDracut("aoe:e1.1")
	assert.ErrorIs(t, err, ErrUnsupported)
	_, err = ParseDracut("nfs:10.0.0.1:/srv/root:")
	assert.ErrorIs(t, err, ErrEmpty)
	for _, in := range []string{
		"[2001:db8::1]:/srv/root",      // parse-nfsroot.sh does not treat this as NFS
		"nfs:10.0.0.1:/a:/b",           // dracut takes the path from the last ":/"
		"nfs:10.0.0.1:/srv,vers=3:tcp", // dracut would drop "tcp"
		"nfs:10.0.0.1:/srv:vers=3:tcp",
		"nfs:vers=3:10.0.0.1:/srv", // anaconda's nfs:<opts>:<server>:/<path> is not supported
	} {
		_, err := ParseDracut(in)
		assert.Error(t, err, in)
	}
}

func TestParseNFSRootKernel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *NFS
	}{
		{"/srv/root", &NFS{Path: "/srv/root"}},
		{"10.0.0.1:/srv/root,vers=3,tcp", &NFS{Server: "10.0.0.1", Path: "/srv/root", Options: []string{"vers=3", "tcp"}}},
		{"10.0.0.1", &NFS{Server: "10.0.0.1", Path: KernelDefaultNFSPath}},
		{"10.0.0.1:", &NFS{Server: "10.0.0.1", Path: KernelDefaultNFSPath}},
		{",vers=3", &NFS{Path: KernelDefaultNFSPath, Options: []string{"vers=3"}}},
		{"default,tcp", &NFS{Path: "/tftpboot/default", Options: []string{"tcp"}}}, // "default" is wrapped before it could mean the default
		{"10.0.0.1:default,tcp", &NFS{Server: "10.0.0.1", Path: KernelDefaultNFSPath, Options: []string{"tcp"}}},
		{"client1", &NFS{Path: "/tftpboot/client1"}},
		{"client1,vers=3", &NFS{Path: "/tftpboot/client1", Options: []string{"vers=3"}}},
		{"10.0.0.1:/srv/a:b", &NFS{Server: "10.0.0.1", Path: "/srv/a:b"}}, // the kernel keeps ':' in the path
		{"/srv/%s", &NFS{Path: "/srv/%s"}},
	} {
		got, err := ParseNFSRoot(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		again, err := ParseNFSRoot(got.String())
		require.NoError(t, err)
		assert.Equal(t, got, again)
	}
}

func TestDracutValidate(t *testing.T) {
	good := &DracutISCSI{ISCSI: ISCSI{Server: "10.0.0.1", Target: "iqn.2009-06.dracut:t"}, Username: "u", Password: "p", Netdev: "eth0"}
	require.NoError(t, good.Validate())
	for _, bad := range []*DracutISCSI{
		{ISCSI: ISCSI{Server: "10.0.0.1", Target: "iqn.2009-06.dracut:t"}, Username: "u"},
		{ISCSI: ISCSI{Server: "10.0.0.1", Target: "iqn.2009-06.dracut:t"}, InUsername: "r", InPassword: "p"},
		{ISCSI: ISCSI{Server: "10.0.0.1", Target: "iqn.2009-06.dracut:t"}, Username: "u:x", Password: "p"},
		{ISCSI: ISCSI{Server: "10.0.0.1", Target: "iqn.2009-06.dracut:t"}, Username: "u", Password: "p@x"},
		{ISCSI: ISCSI{Server: "10.0.0.1", Target: "iqn.2009-06.dracut:t"}, Iface: "a:b"},
		{ISCSI: ISCSI{Server: "10.0.0.1", Target: "iqn.2009-06.dracut:t"}, Netdev: "averyveryverylongname"},
		{ISCSI: ISCSI{Server: "10.0.0.1", Target: "IQN.2009-06.dracut:t"}},
	} {
		assert.Error(t, bad.Validate(), "%+v", bad)
	}
}
