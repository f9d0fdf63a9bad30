package dhcpboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// Server is a small DHCPv4 server for a lab network that has no DHCP
// server: one subnet, an address range, static reservations, leases kept
// in a crash-safe file, and boot answers from a Policy.
//
// It handles DISCOVER, REQUEST (selecting, init-reboot, renewing,
// rebinding), RELEASE, DECLINE and INFORM; leases expire; a REQUEST for an
// address the client cannot have gets a NAK. Every lease change is written
// to LeaseFile and fsynced before the ACK leaves, so a restart loses no
// lease and never hands one address to two machines. Requests are
// processed in batches with one fsync per batch (group commit).
//
// Configure the exported fields, then call ListenAndServe (or Serve with a
// socket of your own) and Shutdown or Close to stop.
type Server struct {
	// Interface to serve on (used by ListenAndServe).
	Interface string
	// Addr is this server's IPv4 address: server identifier (54). Required.
	Addr netip.Addr
	// Subnet is the served network (mask, option 1). Zero: Addr/24.
	Subnet netip.Prefix
	// RangeStart and RangeEnd bound the dynamic pool (inclusive). Required.
	RangeStart, RangeEnd netip.Addr
	// Router is option 3 (zero: none).
	Router netip.Addr
	// DNS servers, option 6.
	DNS []netip.Addr
	// DomainName is option 15.
	DomainName string
	// LeaseTime is the lease duration (option 51). Zero: one hour.
	LeaseTime time.Duration
	// Reservations maps a MAC ("52:54:00:12:34:56") to its fixed address.
	// A reserved address is never given to another machine; it may lie
	// outside the range but must be inside Subnet.
	Reservations map[string]netip.Addr
	// LeaseFile is where leases are kept. Empty: memory only.
	LeaseFile string
	// Policy answers boot clients (nil: plain DHCP, no boot options).
	Policy Policy
	// Logger: lease events at debug level, problems at warn. Nil: silent.
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// OnLease is called after a lease is committed (ACK sent next), and
	// OnRelease after a RELEASE or DECLINE freed one. Must not block.
	OnLease   func(Lease)
	OnRelease func(Lease)

	mu      sync.Mutex
	started bool
	table   *leaseTable
	reserve map[string]uint32 // mac bytes → ip
	reservd map[uint32]string // ip → mac bytes
	cursor  uint32
	conn    net.PacketConn
	closed  bool
	done    chan struct{}
	handler Handler
}

// Defaults and fixed timings.
const (
	defaultLeaseTime = time.Hour
	offerHold        = 60 * time.Second // an offered address is kept for the client this long
	declineHold      = 10 * time.Minute // a declined address is not offered for this long
	maxBatch         = 256
)

// ErrPoolExhausted is reported (through Logger) when no address is left.
var ErrPoolExhausted = errors.New("dhcpboot: address pool exhausted")

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// init validates the configuration and loads the lease file. Idempotent.
func (s *Server) init() error {
	if s.started {
		return nil
	}
	if !s.Addr.Is4() || !s.RangeStart.Is4() || !s.RangeEnd.Is4() {
		return errors.New("dhcpboot: Server needs IPv4 Addr, RangeStart and RangeEnd")
	}
	if !s.Subnet.IsValid() {
		s.Subnet = netip.PrefixFrom(s.Addr, 24).Masked()
	}
	if u32(s.RangeStart) > u32(s.RangeEnd) {
		return fmt.Errorf("dhcpboot: range %s-%s is empty", s.RangeStart, s.RangeEnd)
	}
	if !s.Subnet.Contains(s.RangeStart) || !s.Subnet.Contains(s.RangeEnd) {
		return fmt.Errorf("dhcpboot: range %s-%s is outside %s", s.RangeStart, s.RangeEnd, s.Subnet)
	}
	s.reserve = map[string]uint32{}
	s.reservd = map[uint32]string{}
	for m, ip := range s.Reservations {
		hw, err := net.ParseMAC(m)
		if err != nil {
			return fmt.Errorf("dhcpboot: reservation %q: %w", m, err)
		}
		if !ip.Is4() || !s.Subnet.Contains(ip) {
			return fmt.Errorf("dhcpboot: reservation %s → %s is outside %s", m, ip, s.Subnet)
		}
		s.reserve[string(hw)] = u32(ip)
		s.reservd[u32(ip)] = string(hw)
	}
	s.table = newLeaseTable()
	if s.LeaseFile != "" {
		lf, err := openLeaseFile(s.LeaseFile, s.table)
		if err != nil {
			return err
		}
		s.table.file = lf
	}
	s.cursor = u32(s.RangeStart)
	s.handler = Handler{Policy: s.Policy, Logger: s.Logger, Mode: ModeDHCP}
	s.started = true
	return nil
}

// Leases returns the current leases (live and expired ones still
// remembered), for inspection.
func (s *Server) Leases() []Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.table == nil {
		return nil
	}
	out := make([]Lease, 0, len(s.table.byMAC))
	for _, l := range s.table.byMAC {
		out = append(out, Lease{MAC: net.HardwareAddr(l.mac), IP: ip4(l.ip), Expiry: time.Unix(l.expiry, 0)})
	}
	return out
}

// ListenAndServe opens UDP port 67 on Interface (SO_BINDTODEVICE,
// broadcast) and serves until Shutdown or Close.
func (s *Server) ListenAndServe() error {
	conn, err := server4.NewIPv4UDPConn(s.Interface, &net.UDPAddr{Port: dhcpv4.ServerPort})
	if err != nil {
		return fmt.Errorf("dhcpboot: listen on %q: %w", s.Interface, err)
	}
	return s.Serve(conn)
}

type inPkt struct {
	buf  []byte
	n    int
	peer net.Addr
}

// Serve answers DHCP requests on conn until Shutdown or Close (then it
// returns ErrServerClosed) or a read error. conn is closed on return.
func (s *Server) Serve(conn net.PacketConn) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return ErrServerClosed
	}
	if s.conn != nil {
		s.mu.Unlock()
		conn.Close()
		return errors.New("dhcpboot: Server already serving")
	}
	if err := s.init(); err != nil {
		s.mu.Unlock()
		conn.Close()
		return err
	}
	s.conn = conn
	s.done = make(chan struct{})
	s.mu.Unlock()
	defer close(s.done)

	// A deep socket buffer absorbs bursts (a rack powering on) while a
	// batch is being fsynced.
	if rb, ok := conn.(interface{ SetReadBuffer(int) error }); ok {
		_ = rb.SetReadBuffer(4 << 20)
	}
	// The reader fills buffers from a free list; the worker handles a
	// batch, commits the lease journal once, then sends the replies.
	free := make(chan []byte, 2*maxBatch)
	for range 2 * maxBatch {
		free <- make([]byte, 1500)
	}
	in := make(chan inPkt, 2*maxBatch)
	readErr := make(chan error, 1)
	go func() {
		defer close(in)
		for {
			buf := <-free
			n, peer, err := conn.ReadFrom(buf)
			if err != nil {
				readErr <- err
				return
			}
			in <- inPkt{buf: buf, n: n, peer: peer}
		}
	}()

	type out struct {
		b   []byte
		dst net.Addr
	}
	var outs []out
	ctx := context.Background()
	for p := range in {
		batch := []inPkt{p}
	drain:
		for len(batch) < maxBatch {
			select {
			case q, ok := <-in:
				if !ok {
					break drain
				}
				batch = append(batch, q)
			default:
				break drain
			}
		}
		outs = outs[:0]
		s.mu.Lock()
		now := s.now()
		for _, q := range batch {
			req, err := dhcpv4.FromBytes(q.buf[:q.n])
			free <- q.buf
			if err != nil {
				continue
			}
			resp := s.reply(ctx, req, now)
			if resp != nil {
				outs = append(outs, out{resp.ToBytes(), ReplyAddr(req, resp)})
			}
		}
		var cerr error
		if s.table.file != nil {
			cerr = s.table.file.commit(s.table)
		}
		s.mu.Unlock()
		if cerr != nil {
			// Without a durable record no ACK may leave.
			if s.Logger != nil {
				s.Logger.Error("dhcpboot: lease commit failed, dropping replies", "err", cerr)
			}
			continue
		}
		for _, o := range outs {
			if _, err := conn.WriteTo(o.b, o.dst); err != nil && s.Logger != nil {
				s.Logger.Warn("dhcpboot: send failed", "dst", o.dst.String(), "err", err)
			}
		}
	}
	err := <-readErr
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	return err
}

// Close stops the server at once and closes the lease file.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	conn := s.conn
	s.mu.Unlock()
	var err error
	if conn != nil {
		err = conn.Close()
		<-s.done
	}
	s.mu.Lock()
	if s.table != nil && s.table.file != nil {
		if cerr := s.table.file.close(); err == nil {
			err = cerr
		}
	}
	s.mu.Unlock()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Shutdown stops the server; the batch being processed finishes and its
// leases are committed. ctx bounds the wait.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Handle answers one request without any socket: it returns the reply (nil
// for silence) and commits lease changes to LeaseFile before returning.
// Serve uses the same logic in batches. Useful for tests and for embedding
// the lab server in another transport.
func (s *Server) Handle(ctx context.Context, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.init(); err != nil {
		return nil, err
	}
	resp := s.reply(ctx, req, s.now())
	if s.table.file != nil {
		if err := s.table.file.commit(s.table); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// reply is the lab server's decision for one request. Lease changes are
// queued in the journal; the caller commits. s.mu is held.
func (s *Server) reply(ctx context.Context, req *dhcpv4.DHCPv4, t time.Time) *dhcpv4.DHCPv4 {
	if req.OpCode != dhcpv4.OpcodeBootRequest || len(req.ClientHWAddr) == 0 {
		return nil
	}
	now := t.Unix()
	mac := string(req.ClientHWAddr)
	self := net.IP(s.Addr.AsSlice())
	sid := req.ServerIdentifier()
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		ip, ok := s.allocate(mac, req.RequestedIPAddress(), now)
		if !ok {
			if s.Logger != nil {
				s.Logger.Warn("dhcpboot: no address for client", "mac", net.HardwareAddr(mac).String(), "err", ErrPoolExhausted)
			}
			return nil
		}
		s.table.offer(mac, ip, now+int64(offerHold/time.Second), now)
		return s.build(ctx, req, dhcpv4.MessageTypeOffer, ip)

	case dhcpv4.MessageTypeRequest:
		if sid != nil && !sid.Equal(self) {
			s.table.dropOffer(mac) // the client chose another server
			return nil
		}
		target := req.RequestedIPAddress()
		if target == nil || target.IsUnspecified() {
			target = req.ClientIPAddr
		}
		t4 := target.To4()
		if t4 == nil || t4.IsUnspecified() {
			return s.nak(req, "no address requested")
		}
		a, _ := netip.AddrFromSlice(t4)
		ip := u32(a)
		if !s.assignable(mac, ip, now) {
			if sid == nil && !s.Subnet.Contains(a) && req.GatewayIPAddr.To4() == nil {
				return s.nak(req, "address not on this network")
			}
			return s.nak(req, "address not available to this client")
		}
		exp := t.Add(s.leaseTime()).Unix()
		l := s.table.set(mac, ip, exp)
		if s.table.file != nil {
			s.table.file.add(l)
		}
		if s.OnLease != nil {
			s.OnLease(Lease{MAC: net.HardwareAddr(mac), IP: a, Expiry: time.Unix(exp, 0)})
		}
		if s.Logger != nil {
			s.Logger.Debug("dhcpboot: lease", "mac", net.HardwareAddr(mac).String(), "ip", a.String())
		}
		return s.build(ctx, req, dhcpv4.MessageTypeAck, ip)

	case dhcpv4.MessageTypeRelease:
		if sid != nil && !sid.Equal(self) {
			return nil
		}
		ci := req.ClientIPAddr.To4()
		if ci == nil {
			return nil
		}
		a, _ := netip.AddrFromSlice(ci)
		if l, ok := s.table.byMAC[mac]; ok && l.ip == u32(a) && l.expiry > now {
			l = s.table.set(mac, l.ip, now)
			if s.table.file != nil {
				s.table.file.add(l)
			}
			if s.OnRelease != nil {
				s.OnRelease(Lease{MAC: net.HardwareAddr(mac), IP: a, Expiry: t})
			}
		}
		return nil

	case dhcpv4.MessageTypeDecline:
		if sid != nil && !sid.Equal(self) {
			return nil
		}
		r := req.RequestedIPAddress().To4()
		if r == nil {
			return nil
		}
		a, _ := netip.AddrFromSlice(r)
		if l, ok := s.table.byMAC[mac]; ok && l.ip == u32(a) {
			d := s.table.set("", l.ip, now+int64(declineHold/time.Second))
			if s.table.file != nil {
				s.table.file.add(d)
			}
			if s.Logger != nil {
				s.Logger.Warn("dhcpboot: address declined (in use by another host?)", "mac", net.HardwareAddr(mac).String(), "ip", a.String())
			}
			if s.OnRelease != nil {
				s.OnRelease(Lease{MAC: net.HardwareAddr(mac), IP: a, Expiry: t})
			}
		}
		return nil

	case dhcpv4.MessageTypeInform:
		return s.build(ctx, req, dhcpv4.MessageTypeAck, 0)
	}
	return nil
}

func (s *Server) leaseTime() time.Duration {
	if s.LeaseTime > 0 {
		return s.LeaseTime
	}
	return defaultLeaseTime
}

func (s *Server) inRange(ip uint32) bool {
	return ip >= u32(s.RangeStart) && ip <= u32(s.RangeEnd)
}

// assignable: may mac hold ip now?
func (s *Server) assignable(mac string, ip uint32, now int64) bool {
	if r, ok := s.reserve[mac]; ok {
		return r == ip && s.table.usableBy(mac, ip, now)
	}
	if _, ok := s.reservd[ip]; ok {
		return false
	}
	if !s.inRange(ip) || ip == u32(s.Addr) {
		return false
	}
	return s.table.usableBy(mac, ip, now)
}

// allocate picks an address for mac: its reservation, its previous lease,
// its outstanding offer, the address it asks for, then the first address
// never used, then the first expired one.
func (s *Server) allocate(mac string, requested net.IP, now int64) (uint32, bool) {
	if r, ok := s.reserve[mac]; ok {
		return r, s.table.usableBy(mac, r, now)
	}
	if l, ok := s.table.byMAC[mac]; ok && s.assignable(mac, l.ip, now) {
		return l.ip, true
	}
	if ip, ok := s.table.offerOf[mac]; ok && s.assignable(mac, ip, now) {
		return ip, true
	}
	if r := requested.To4(); r != nil {
		a, _ := netip.AddrFromSlice(r)
		if ip := u32(a); s.assignable(mac, ip, now) {
			if _, used := s.table.byIP[ip]; !used {
				return ip, true
			}
		}
	}
	lo, hi := u32(s.RangeStart), u32(s.RangeEnd)
	size := hi - lo + 1
	// Pass 1: never used. Pass 2: expired or stale offers.
	for pass := 0; pass < 2; pass++ {
		for i := uint32(0); i < size; i++ {
			ip := lo + (s.cursor-lo+i)%size
			if !s.assignable(mac, ip, now) {
				continue
			}
			if _, used := s.table.byIP[ip]; pass == 0 && used {
				continue
			}
			s.cursor = lo + (ip-lo+1)%size
			return ip, true
		}
	}
	return 0, false
}

func (s *Server) nak(req *dhcpv4.DHCPv4, why string) *dhcpv4.DHCPv4 {
	resp, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP(s.Addr.AsSlice()))),
		dhcpv4.WithOption(dhcpv4.OptMessage(why)),
	)
	if err != nil {
		return nil
	}
	if s.Logger != nil {
		s.Logger.Debug("dhcpboot: NAK", "mac", req.ClientHWAddr.String(), "why", why)
	}
	return resp
}

// build makes an OFFER or ACK for ip (0 = INFORM: no address, no lease
// time) with the network options and, for boot clients, the Policy's
// answer.
func (s *Server) build(ctx context.Context, req *dhcpv4.DHCPv4, mt dhcpv4.MessageType, ip uint32) *dhcpv4.DHCPv4 {
	self := net.IP(s.Addr.AsSlice())
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(mt),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(self)),
		dhcpv4.WithNetmask(net.CIDRMask(s.Subnet.Bits(), 32)),
	}
	if ip != 0 {
		a := ip4(ip).As4()
		lt := s.leaseTime()
		mods = append(mods,
			dhcpv4.WithYourIP(net.IP(a[:])),
			dhcpv4.WithLeaseTime(uint32(lt/time.Second)),
			dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(lt/2)),
			dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(lt*7/8)),
		)
	}
	if s.Router.Is4() {
		mods = append(mods, dhcpv4.WithRouter(net.IP(s.Router.AsSlice())))
	}
	if len(s.DNS) > 0 {
		dns := make([]net.IP, 0, len(s.DNS))
		for _, d := range s.DNS {
			dns = append(dns, net.IP(d.AsSlice()))
		}
		mods = append(mods, dhcpv4.WithDNS(dns...))
	}
	if s.DomainName != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDomainName(s.DomainName)))
	}
	resp, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil
	}
	if s.Policy != nil {
		if c, ok := Classify(req); ok {
			_, _ = s.handler.answerClient(ctx, req, resp, &c, ModeDHCP)
		}
	}
	return resp
}
