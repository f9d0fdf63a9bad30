package dhcpboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"golang.org/x/net/bpf"
)

// PXEServerPort is the PXE boot server port (PXE 2.1 "BINL"), where
// firmware asks for its boot file after a proxy offer without one.
const PXEServerPort = 4011

// ErrServerClosed is returned by the Serve methods after Shutdown or Close.
var ErrServerClosed = errors.New("dhcpboot: server closed")

// ProxyServer is a proxyDHCP server (PXE 2.1): it runs beside an existing
// DHCP server that hands out addresses, and answers only network-boot
// clients with their boot file — never with an address.
//
//   - Port 67: a boot client's DISCOVER gets an OFFER with yiaddr 0, option
//     54 = Addr, option 60 "PXEClient" and the boot file (BIOS PXE ROMs,
//     iPXE) or, for UEFI PXE, no file so the firmware asks on 4011.
//   - Port 4011: the client's REQUEST gets an ACK with siaddr and the file,
//     sent from source port 4011 to the client's address and port (iPXE
//     drops 4011 answers from other ports).
//
// Everything else (ordinary clients, REQUESTs meant for the DHCP server,
// garbage) gets silence. ListenAndServe binds to one interface
// (SO_BINDTODEVICE). When another DHCP server on the same host already
// holds port 67, it receives through a raw packet socket instead, so the
// two never fight over the port and the other server keeps every
// datagram. Start the proxy after that server (or set NoBind): a server
// that binds port 67 without SO_REUSEADDR (dnsmasq's default) cannot start
// after a proxy that bound the port itself.
//
// The reply logic is the pure method Reply; the socket code only moves
// bytes.
type ProxyServer struct {
	// Interface is the network interface to serve on ("eth0"). Required by
	// ListenAndServe.
	Interface string
	// Addr is this server's IPv4 address on Interface: the server
	// identifier (option 54) of every answer, and siaddr when the policy
	// gives no NextServer. Required.
	Addr netip.Addr
	// Policy decides each boot client's file. Required.
	Policy Policy
	// DisableBootServer stops ListenAndServe from listening on port 4011.
	// UEFI PXE clients then get no boot file.
	DisableBootServer bool
	// NoBind makes ListenAndServe receive through raw packet sockets and
	// never bind ports 67/4011 (it does so anyway when another server holds
	// the port without SO_REUSEADDR).
	NoBind bool
	// Logger: one debug line per answer, warnings for send errors. Nil:
	// silent.
	Logger *slog.Logger
	// OnReply, if set, is called for each answer before it is sent (port 67
	// or 4011). It must not modify or keep resp.
	OnReply func(c *Client, port int, resp *dhcpv4.DHCPv4)

	mu     sync.Mutex
	conns  []net.PacketConn
	closed bool
	wg     sync.WaitGroup
}

// Reply returns the answer to req received on port (67 or 4011), or nil
// when the server must stay silent. It does no I/O.
func (p *ProxyServer) Reply(ctx context.Context, req *dhcpv4.DHCPv4, port int) *dhcpv4.DHCPv4 {
	c, ok := Classify(req)
	if !ok || !p.Addr.Is4() {
		return nil
	}
	self := net.IP(p.Addr.AsSlice())
	var mt dhcpv4.MessageType
	var mode Mode
	switch port {
	case dhcpv4.ServerPort:
		switch c.MessageType {
		case dhcpv4.MessageTypeDiscover:
			mt, mode = dhcpv4.MessageTypeOffer, ModeProxyOffer
		case dhcpv4.MessageTypeRequest:
			// Only a REQUEST that selects us and asks for no address (a few
			// ROMs send one). A REQUEST with option 50 is for the address
			// server, even when it runs on this host with the same server
			// identifier.
			if sid := req.ServerIdentifier(); sid == nil || !sid.Equal(self) || req.Options.Has(dhcpv4.OptionRequestedIPAddress) {
				return nil
			}
			mt, mode = dhcpv4.MessageTypeAck, ModeProxyOffer
		default:
			return nil
		}
	case PXEServerPort:
		if c.MessageType != dhcpv4.MessageTypeRequest && c.MessageType != dhcpv4.MessageTypeInform {
			return nil
		}
		mt, mode = dhcpv4.MessageTypeAck, ModeBootServer
	default:
		return nil
	}
	h := Handler{Policy: p.Policy, Logger: p.Logger}
	resp, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(mt),
		dhcpv4.WithServerIP(self),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(self)),
		dhcpv4.WithYourIP(net.IPv4zero),
	)
	if err != nil {
		return nil
	}
	resp.Options.Del(dhcpv4.OptionClientIdentifier)
	ok, err = h.answerClient(ctx, req, resp, &c, mode)
	if !ok || err != nil {
		return nil
	}
	if p.OnReply != nil {
		p.OnReply(&c, port, resp)
	}
	return resp
}

// ListenAndServe opens UDP port 67 (and 4011 unless DisableBootServer) on
// Interface and serves until Shutdown or Close. Binding port 67 and
// SO_BINDTODEVICE need CAP_NET_BIND_SERVICE and CAP_NET_RAW (or root).
func (p *ProxyServer) ListenAndServe() error {
	if p.Interface == "" {
		return errors.New("dhcpboot: ProxyServer.Interface is required")
	}
	if !p.Addr.Is4() {
		return errors.New("dhcpboot: ProxyServer.Addr must be an IPv4 address")
	}
	c67, err := p.listen(dhcpv4.ServerPort)
	if err != nil {
		return err
	}
	var c4011 net.PacketConn
	if !p.DisableBootServer {
		c, err := p.listen(PXEServerPort)
		if err != nil {
			c67.Close()
			return err
		}
		c4011 = c
	}
	return p.Serve(c67, c4011)
}

// listen binds port on Interface (SO_BINDTODEVICE, SO_REUSEADDR,
// SO_REUSEPORT) when no other socket holds it. When another DHCP server
// already holds the port, or NoBind is set, it receives through a raw
// packet socket instead: the kernel keeps delivering every datagram to the
// other server (joining its SO_REUSEPORT group would steal half of its
// unicast renewals), and the raw socket sees a copy.
func (p *ProxyServer) listen(port int) (net.PacketConn, error) {
	if !p.NoBind {
		// Probe with a plain bind: it fails if anyone holds the port,
		// whatever socket options they used.
		probe, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", port))
		if err == nil {
			probe.Close()
			c, err := server4.NewIPv4UDPConn(p.Interface, &net.UDPAddr{Port: port})
			if err != nil {
				return nil, fmt.Errorf("dhcpboot: proxy port %d on %s: %w", port, p.Interface, err)
			}
			return c, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("dhcpboot: proxy port %d on %s: %w", port, p.Interface, err)
		}
		if p.Logger != nil {
			p.Logger.Info("dhcpboot: port in use by another DHCP server, sharing it through a raw socket", "port", port, "interface", p.Interface)
		}
	}
	c, err := newRawConn(p.Interface, p.Addr, port)
	if err != nil {
		return nil, fmt.Errorf("dhcpboot: proxy raw socket for port %d on %s: %w", port, p.Interface, err)
	}
	return c, nil
}

// rawConn receives UDP datagrams for one port from a raw packet socket and
// sends replies with our address and that port as source (Ethernet
// broadcast), using nclient4's raw UDP connection.
type rawConn struct {
	net.PacketConn // reads: datagrams to any address, this port
	w              net.PacketConn
}

func newRawConn(iface string, self netip.Addr, port int) (*rawConn, error) {
	c, err := nclient4.NewRawUDPConn(iface, port)
	if err != nil {
		return nil, err
	}
	b, ok := c.(*nclient4.BroadcastRawUDPConn)
	if !ok {
		c.Close()
		return nil, errors.New("unexpected raw connection type")
	}
	// Let the kernel drop everything but unfragmented UDP to our port, so
	// a busy interface costs no user-space work. Best effort: the
	// user-space filter in ReadFrom stays in place either way.
	if f, ok := b.PacketConn.(interface {
		SetBPF([]bpf.RawInstruction) error
	}); ok {
		if prog, err := udpPortFilter(uint32(port)); err == nil {
			_ = f.SetBPF(prog)
		}
	}
	return &rawConn{
		PacketConn: c,
		w:          nclient4.NewBroadcastUDPConn(b.PacketConn, &net.UDPAddr{IP: net.IP(self.AsSlice()), Port: port}),
	}, nil
}

// udpPortFilter is a classic BPF program for a SOCK_DGRAM packet socket
// (data starts at the IPv4 header): accept unfragmented UDP datagrams to
// port, drop the rest.
func udpPortFilter(port uint32) ([]bpf.RawInstruction, error) {
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 9, Size: 1},                           // IP protocol
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17, SkipFalse: 6},      // UDP?
		bpf.LoadAbsolute{Off: 6, Size: 2},                           // flags + fragment offset
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 4}, // not a later fragment
		bpf.LoadMemShift{Off: 0},                                    // X = IP header length
		bpf.LoadIndirect{Off: 2, Size: 2},                           // UDP destination port
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: port, SkipFalse: 1},    // our port?
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
}

func (c *rawConn) WriteTo(b []byte, addr net.Addr) (int, error) { return c.w.WriteTo(b, addr) }

// Serve answers on conn67 (proxy offers) and conn4011 (boot server; may be
// nil) until Shutdown or Close, then returns ErrServerClosed. The conns are
// closed on return.
func (p *ProxyServer) Serve(conn67, conn4011 net.PacketConn) error {
	if !p.Addr.Is4() {
		return errors.New("dhcpboot: ProxyServer.Addr must be an IPv4 address")
	}
	if p.Policy == nil {
		return errors.New("dhcpboot: ProxyServer.Policy is required")
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		conn67.Close()
		if conn4011 != nil {
			conn4011.Close()
		}
		return ErrServerClosed
	}
	type pc struct {
		c    net.PacketConn
		port int
	}
	list := []pc{{conn67, dhcpv4.ServerPort}}
	if conn4011 != nil {
		list = append(list, pc{conn4011, PXEServerPort})
	}
	for _, l := range list {
		p.conns = append(p.conns, l.c)
	}
	p.wg.Add(len(list))
	p.mu.Unlock()

	errs := make(chan error, len(list))
	for _, l := range list {
		go func() {
			defer p.wg.Done()
			errs <- p.serveConn(l.c, l.port)
		}()
	}
	err := <-errs
	p.Close()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	return err
}

func (p *ProxyServer) serveConn(conn net.PacketConn, port int) error {
	buf := make([]byte, 4096)
	ctx := context.Background()
	for {
		n, peer, err := conn.ReadFrom(buf)
		if err != nil {
			return err
		}
		req, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			continue
		}
		resp := p.Reply(ctx, req, port)
		if resp == nil {
			continue
		}
		dst := ReplyAddr(req, resp)
		if port == PXEServerPort {
			// Answer where the request came from: iPXE and EDK2 expect the
			// 4011 reply at their source address and port.
			if u, ok := peer.(*net.UDPAddr); ok && u.IP != nil && !u.IP.IsUnspecified() {
				dst = u
			}
		}
		if _, err := conn.WriteTo(resp.ToBytes(), dst); err != nil && p.Logger != nil {
			p.Logger.Warn("dhcpboot: proxy send failed", "dst", dst.String(), "err", err)
		}
	}
}

// Close stops the server at once.
func (p *ProxyServer) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	var first error
	for _, c := range conns {
		if err := c.Close(); err != nil && first == nil && !errors.Is(err, net.ErrClosed) {
			first = err
		}
	}
	return first
}

// Shutdown stops the server and waits for its goroutines to finish, or for
// ctx to end.
func (p *ProxyServer) Shutdown(ctx context.Context) error {
	err := p.Close()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
