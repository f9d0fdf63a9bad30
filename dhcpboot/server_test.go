package dhcpboot

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func labServer(t *testing.T, file string, clk *fakeClock) *Server {
	return &Server{
		Addr:       netip.MustParseAddr("10.9.0.1"),
		RangeStart: netip.MustParseAddr("10.9.0.100"),
		RangeEnd:   netip.MustParseAddr("10.9.0.103"),
		Router:     netip.MustParseAddr("10.9.0.1"),
		DNS:        []netip.Addr{netip.MustParseAddr("10.9.0.53")},
		LeaseTime:  10 * time.Minute,
		LeaseFile:  file,
		Now:        clk.Now,
		Reservations: map[string]netip.Addr{
			"02:00:00:00:00:99": netip.MustParseAddr("10.9.0.50"),
		},
		Policy: testPolicy(),
	}
}

func mac(n byte) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, n} }

// dora runs DISCOVER/OFFER/REQUEST/ACK for hw through s.Handle.
func dora(t *testing.T, s *Server, hw net.HardwareAddr, mods ...dhcpv4.Modifier) (offer, ack *dhcpv4.DHCPv4) {
	t.Helper()
	ctx := context.Background()
	d, err := dhcpv4.NewDiscovery(hw, mods...)
	require.NoError(t, err)
	offer, err = s.Handle(ctx, d)
	require.NoError(t, err)
	require.NotNil(t, offer, "no offer for %s", hw)
	require.Equal(t, dhcpv4.MessageTypeOffer, offer.MessageType())
	r, err := dhcpv4.NewRequestFromOffer(offer, mods...)
	require.NoError(t, err)
	ack, err = s.Handle(ctx, r)
	require.NoError(t, err)
	require.NotNil(t, ack)
	return offer, ack
}

func TestServerDORAAndOptions(t *testing.T) {
	clk := &fakeClock{time.Unix(1_800_000_000, 0)}
	s := labServer(t, "", clk)
	offer, ack := dora(t, s, mac(1))
	assert.Equal(t, dhcpv4.MessageTypeAck, ack.MessageType())
	assert.Equal(t, "10.9.0.100", offer.YourIPAddr.String())
	assert.Equal(t, offer.YourIPAddr, ack.YourIPAddr)
	assert.Equal(t, "10.9.0.1", ack.ServerIdentifier().String())
	assert.Equal(t, net.IPMask{255, 255, 255, 0}, ack.SubnetMask())
	assert.Equal(t, "10.9.0.1", ack.Router()[0].String())
	assert.Equal(t, "10.9.0.53", ack.DNS()[0].String())
	assert.Equal(t, 10*time.Minute, ack.IPAddressLeaseTime(0))
	assert.Empty(t, ack.BootFileName, "plain client gets no boot file")

	// A BIOS PXE ROM gets an address and its boot file in OFFER and ACK.
	pxe := []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0)}
	offer, ack = dora(t, s, mac(2), pxe...)
	assert.Equal(t, "10.9.0.101", ack.YourIPAddr.String())
	for _, m := range []*dhcpv4.DHCPv4{offer, ack} {
		assert.Equal(t, "undionly.kpxe", m.BootFileName)
		assert.Equal(t, "10.0.0.1", m.ServerIPAddr.String())
		assert.Empty(t, m.ClassIdentifier(), "a DHCP-only offer: no PXEClient, so EDK2 does no boot-server discovery")
		assert.False(t, m.Options.Has(dhcpv4.OptionVendorSpecificInformation))
	}
	// Reserved MAC gets its address; nobody else can take it.
	_, ack = dora(t, s, mac(0x99))
	assert.Equal(t, "10.9.0.50", ack.YourIPAddr.String())
	assert.Len(t, s.Leases(), 3)
}

func TestServerLifecycle(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{time.Unix(1_800_000_000, 0)}
	s := labServer(t, "", clk)
	_, ack := dora(t, s, mac(1))
	ip := ack.YourIPAddr

	t.Run("renew extends", func(t *testing.T) {
		clk.t = clk.t.Add(6 * time.Minute)
		r, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(mac(1)), dhcpv4.WithClientIP(ip))
		resp, err := s.Handle(ctx, r)
		require.NoError(t, err)
		assert.Equal(t, dhcpv4.MessageTypeAck, resp.MessageType())
		assert.Equal(t, ip, resp.YourIPAddr)
	})
	t.Run("renew of someone else's address is NAKed", func(t *testing.T) {
		r, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(mac(7)), dhcpv4.WithClientIP(ip))
		resp, _ := s.Handle(ctx, r)
		require.NotNil(t, resp)
		assert.Equal(t, dhcpv4.MessageTypeNak, resp.MessageType())
	})
	t.Run("init-reboot to a foreign network is NAKed", func(t *testing.T) {
		r, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(mac(1)),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IP{192, 168, 77, 5})))
		resp, _ := s.Handle(ctx, r)
		require.NotNil(t, resp)
		assert.Equal(t, dhcpv4.MessageTypeNak, resp.MessageType())
	})
	t.Run("request selecting another server is silent", func(t *testing.T) {
		r, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(mac(3)),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IP{10, 9, 0, 102})),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP{10, 9, 0, 254})))
		resp, _ := s.Handle(ctx, r)
		assert.Nil(t, resp)
	})
	t.Run("inform gets options, no address", func(t *testing.T) {
		r, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeInform), dhcpv4.WithHwAddr(mac(1)), dhcpv4.WithClientIP(ip))
		resp, _ := s.Handle(ctx, r)
		require.NotNil(t, resp)
		assert.Equal(t, dhcpv4.MessageTypeAck, resp.MessageType())
		assert.True(t, resp.YourIPAddr.IsUnspecified())
		assert.False(t, resp.Options.Has(dhcpv4.OptionIPAddressLeaseTime))
		assert.Equal(t, "10.9.0.53", resp.DNS()[0].String())
	})
	t.Run("release frees, same client gets it back", func(t *testing.T) {
		r, _ := dhcpv4.NewReleaseFromACK(ack)
		resp, _ := s.Handle(ctx, r)
		assert.Nil(t, resp)
		_, ack2 := dora(t, s, mac(1))
		assert.Equal(t, ip, ack2.YourIPAddr)
	})
	t.Run("decline quarantines the address", func(t *testing.T) {
		r, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeDecline), dhcpv4.WithHwAddr(mac(1)),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP{10, 9, 0, 1})))
		resp, _ := s.Handle(ctx, r)
		assert.Nil(t, resp)
		_, ack2 := dora(t, s, mac(1))
		assert.NotEqual(t, ip, ack2.YourIPAddr)
	})
}

func TestServerExhaustionAndExpiry(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{time.Unix(1_800_000_000, 0)}
	s := labServer(t, "", clk)
	seen := map[string]bool{}
	for i := byte(1); i <= 4; i++ {
		_, ack := dora(t, s, mac(i))
		assert.False(t, seen[ack.YourIPAddr.String()], "duplicate %s", ack.YourIPAddr)
		seen[ack.YourIPAddr.String()] = true
	}
	d, _ := dhcpv4.NewDiscovery(mac(5))
	resp, err := s.Handle(ctx, d)
	require.NoError(t, err)
	assert.Nil(t, resp, "pool of 4 is exhausted")

	// A REQUEST for a taken address is NAKed.
	r, _ := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(mac(5)),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IP{10, 9, 0, 100})))
	resp, _ = s.Handle(ctx, r)
	require.NotNil(t, resp)
	assert.Equal(t, dhcpv4.MessageTypeNak, resp.MessageType())

	// Leases expire; then the address can go to another machine.
	clk.t = clk.t.Add(11 * time.Minute)
	_, ack := dora(t, s, mac(5))
	assert.True(t, seen[ack.YourIPAddr.String()])
}

func TestServerLeaseFileSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "leases")
	clk := &fakeClock{time.Unix(1_800_000_000, 0)}
	s := labServer(t, file, clk)
	got := map[string]string{}
	for i := byte(1); i <= 3; i++ {
		_, ack := dora(t, s, mac(i))
		got[mac(i).String()] = ack.YourIPAddr.String()
	}
	// Simulate a crash: no Close; a torn record at the end of the file.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString("L 020000000009 10.9.0.1")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	s2 := labServer(t, file, clk)
	// Known clients get their address back; a new one gets a fresh one.
	for i := byte(1); i <= 3; i++ {
		d, _ := dhcpv4.NewDiscovery(mac(i))
		offer, err := s2.Handle(context.Background(), d)
		require.NoError(t, err)
		assert.Equal(t, got[mac(i).String()], offer.YourIPAddr.String(), "mac %d", i)
	}
	_, ack := dora(t, s2, mac(4))
	for _, v := range got {
		assert.NotEqual(t, v, ack.YourIPAddr.String(), "address given twice after restart")
	}
	d, _ := dhcpv4.NewDiscovery(mac(9))
	resp, _ := s2.Handle(context.Background(), d)
	assert.Nil(t, resp, "pool exhausted: the restart remembered every lease")
	require.NoError(t, s2.Close())
	assert.Len(t, s2.Leases(), 4)

	// No temp files left behind.
	ents, _ := os.ReadDir(dir)
	assert.Len(t, ents, 1)
}

func TestServerConfigErrors(t *testing.T) {
	for _, s := range []*Server{
		{},
		{Addr: netip.MustParseAddr("10.0.0.1"), RangeStart: netip.MustParseAddr("10.0.0.9"), RangeEnd: netip.MustParseAddr("10.0.0.2")},
		{Addr: netip.MustParseAddr("10.0.0.1"), RangeStart: netip.MustParseAddr("10.0.1.2"), RangeEnd: netip.MustParseAddr("10.0.1.9")},
		{Addr: netip.MustParseAddr("10.0.0.1"), RangeStart: netip.MustParseAddr("10.0.0.2"), RangeEnd: netip.MustParseAddr("10.0.0.9"), Reservations: map[string]netip.Addr{"zz": netip.MustParseAddr("10.0.0.3")}},
	} {
		d, _ := dhcpv4.NewDiscovery(mac(1))
		_, err := s.Handle(context.Background(), d)
		assert.Error(t, err)
	}
}

func TestServerOffersArePruned(t *testing.T) {
	clk := &fakeClock{time.Unix(1_800_000_000, 0)}
	s := &Server{
		Addr:       netip.MustParseAddr("10.0.0.1"),
		Subnet:     netip.MustParsePrefix("10.0.0.0/8"),
		RangeStart: netip.MustParseAddr("10.1.0.0"),
		RangeEnd:   netip.MustParseAddr("10.1.255.255"),
		Now:        clk.Now,
	}
	for i := range 10000 {
		d, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)})
		offer, err := s.Handle(context.Background(), d)
		require.NoError(t, err)
		require.NotNil(t, offer)
		clk.t = clk.t.Add(100 * time.Millisecond) // offers expire after 60 s
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Less(t, len(s.table.offers), 5000, "expired offers pruned")
	assert.Equal(t, len(s.table.offers), len(s.table.offerOf))
}
