package dhcpboot

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// settleGoroutines waits (bounded) for the goroutine count to drop to n.
func settleGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines leaked: %d > %d\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeAndShutdownOnLoopback: both servers answer through sockets they
// are given (here loopback, unprivileged), stop on Shutdown with
// ErrServerClosed, and leave no goroutine behind.
func TestServeAndShutdownOnLoopback(t *testing.T) {
	base := runtime.NumGoroutine()
	ctx := context.Background()

	// Lab server: its replies go to port 68 or 67, which an unprivileged
	// test cannot bind, so only its lifecycle under traffic is checked here
	// (replies are checked in the namespace tests).
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	s := &Server{Addr: netip.MustParseAddr("127.0.0.1"), Subnet: netip.MustParsePrefix("127.0.0.0/8"),
		RangeStart: netip.MustParseAddr("127.0.0.100"), RangeEnd: netip.MustParseAddr("127.0.0.200")}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(conn) }()
	// Traffic the server must survive: garbage and a plain DISCOVER.
	c, err := net.Dial("udp4", conn.LocalAddr().String())
	require.NoError(t, err)
	_, _ = c.Write([]byte("garbage"))
	d, _ := dhcpv4.NewDiscovery(testMAC)
	_, _ = c.Write(d.ToBytes())
	c.Close()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(sctx))
	assert.ErrorIs(t, <-errc, ErrServerClosed)
	assert.ErrorIs(t, s.Serve(conn), ErrServerClosed, "a closed server does not serve again")

	// ProxyServer: the 4011 answer goes back to the request's source
	// address and port, from the 4011 socket, so loopback works end to end.
	c67, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	c4011, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	p := &ProxyServer{Addr: netip.MustParseAddr("127.0.0.1"), Policy: testPolicy()}
	perr := make(chan error, 1)
	go func() { perr <- p.Serve(c67, c4011) }()
	cl, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer cl.Close()
	req := wire(t, vendorCl(uefiVC), arch(0, 7), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithClientIP(net.IP{127, 0, 0, 1}))
	_, err = cl.WriteTo(req.ToBytes(), c4011.LocalAddr())
	require.NoError(t, err)
	require.NoError(t, cl.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 1500)
	n, from, err := cl.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, c4011.LocalAddr().String(), from.String(), "answer from the 4011 socket")
	ack, err := dhcpv4.FromBytes(buf[:n])
	require.NoError(t, err)
	assert.Equal(t, "ipxe.efi", ack.BootFileName)
	require.NoError(t, p.Shutdown(sctx))
	assert.ErrorIs(t, <-perr, ErrServerClosed)

	settleGoroutines(t, base)
}
