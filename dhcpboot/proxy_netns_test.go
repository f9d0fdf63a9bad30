package dhcpboot

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/netbootkit/netboot/internal/lab"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProxyServerBesideDnsmasq runs dnsmasq as the network's address server
// and ProxyServer on the same host and interface (both on port 67), and
// checks on the wire, with an nclient4-based client, that dnsmasq still
// hands out addresses, the proxy answers boot clients with address-less
// offers, UEFI gets its file from port 4011 (answered from port 4011 to the
// client's source port), and ordinary clients get nothing from the proxy.
func TestProxyServerBesideDnsmasq(t *testing.T) {
	lab.Require(t, "dnsmasq")
	// Default dnsmasq binds 0.0.0.0:67 without SO_REUSEADDR; with
	// --bind-interfaces it sets SO_REUSEADDR and SO_REUSEPORT. Either way
	// the proxy must leave dnsmasq's socket alone.
	for _, mode := range []string{"default", "--bind-interfaces"} {
		t.Run(mode, func(t *testing.T) { testProxyBesideDnsmasq(t, mode) })
	}
}

func testProxyBesideDnsmasq(t *testing.T, mode string) {
	n := lab.NewNet(t)
	dir := t.TempDir()
	srv := n.Server
	args := []string{"-k", "--conf-file=/dev/null", "--port=0", "--user=root",
		"--interface=" + srv.Iface, "--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,1h",
		"--dhcp-leasefile=" + filepath.Join(dir, "dnsmasq.leases"), "--pid-file=" + filepath.Join(dir, "dnsmasq.pid"),
		"--no-ping", "--log-dhcp"}
	if mode != "default" {
		args = append(args, mode)
	}
	dnsmasq := srv.Start(t, "dnsmasq", args...)
	// Wait until dnsmasq holds port 67, so the proxy really binds second.
	waitFor(t, 20*time.Second, func() bool {
		out, _ := srv.Run("ss", "-ulnp")
		return strings.Contains(out, ":67 ") && strings.Contains(out, "dnsmasq")
	}, func() string { return dnsmasq.Output() })

	var mu sync.Mutex
	replies := map[string][]int{} // MAC → ports answered
	p := &ProxyServer{
		Interface: srv.Iface,
		Addr:      srv.IP(),
		Policy:    &Chainload{TFTPServer: srv.IP(), Script: "http://10.77.0.1/boot.ipxe"},
		OnReply: func(c *Client, port int, _ *dhcpv4.DHCPv4) {
			mu.Lock()
			defer mu.Unlock()
			replies[c.MAC.String()] = append(replies[c.MAC.String()], port)
		},
	}
	var logs syncBuffer
	p.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	errc := make(chan error, 1)
	// ListenAndServe inside the server's namespace: dnsmasq (default
	// options) holds port 67 without SO_REUSEADDR, so the proxy must share
	// it through a raw socket; 4011 is free and bound normally.
	go func() { errc <- srv.Do(p.ListenAndServe) }()
	waitFor(t, 20*time.Second, func() bool { return strings.Contains(logs.String(), "raw socket") },
		func() string { return "proxy did not start: " + logs.String() })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, p.Shutdown(ctx))
		assert.ErrorIs(t, <-errc, ErrServerClosed)
	})

	isProxyOffer := func(m *dhcpv4.DHCPv4) bool {
		return m.MessageType() == dhcpv4.MessageTypeOffer && m.YourIPAddr.IsUnspecified() && m.ClassIdentifier() == "PXEClient"
	}
	isAddrOffer := func(m *dhcpv4.DHCPv4) bool {
		return m.MessageType() == dhcpv4.MessageTypeOffer && !m.YourIPAddr.IsUnspecified()
	}

	t.Run("BIOS PXE: proxy offer with file, address from dnsmasq", func(t *testing.T) {
		h := n.AddHost("bios")
		cl := newNClient(t, h)
		mods := []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), gen(97, uuid97)}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d, err := dhcpv4.NewDiscovery(h.MAC, mods...)
		require.NoError(t, err)
		po, err := cl.SendAndRead(ctx, cl.RemoteAddr(), d, isProxyOffer)
		require.NoError(t, err, "proxy offer")
		assert.Equal(t, "undionly.kpxe", po.BootFileName)
		assert.Equal(t, srv.IP().String(), po.ServerIPAddr.String())
		assert.Equal(t, srv.IP().String(), po.ServerIdentifier().String())
		assert.Equal(t, []byte{6, 1, 8, 255}, po.Options.Get(dhcpv4.OptionVendorSpecificInformation))
		assert.Equal(t, []byte(uuid97), po.Options.Get(dhcpv4.OptionClientMachineIdentifier))
		assert.False(t, po.Options.Has(dhcpv4.OptionIPAddressLeaseTime))

		d2, _ := dhcpv4.NewDiscovery(h.MAC, mods...)
		ao, err := cl.SendAndRead(ctx, cl.RemoteAddr(), d2, isAddrOffer)
		require.NoError(t, err, "dnsmasq offer")
		lease, err := cl.RequestFromOffer(ctx, ao, mods...)
		require.NoError(t, err)
		a, _ := netip.AddrFromSlice(lease.ACK.YourIPAddr.To4())
		assert.True(t, a.Compare(netip.MustParseAddr("10.77.0.100")) >= 0 && a.Compare(netip.MustParseAddr("10.77.0.150")) <= 0, "dnsmasq address %s", a)
	})

	t.Run("UEFI PXE: offer without file, then port 4011", func(t *testing.T) {
		h := n.AddHost("uefi")
		cl := newNClient(t, h)
		mods := []dhcpv4.Modifier{vendorCl(uefiVC), arch(0, 7), gen(97, uuid97)}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d, _ := dhcpv4.NewDiscovery(h.MAC, mods...)
		po, err := cl.SendAndRead(ctx, cl.RemoteAddr(), d, isProxyOffer)
		require.NoError(t, err, "proxy offer")
		assert.Empty(t, po.BootFileName)
		assert.False(t, po.Options.Has(dhcpv4.OptionVendorSpecificInformation), "no 43: EDK2 goes to 4011")

		d2, _ := dhcpv4.NewDiscovery(h.MAC, mods...)
		ao, err := cl.SendAndRead(ctx, cl.RemoteAddr(), d2, isAddrOffer)
		require.NoError(t, err)
		lease, err := cl.RequestFromOffer(ctx, ao, mods...)
		require.NoError(t, err)
		ip := lease.ACK.YourIPAddr.To4()
		_, err = h.Run("ip", "addr", "add", ip.String()+"/24", "dev", h.Iface)
		require.NoError(t, err)

		var uc net.PacketConn
		require.NoError(t, h.Do(func() (err error) {
			uc, err = net.ListenPacket("udp4", ip.String()+":0")
			return err
		}))
		defer uc.Close()
		req, err := dhcpv4.New(dhcpv4.WithHwAddr(h.MAC), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithClientIP(ip), vendorCl(uefiVC), arch(0, 7), gen(97, uuid97), gen(43, "\x47\x04\x80\x00\x00\x00\xff"))
		require.NoError(t, err)
		_, err = uc.WriteTo(req.ToBytes(), &net.UDPAddr{IP: net.IP(srv.IP().AsSlice()), Port: PXEServerPort})
		require.NoError(t, err)
		require.NoError(t, uc.SetReadDeadline(time.Now().Add(15*time.Second)))
		buf := make([]byte, 1500)
		nr, from, err := uc.ReadFrom(buf)
		require.NoError(t, err, "4011 answer")
		assert.Equal(t, srv.IP().String()+":4011", from.String(), "answer comes from port 4011")
		ack, err := dhcpv4.FromBytes(buf[:nr])
		require.NoError(t, err)
		assert.Equal(t, req.TransactionID, ack.TransactionID)
		assert.Equal(t, dhcpv4.MessageTypeAck, ack.MessageType())
		assert.Equal(t, "ipxe.efi", ack.BootFileName)
		assert.Equal(t, srv.IP().String(), ack.ServerIPAddr.String())
		assert.Equal(t, "PXEClient", ack.ClassIdentifier())
		assert.Equal(t, []byte{6, 1, 8, 71, 4, 0x80, 0, 0, 0, 255}, ack.Options.Get(dhcpv4.OptionVendorSpecificInformation))
	})

	t.Run("ordinary client: dnsmasq answers, proxy silent", func(t *testing.T) {
		h := n.AddHost("plain")
		cl := newNClient(t, h)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		lease, err := cl.Request(ctx)
		require.NoError(t, err)
		assert.False(t, lease.ACK.YourIPAddr.IsUnspecified())
		mu.Lock()
		defer mu.Unlock()
		assert.Empty(t, replies[h.MAC.String()], "proxy answered a non-boot client")
	})
	mu.Lock()
	defer mu.Unlock()
	assert.NotEmpty(t, replies)
}

// newNClient opens an nclient4 client (raw socket) inside h's namespace.
func newNClient(t *testing.T, h *lab.Host) *nclient4.Client {
	t.Helper()
	_, err := h.Run("ip", "addr", "flush", "dev", h.Iface)
	require.NoError(t, err)
	var cl *nclient4.Client
	require.NoError(t, h.Do(func() (err error) {
		cl, err = nclient4.New(h.Iface, nclient4.WithTimeout(3*time.Second), nclient4.WithRetry(5))
		return err
	}))
	t.Cleanup(func() { cl.Close() })
	return cl
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out; %s", diag())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProxyServerAlone: with port 67 free, the proxy binds it (no raw
// socket) and answers a boot client on the wire.
func TestProxyServerAlone(t *testing.T) {
	n := lab.NewNet(t)
	srv := n.Server
	var logs syncBuffer
	p := &ProxyServer{
		Interface: srv.Iface,
		Addr:      srv.IP(),
		Policy:    &Chainload{TFTPServer: srv.IP(), Script: "http://10.77.0.1/boot.ipxe"},
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Do(p.ListenAndServe) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, p.Shutdown(ctx))
		assert.ErrorIs(t, <-errc, ErrServerClosed)
	})
	h := n.AddHost("ipxe")
	cl := newNClient(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, _ := dhcpv4.NewDiscovery(h.MAC, vendorCl(biosVC), arch(0, 0), userRaw("iPXE"), gen(175, ipxe175))
	offer, err := cl.SendAndRead(ctx, cl.RemoteAddr(), d, nil)
	require.NoError(t, err)
	assert.True(t, offer.YourIPAddr.IsUnspecified())
	assert.Equal(t, "PXEClient", offer.ClassIdentifier())
	assert.Equal(t, "http://10.77.0.1/boot.ipxe", offer.BootFileName)
	assert.NotContains(t, logs.String(), "raw socket", "port 67 was free: bound, not shared")
}
