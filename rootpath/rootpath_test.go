package rootpath

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Hand-built values, the way dhcpboot, ipxescript and ibft produce them,
// print forms Parse reads back.
func TestISCSIBuild(t *testing.T) {
	l, err := IntLUN(1)
	require.NoError(t, err)
	v := &ISCSI{Server: "10.0.0.1", LUN: l, Target: "iqn.2001-04.com.example:disk"}
	require.NoError(t, v.Validate())
	assert.Equal(t, "iscsi:10.0.0.1:::1:iqn.2001-04.com.example:disk", v.String())
	assert.Equal(t, "10.0.0.1:3260", v.Address())
	rp, err := Parse(v.String())
	require.NoError(t, err)
	got := rp.(*ISCSI)
	assert.Equal(t, uint8(ProtocolTCP), got.Protocol, "defaults are filled in by Parse")
	assert.Equal(t, uint16(DefaultPort), got.Port)
	got.Protocol, got.Port = 0, 0
	assert.Equal(t, v, got)

	v6 := &ISCSI{Server: "2001:db8::1", Port: 3261, Target: "iqn.2001-04.com.example:disk"}
	assert.Equal(t, "iscsi:[2001:db8::1]::3261::iqn.2001-04.com.example:disk", v6.String())
	assert.Equal(t, "[2001:db8::1]:3261", v6.Address())
	assert.Equal(t, ":3260", (&ISCSI{}).Address())

	for _, tc := range []struct {
		v     *ISCSI
		field Field
	}{
		{&ISCSI{Server: "bad_host", Target: "iqn.2001-04.com.example:d"}, FieldServer},
		{&ISCSI{Server: "[2001:db8::1]", Target: "iqn.2001-04.com.example:d"}, FieldServer},
		{&ISCSI{Server: "2001:DB8::1", Target: "iqn.2001-04.com.example:d"}, FieldServer}, // not canonical
		{&ISCSI{Server: "10.0.0.1", Protocol: 17, Target: "iqn.2001-04.com.example:d"}, FieldProtocol},
		{&ISCSI{Server: "10.0.0.1", Target: "IQN.2001-04.com.example:d"}, FieldTarget}, // not normalized
		{&ISCSI{Server: "10.0.0.1"}, FieldTarget},
	} {
		err := tc.v.Validate()
		var perr *Error
		require.True(t, errors.As(err, &perr), "%+v: %v", tc.v, err)
		assert.Equal(t, tc.field, perr.Field, "%v", err)
	}
}

func TestParseISCSIServerForms(t *testing.T) {
	for _, tc := range []struct{ in, server string }{
		{"iscsi:ISCSI.Example.COM::::iqn.2001-04.com.example:d", "iscsi.example.com"},
		{"iscsi:san.example.com.::::iqn.2001-04.com.example:d", "san.example.com."},
		{"iscsi:[2001:DB8:0:0::1]::::iqn.2001-04.com.example:d", "2001:db8::1"},
		{"iscsi:[::ffff:10.0.0.1]::::iqn.2001-04.com.example:d", "::ffff:10.0.0.1"},
		{"ISCSI:10.0.0.1::::iqn.2001-04.com.example:d", "10.0.0.1"},
	} {
		v, err := ParseISCSI(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.server, v.Server)
		assert.True(t, strings.HasPrefix(v.String(), "iscsi:"))
	}
	for _, in := range []string{
		"iscsi:-bad.example::::iqn.2001-04.com.example:d",
		"iscsi:010.0.0.1::::iqn.2001-04.com.example:d",
		"iscsi:1.2.3::::iqn.2001-04.com.example:d",
		"iscsi:a[b]::::iqn.2001-04.com.example:d",
		"iscsi:[2001:db8::1]x::::iqn.2001-04.com.example:d",
		"iscsi:" + strings.Repeat("a", 64) + "::::iqn.2001-04.com.example:d",
	} {
		_, err := ParseISCSI(in)
		var perr *Error
		require.True(t, errors.As(err, &perr), in)
		assert.Equal(t, FieldServer, perr.Field, "%v", err)
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := Parse("iscsi:10.0.0.1::0::iqn.2001-04.com.example:d")
	assert.EqualError(t, err, `rootpath: "iscsi:10.0.0.1::0::iqn.2001-04.com.example:d": port "0": out of range: port 0 is not a port (iPXE would quietly use 3260; leave the field empty for that)`)
	_, err = Parse("")
	assert.EqualError(t, err, `rootpath: "": empty: empty root path`)
	long := "iscsi:10.0.0.1::::iqn.2001-04.com.example:" + strings.Repeat("a", 300)
	_, err = Parse(long)
	assert.Less(t, len(err.Error()), 500, "long inputs are shortened in messages")
	var perr *Error
	require.True(t, errors.As(err, &perr))
	assert.Equal(t, long, perr.Input, "but kept whole in the field")
}

func TestIsSAN(t *testing.T) {
	for in, want := range map[string]bool{
		"iscsi:10.0.0.1::::iqn.2001-04.com.example:d": true,
		"aoe:e1.1":                      true,
		"http://10.0.0.1/disk.img":      true,
		"fcp:10:00:00:00:c9:12:34:56:0": true,
		"10.0.0.1:/srv/root":            false,
		"nfs:10.0.0.1:/srv/root":        false,
	} {
		rp, err := Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, IsSAN(rp), in)
	}
	rp, err := ParseDracut("iscsi:10.0.0.1::::iqn.2001-04.com.example:d")
	require.NoError(t, err)
	assert.False(t, IsSAN(rp), "dracut's form is not an iPXE SAN URI")
}

func TestHTTP(t *testing.T) {
	rp, err := Parse("HTTPS://user:pw@San.Example.com:8443/a%20b/disk.img?ro=1")
	require.NoError(t, err)
	v := rp.(*HTTP)
	assert.Equal(t, "https", v.URL.Scheme)
	assert.Equal(t, "San.Example.com:8443", v.URL.Host)
	assert.Equal(t, "/a b/disk.img", v.URL.Path)
	assert.Equal(t, "https://user:pw@San.Example.com:8443/a%20b/disk.img?ro=1", v.String())
	assert.Equal(t, "", (&HTTP{}).String())
	assert.Equal(t, "http://10.0.0.1/x", (&HTTP{URL: &url.URL{Scheme: "http", Host: "10.0.0.1", Path: "/x"}}).String())

	for _, in := range []string{"http://10.0.0.1:/x", "http://[fe80::1%25eth0]/x", "http://[10.0.0.1]/x", "http://[::1/x"} {
		_, err := Parse(in)
		assert.Error(t, err, in)
	}
}

func TestAoEString(t *testing.T) {
	assert.Equal(t, "aoe:e65535.255", (&AoE{Shelf: 65535, Slot: 255}).String())
	assert.Equal(t, "aoe:e0.0", (&AoE{}).String())
}

func TestParseSchemeCase(t *testing.T) {
	for _, in := range []string{"ISCSI:10.0.0.1::::iqn.2001-04.com.example:d", "Aoe:e1.2", "FCP:10:00:00:00:c9:12:34:56:0", "NFS:10.0.0.1:/x"} {
		rp, err := Parse(in)
		require.NoError(t, err, in)
		s := rp.String()
		assert.Equal(t, strings.ToLower(s[:4]), s[:4], "scheme printed lowercase: %s", s)
	}
}
