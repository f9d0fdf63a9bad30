package netboot

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseArgs(t *testing.T) {
	p, err := ParseArgs("tftp=10.0.0.1", "tftp6=fd00::1", "http=http://10.0.0.1:8080/", "script=http://10.0.0.1/boot.ipxe",
		"script-fallback=tftp://10.0.0.1/boot.ipxe", "user-class=thin", "root-path=nfs:10.0.0.1:/r", "nbp=7:snponly.efi", "nbp=11:arm.efi")
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.1", p.TFTPServer.String())
	assert.Equal(t, "fd00::1", p.TFTPServer6.String())
	assert.Equal(t, map[iana.Arch]string{7: "snponly.efi", 11: "arm.efi"}, p.NBP)
	assert.Equal(t, "thin", p.UserClass)

	for _, bad := range [][]string{
		{}, {"tftp"}, {"tftp=fd00::1"}, {"tftp6=10.0.0.1"}, {"tftp=nope"}, {"nbp=x:y", "tftp=10.0.0.1"},
		{"nbp=7:", "tftp=10.0.0.1"}, {"colour=blue", "tftp=10.0.0.1"},
	} {
		_, err := ParseArgs(bad...)
		assert.Error(t, err, "%q", bad)
	}
	_, err = Setup4("nope")
	assert.Error(t, err)
	_, err = Setup6("nope")
	assert.Error(t, err)
}

func TestSetup4Handler(t *testing.T) {
	h, err := Plugin.Setup4("tftp=10.0.0.1", "script=http://10.0.0.1/boot.ipxe")
	require.NoError(t, err)
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	req, _ := dhcpv4.NewDiscovery(mac,
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)))
	resp, _ := dhcpv4.NewReplyFromRequest(req)
	out, stop := h(req, resp)
	assert.False(t, stop, "the chain goes on (address plugins)")
	assert.Equal(t, "undionly.kpxe", out.BootFileName)
	assert.Equal(t, "10.0.0.1", out.ServerIPAddr.String())

	req, _ = dhcpv4.NewDiscovery(mac, dhcpv4.WithUserClass("iPXE", false))
	resp, _ = dhcpv4.NewReplyFromRequest(req)
	out, _ = h(req, resp)
	assert.Equal(t, "http://10.0.0.1/boot.ipxe", out.BootFileName)

	h6, err := Plugin.Setup6("tftp6=fd00::1", "script=http://[fd00::1]/boot.ipxe")
	require.NoError(t, err)
	sol, _ := dhcpv6.NewSolicit(mac, dhcpv6.WithNetboot, dhcpv6.WithArchType(iana.EFI_X86_64))
	adv, _ := dhcpv6.NewAdvertiseFromSolicit(sol)
	h6(sol, adv)
	assert.Equal(t, "tftp://[fd00::1]/ipxe.efi", adv.Options.BootFileURL())
}
