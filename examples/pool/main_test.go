package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/dhcpboot"
)

func TestParseFlags(t *testing.T) {
	base := []string{"-images", "/srv/images", "-password-file", "/etc/pool.pw", "-url", "http://192.0.2.1:8080/"}
	c, err := parseFlags(base, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "http://192.0.2.1:8080", c.URL)
	assert.Equal(t, "off", c.DHCP)
	assert.Equal(t, SANConfig{Overlays: "overlays", Host: "192.0.2.1", Port: 3260}, c.SAN, "iSCSI on :3260, advertised at -url's host")
	c, err = parseFlags(append(base, "-iscsi", "127.0.0.1:3261", "-iscsi-host", "san.example", "-overlays", "/srv/ov"), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, SANConfig{Overlays: "/srv/ov", Host: "san.example", Port: 3261}, c.SAN)
	c, err = parseFlags(append(base, "-max-overlay", "8G"), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, int64(8<<30), c.SAN.MaxOverlay)
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "512M": 512 << 20, "2GiB": 2 << 30, "1t": 1 << 40, "3k": 3 << 10} {
		got, err := parseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1", "8X", "G", "1.5G", "9999999999T"} {
		_, err := parseSize(in)
		assert.Error(t, err, in)
	}
	c, err = parseFlags(append(base, "-iscsi", "off"), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, SANConfig{}, c.SAN)

	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no password file": {[]string{"-images", "/x", "-url", "http://a:1"}, "no default password"},
		"no images":        {[]string{"-password-file", "/p", "-url", "http://a:1"}, "-images"},
		"no url":           {[]string{"-images", "/x", "-password-file", "/p"}, "-url"},
		"url with path":    {append(base[:4:4], "-url", "http://a:1/x"), "-url"},
		"url with query":   {append(base[:4:4], "-url", "http://a:1/?a=${x}"), "-url"},
		"ftp url":          {append(base[:4:4], "-url", "ftp://a"), "-url"},
		"proxy no iface":   {append(base, "-dhcp", "proxy"), "-iface"},
		"proxy no addr":    {append(base, "-dhcp", "proxy", "-iface", "eth0"), "-addr"},
		"bad dhcp":         {append(base, "-dhcp", "lab"), "want off or proxy"},
		"stray":            {append(base, "stray"), "unexpected argument"},
		"iscsi no port":    {append(base, "-iscsi", "3260"), "-iscsi"},
		"iscsi port 0":     {append(base, "-iscsi", ":0"), "-iscsi"},
		"iscsi ipv6 host":  {append(base, "-iscsi-host", "fe80::1"), "-iscsi-host"},
		"no overlays":      {append(base, "-overlays", ""), "-overlays"},
		"bad overlay cap":  {append(base, "-max-overlay", "lots"), "-max-overlay"},
		"wait too short":   {append(base, "-wait", "100ms"), "-wait"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		assert.ErrorContains(t, err, tc.want, name)
	}
	_, err = parseFlags([]string{"-h"}, io.Discard)
	assert.True(t, errors.Is(err, flag.ErrHelp))
}

func TestReadCHAP(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"pool:twelvebytes+\n": "",
		"nocolon\n":           "USER:SECRET",
		":twelvebytes+":       "USER:SECRET",
		"pool:short":          "-chap-file",
		"pool:twelve${x}+":    "-chap-file",
	} {
		p := filepath.Join(dir, "chap")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		ch, err := readCHAP(p)
		if want == "" {
			require.NoError(t, err)
			assert.Equal(t, "pool", ch.User)
			assert.Equal(t, "twelvebytes+", ch.Secret)
			continue
		}
		assert.ErrorContains(t, err, want, body)
	}
	_, err := readCHAP(filepath.Join(dir, "missing"))
	assert.ErrorContains(t, err, "-chap-file")
}

// The server refuses to start without a real password, and with a corrupt state
// file; it never falls back to a default.
func TestRunRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	images := filepath.Join(dir, "images")
	require.NoError(t, os.Mkdir(images, 0o755))
	pw := filepath.Join(dir, "pw")
	state := filepath.Join(dir, "pool.json")
	args := func() []string {
		return []string{"-images", images, "-password-file", pw, "-state", state, "-url", "http://127.0.0.1:1", "-http", "127.0.0.1:0"}
	}
	var stderr bytes.Buffer
	assert.Equal(t, 1, run(args(), &stderr), "missing password file")
	assert.Contains(t, stderr.String(), "-password-file")

	require.NoError(t, os.WriteFile(pw, []byte("short\n"), 0o600))
	stderr.Reset()
	assert.Equal(t, 1, run(args(), &stderr))
	assert.Contains(t, stderr.String(), "at least 12")

	require.NoError(t, os.WriteFile(pw, []byte("\n"), 0o600))
	stderr.Reset()
	assert.Equal(t, 1, run(args(), &stderr), "an empty password file must not mean no password")

	require.NoError(t, os.WriteFile(pw, []byte(testPassword+"\n"), 0o600))
	require.NoError(t, os.WriteFile(state, []byte(`{"version":1,"machines":{`), 0o600))
	stderr.Reset()
	assert.Equal(t, 1, run(args(), &stderr))
	assert.Contains(t, stderr.String(), "corrupt")

	got, err := readPassword(pw)
	require.NoError(t, err)
	assert.Equal(t, testPassword, got, "the trailing newline is not part of the password")
	_, err = NewPool(state+".new", images, "http://127.0.0.1:1", "", nil)
	assert.Error(t, err)
}

// A PXE ROM's DHCP request, fed to the pool's policy, makes the machine appear at
// stage "dhcp" and gets iPXE; iPXE's own request gets the short bootstrap URL.
func TestDHCPPolicyRecordsMachines(t *testing.T) {
	tp := newTestPool(t)
	pol := tp.DHCPPolicy(netip.MustParseAddr("192.0.2.1"))
	hw := net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x01}

	pxe, err := dhcpv4.NewDiscovery(hw,
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)))
	require.NoError(t, err)
	c, ok := dhcpboot.Classify(pxe)
	require.True(t, ok)
	b, err := pol.Boot(context.Background(), &c)
	require.NoError(t, err)
	assert.Contains(t, b.File, ".efi")
	m, ok := tp.Store.Machine(hw.String())
	require.True(t, ok, "a DHCP request alone makes the machine appear")
	assert.Equal(t, StageDHCP, m.Stage)
	assert.NotEmpty(t, m.Arch)

	ipxe, err := dhcpv4.NewDiscovery(hw,
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003010")),
		dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")))
	require.NoError(t, err)
	c, ok = dhcpboot.Classify(ipxe)
	require.True(t, ok)
	b, err = pol.Boot(context.Background(), &c)
	require.NoError(t, err)
	assert.Equal(t, tp.URL+"/bootstrap.ipxe", b.File)
	assert.Less(t, len(b.File), 255)
	assert.False(t, strings.Contains(b.File, "${"), "the DHCP file name stays short; the identity URL comes from the bootstrap script")
}
