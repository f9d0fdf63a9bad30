package dhcpboot

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func solicit(t testing.TB, mods ...dhcpv6.Modifier) *dhcpv6.Message {
	t.Helper()
	s, err := dhcpv6.NewSolicit(testMAC, mods...)
	require.NoError(t, err)
	m, err := dhcpv6.MessageFromBytes(s.ToBytes())
	require.NoError(t, err)
	return m
}

func vendor6(s string) dhcpv6.Modifier {
	return dhcpv6.WithOption(&dhcpv6.OptVendorClass{EnterpriseNumber: EnterprisePXE, Data: [][]byte{[]byte(s)}})
}

func TestHandler6(t *testing.T) {
	p := &Chainload{
		TFTPServer6: netip.MustParseAddr("fd00::1"),
		HTTPBase:    "http://[fd00::1]:8080/",
		Script:      "http://[fd00::1]:8080/boot.ipxe",
	}
	tests := []struct {
		name   string
		mods   []dhcpv6.Modifier
		stage  Stage
		url    string
		vendor bool
	}{
		{"x64 UEFI PXE", []dhcpv6.Modifier{dhcpv6.WithNetboot, dhcpv6.WithArchType(iana.EFI_X86_64), vendor6("PXEClient:Arch:00007:UNDI:003016")}, StagePXE, "tftp://[fd00::1]/ipxe.efi", false},
		{"old x64 numbering 9", []dhcpv6.Modifier{dhcpv6.WithNetboot, dhcpv6.WithArchType(iana.EFI_BC)}, StagePXE, "tftp://[fd00::1]/ipxe.efi", false},
		{"UEFI HTTP Boot", []dhcpv6.Modifier{dhcpv6.WithNetboot, dhcpv6.WithArchType(iana.EFI_X86_64_HTTP), vendor6("HTTPClient:Arch:00016:UNDI:003016")}, StageHTTP, "http://[fd00::1]:8080/ipxe.efi", true},
		{"iPXE", []dhcpv6.Modifier{dhcpv6.WithNetboot, dhcpv6.WithArchType(iana.EFI_X86_64), dhcpv6.WithUserClass([]byte("iPXE"))}, StageIPXE, "http://[fd00::1]:8080/boot.ipxe", false},
		{"arch only in vendor class", []dhcpv6.Modifier{dhcpv6.WithNetboot, vendor6("PXEClient:Arch:00011:UNDI:003016")}, StagePXE, "tftp://[fd00::1]/ipxe-arm64.efi", false},
		{"boot client not asking for 59", []dhcpv6.Modifier{dhcpv6.WithArchType(iana.EFI_X86_64)}, StagePXE, "", false},
		{"plain client", []dhcpv6.Modifier{dhcpv6.WithNetboot}, StageNone, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := solicit(t, tt.mods...)
			c, ok := Classify6(req)
			assert.Equal(t, tt.stage != StageNone, ok)
			assert.Equal(t, tt.stage, c.Stage)
			assert.Equal(t, testMAC, c.MAC)
			resp, err := dhcpv6.NewAdvertiseFromSolicit(req)
			require.NoError(t, err)
			out, stop := Handler6(p)(req, resp)
			assert.False(t, stop)
			assert.Same(t, resp, out)
			assert.Equal(t, tt.url, resp.Options.BootFileURL())
			assert.Equal(t, tt.vendor, len(resp.Options.VendorClass(EnterprisePXE)) > 0)
		})
	}
	t.Run("relayed request and boot params", func(t *testing.T) {
		req := solicit(t, dhcpv6.WithNetboot, dhcpv6.WithUserClass([]byte("iPXE")))
		relay, err := dhcpv6.EncapsulateRelay(req, dhcpv6.MessageTypeRelayForward, net.ParseIP("fd00::2"), net.ParseIP("fe80::1"))
		require.NoError(t, err)
		pol := PolicyFunc(func(_ context.Context, c *Client) (Boot, error) {
			return Boot{File: "http://x/vmlinuz", BootParams: []string{"console=ttyS0", "ip=dhcp"}}, nil
		})
		resp, _ := dhcpv6.NewAdvertiseFromSolicit(req)
		h := &Handler{Policy: pol}
		ok, err := h.Answer6(context.Background(), relay, resp)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, []string{"console=ttyS0", "ip=dhcp"}, resp.Options.BootFileParam())
	})
	t.Run("policy path without URL is refused", func(t *testing.T) {
		req := solicit(t, dhcpv6.WithNetboot, dhcpv6.WithArchType(iana.EFI_X86_64))
		resp, _ := dhcpv6.NewAdvertiseFromSolicit(req)
		h := &Handler{Policy: PolicyFunc(func(context.Context, *Client) (Boot, error) { return Boot{File: "ipxe.efi"}, nil })}
		ok, err := h.Answer6(context.Background(), req, resp)
		assert.False(t, ok)
		assert.ErrorIs(t, err, ErrNotURL)
		assert.Empty(t, resp.Options.BootFileURL())
	})
	t.Run("PXE over v6 without TFTPServer6", func(t *testing.T) {
		req := solicit(t, dhcpv6.WithNetboot, dhcpv6.WithArchType(iana.EFI_X86_64))
		resp, _ := dhcpv6.NewAdvertiseFromSolicit(req)
		h := &Handler{Policy: &Chainload{Script: "http://x/"}}
		_, err := h.Answer6(context.Background(), req, resp)
		assert.ErrorIs(t, err, ErrUnknownArch)
	})
}

// FuzzClassify6: arbitrary bytes never panic Classify6 or the DHCPv6
// handler, and non-boot messages get no boot options.
func FuzzClassify6(f *testing.F) {
	for _, mods := range [][]dhcpv6.Modifier{
		{dhcpv6.WithNetboot, dhcpv6.WithArchType(iana.EFI_X86_64), vendor6("PXEClient:Arch:00007")},
		{dhcpv6.WithNetboot, dhcpv6.WithUserClass([]byte("iPXE"))},
		{dhcpv6.WithNetboot, vendor6("HTTPClient:Arch:00016")},
	} {
		s, _ := dhcpv6.NewSolicit(testMAC, mods...)
		f.Add(s.ToBytes())
	}
	f.Add([]byte{1, 0, 0, 0})
	h := Handler6(&Chainload{TFTPServer6: netip.MustParseAddr("fd00::1"), HTTPBase: "http://x/", Script: "http://x/s"})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv6.FromBytes(b)
		if err != nil {
			return
		}
		_, ok := Classify6(m)
		resp, err := dhcpv6.NewMessage()
		if err != nil {
			return
		}
		h(m, resp)
		if !ok && resp.Options.BootFileURL() != "" {
			t.Fatal("boot URL for a non-boot message")
		}
	})
}
