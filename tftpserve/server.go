package tftpserve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pin/tftp/v3"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Defaults used when the corresponding Server field is zero.
const (
	// DefaultMaxTransfers is the number of transfers that run at once
	// when Server.MaxTransfers is 0. It is deliberately high: a TFTP
	// client that hears nothing gives up after 20 to 30 seconds, so in a
	// boot storm sharing the bandwidth among all clients (each one
	// slower) succeeds where queueing them fails; the cap is there to
	// bound sockets and memory (about 2×blksize per transfer), not to
	// shape bandwidth. dnsmasq's tftp-max default of 50 is the opposite
	// choice.
	DefaultMaxTransfers = 1000
	// DefaultQueueTimeout is how long a request waits for a transfer
	// slot when Server.QueueTimeout is 0. Boot firmware retransmits its
	// request for about 20 to 60 seconds before giving up.
	DefaultQueueTimeout = 20 * time.Second
	// MaxBlockSize is the largest blksize RFC 2348 allows.
	MaxBlockSize = 65464
	// MaxAnticipateBytes bounds the bytes of one Anticipate window.
	MaxAnticipateBytes = 64 << 10
)

// Server is a read-only TFTP server for network boot, built on
// github.com/pin/tftp/v3. The zero value plus a Root or Handler is ready
// to use; fields must not change after Serve is called.
type Server struct {
	// Handler answers read requests. If nil, files are served from Root
	// with [FileServer].
	Handler Handler
	// Root is served when Handler is nil.
	Root fs.FS
	// WriteHandler accepts write requests. If nil (the default), every
	// write request is refused with an access violation message.
	WriteHandler WriteHandler

	// Logger receives one line per refused request and per finished
	// transfer. Nil means silent.
	Logger *slog.Logger

	// MaxTransfers caps the transfers that run at once. Requests beyond
	// it wait in arrival order for up to QueueTimeout; retransmissions
	// of a waiting request do not take another place. 0 means
	// DefaultMaxTransfers, a negative value means no cap. A waiting
	// client hears nothing, so size the cap for the number of clients
	// that boot at once, not for bandwidth: with a cap of 64, a storm of
	// 200 clients fetching 8 MiB on a slow host had every queued client
	// time out (see the package documentation).
	MaxTransfers int
	// QueueTimeout bounds the wait for a transfer slot; a request still
	// waiting then is refused with "server busy". 0 means
	// DefaultQueueTimeout.
	QueueTimeout time.Duration

	// BlockSize caps the negotiated blksize (RFC 2348). 0 means
	// MaxBlockSize (65464); values outside 513..65464 are ignored by
	// pin/tftp and leave 65464. Clients asking for less get what they
	// ask; clients not asking get 512.
	BlockSize int
	// NoMTUClamp turns off pin/tftp's clamp of blksize to the MTU of the
	// interface the request came in on (SetBlockSizeNegotiation). The
	// clamp (on by default) computes MTU-28 and so forgets the 4-byte
	// TFTP header: on a 1500-byte MTU a client asking for 1472 or more
	// gets 1472 and fragmented 1504-byte packets. Set BlockSize to 1468
	// on Ethernet if clients ask for more than that. Loopback (MTU
	// 65536) allows 65464 either way.
	NoMTUClamp bool

	// Timeout is how long the server waits for each ACK before resending
	// (pin/tftp default 5s). Retries is how often it sends each packet
	// (pin/tftp default 5).
	Timeout time.Duration
	Retries int

	// Anticipate, when above 1, enables pin/tftp's experimental
	// send-ahead: up to Anticipate blocks (at most 60) are sent before
	// waiting for their ACKs. It is not RFC 7440 windowsize and is not
	// negotiated, and a lost block costs a whole window after a
	// timeout. Real clients (atftp, busybox, curl) fail with it when a
	// window is larger than their socket buffer, so Serve requires
	// BlockSize to be set and Anticipate×(BlockSize+4) to stay within
	// MaxAnticipateBytes; it also refuses Anticipate with SinglePort,
	// where pin/tftp v3.2.0 closes a channel twice and panics. See the
	// package documentation for measurements.
	Anticipate uint
	// SinglePort serves every transfer from the listening port instead
	// of a fresh port per transfer, for NAT and containers (pin/tftp's
	// experimental EnableSinglePort). It is slower.
	SinglePort bool

	// OnTransferStart, if set, is called when a transfer has its slot
	// and is about to send its first packet (Bytes, Duration and Err
	// are zero).
	OnTransferStart func(Transfer)
	// OnTransferEnd, if set, is called once for every request that
	// reached a handler or was refused: with Err nil for a complete
	// transfer. Hooks run on the transfer's goroutine; keep them short
	// and never call Shutdown from one.
	OnTransferEnd func(Transfer)

	mu       sync.Mutex
	started  bool
	closing  bool
	servers  map[*tftp.Server]chan struct{} // pin server -> closed when its Serve returns
	inflight map[string]chan struct{}       // duplicate suppression: request key -> done
	stats    map[string]*tftp.TransferStats // pin hook results by request key
	sem      chan struct{}
	queueCtx context.Context // cancelled by Shutdown: queued requests give up
	queueEnd context.CancelFunc
	xferCtx  context.Context // cancelled by Close or an expired Shutdown: transfers abort
	xferEnd  context.CancelFunc
}

// Transfer describes one request for the OnTransferStart and
// OnTransferEnd hooks.
type Transfer struct {
	// Request is the request as the handler saw it.
	Request
	// Write is true for a write request (WRQ).
	Write bool
	// Size is the announced size (-1 if unknown).
	Size int64
	// Bytes is the number of bytes read from the Body (or written to
	// the WriteHandler); equal to Size for a complete read.
	Bytes int64
	// BlockSize is the negotiated block size (512 when the client did
	// not ask), known at the end of a transfer.
	BlockSize int
	// Datagrams is the number of datagrams sent, retransmissions
	// included; Acked is the number of ACKs that matched.
	Datagrams, Acked int
	// Queued is how long the request waited for a transfer slot.
	Queued time.Duration
	// Duration is the time from the first packet to the end.
	Duration time.Duration
	// Err is nil for a complete transfer.
	Err error
}

func (s *Server) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return
	}
	s.started = true
	s.servers = make(map[*tftp.Server]chan struct{})
	s.inflight = make(map[string]chan struct{})
	s.stats = make(map[string]*tftp.TransferStats)
	maxT := s.MaxTransfers
	if maxT == 0 {
		maxT = DefaultMaxTransfers
	}
	if maxT > 0 {
		s.sem = make(chan struct{}, maxT)
	}
	s.queueCtx, s.queueEnd = context.WithCancel(context.Background())
	s.xferCtx, s.xferEnd = context.WithCancel(context.Background())
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// ListenAndServe listens on the UDP address addr (":69" if empty) and
// calls Serve. It returns ErrServerClosed after Shutdown or Close.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = ":69"
	}
	conn, err := ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	return s.Serve(conn)
}

// ListenPacket opens a UDP socket for Serve, like net.ListenPacket, and
// at once asks the kernel for each packet's destination address and
// interface. pin/tftp asks only when Serve starts; a request that arrived
// before that has no local address, so the reply leaves from the
// system's default source and blksize is capped at 512 by the MTU clamp.
// network is "udp", "udp4" or "udp6".
func ListenPacket(network, addr string) (net.PacketConn, error) {
	conn, err := net.ListenPacket(network, addr)
	if err != nil {
		return nil, fmt.Errorf("tftpserve: %w", err)
	}
	enablePacketInfo(conn)
	return conn, nil
}

// enablePacketInfo sets IP_PKTINFO / IPV6_RECVPKTINFO on conn (the same
// socket options pin/tftp sets in Serve).
func enablePacketInfo(conn net.PacketConn) {
	uc, ok := conn.(*net.UDPConn)
	if !ok {
		return
	}
	if a, ok := uc.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil && !a.IP.IsUnspecified() {
		_ = ipv6.NewPacketConn(uc).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
		return
	}
	_ = ipv4.NewPacketConn(uc).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
}

// Serve answers TFTP requests arriving on conn until Shutdown or Close,
// then returns ErrServerClosed. conn should be a *net.UDPConn: pin/tftp
// then learns the local address of each request (so replies leave from
// the address the client used) and the interface MTU. Serve may be
// called several times, for example once for IPv4 and once for IPv6;
// Serve closes conn.
func (s *Server) Serve(conn net.PacketConn) error {
	if s.Handler == nil && s.Root == nil {
		conn.Close()
		return ErrNoHandler
	}
	if err := s.checkAnticipate(); err != nil {
		conn.Close()
		return err
	}
	s.init()
	enablePacketInfo(conn)
	ts := tftp.NewServer(s.serveRead, s.serveWrite)
	if s.Timeout > 0 {
		ts.SetTimeout(s.Timeout)
	}
	if s.Retries > 0 {
		ts.SetRetries(s.Retries)
	}
	if s.SinglePort {
		// Before SetBlockSize: EnableSinglePort defaults the block cap.
		ts.EnableSinglePort()
	} else if s.Anticipate > 1 {
		ts.SetAnticipate(s.Anticipate)
	}
	bs := s.BlockSize
	if bs == 0 {
		bs = MaxBlockSize
	}
	ts.SetBlockSize(bs)
	ts.SetBlockSizeNegotiation(!s.NoMTUClamp)
	ts.SetHook(pinHook{s})

	done := make(chan struct{})
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		conn.Close()
		return ErrServerClosed
	}
	s.servers[ts] = done
	s.mu.Unlock()
	s.logger().Debug("tftp: serving", "addr", conn.LocalAddr().String(), "single_port", s.SinglePort)
	err := ts.Serve(conn)
	conn.Close()
	s.mu.Lock()
	delete(s.servers, ts)
	s.mu.Unlock()
	close(done)
	if err != nil {
		return fmt.Errorf("tftpserve: %w", err)
	}
	return ErrServerClosed
}

func (s *Server) checkAnticipate() error {
	if s.Anticipate <= 1 {
		return nil
	}
	if s.SinglePort {
		return fmt.Errorf("%w: Anticipate cannot be combined with SinglePort", ErrConfig)
	}
	if s.BlockSize <= 0 {
		return fmt.Errorf("%w: Anticipate needs an explicit BlockSize", ErrConfig)
	}
	w := min(s.Anticipate, 60)
	if int(w)*(s.BlockSize+4) > MaxAnticipateBytes {
		return fmt.Errorf("%w: Anticipate %d × (BlockSize %d + 4) exceeds %d bytes in flight",
			ErrConfig, w, s.BlockSize, MaxAnticipateBytes)
	}
	return nil
}

// Shutdown stops accepting requests, refuses the queued ones and waits
// for running transfers to finish. If ctx ends first, running transfers
// are aborted (each client gets an ERROR packet at its next block) and
// Shutdown returns ctx's error without waiting further; Close waits.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing = true
	servers := make(map[*tftp.Server]chan struct{}, len(s.servers))
	for ts, done := range s.servers {
		servers[ts] = done
	}
	s.mu.Unlock()
	s.queueEnd()

	finished := make(chan struct{})
	go func() {
		for ts, done := range servers {
			ts.Shutdown() // single-port: returns at once; Serve returns later
			<-done
		}
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		s.xferEnd()
		return ctx.Err()
	}
}

// Close aborts running transfers and waits until every Serve call has
// returned. A transfer waiting for an ACK notices at its next block, so
// Close can take up to Timeout×Retries.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.init()
	_ = s.Shutdown(ctx)
	s.mu.Lock()
	var dones []chan struct{}
	for _, done := range s.servers {
		dones = append(dones, done)
	}
	s.mu.Unlock()
	for _, d := range dones {
		<-d
	}
	return nil
}

// requestKey identifies a request across retransmissions.
func requestKey(addr netip.AddrPort, raw string, write bool) string {
	op := "r"
	if write {
		op = "w"
	}
	return op + addr.String() + "\x00" + raw
}

func newRequest(raw string, x any) *Request {
	req := &Request{RawName: raw}
	if ot, ok := x.(interface{ RemoteAddr() net.UDPAddr }); ok {
		ra := ot.RemoteAddr()
		req.RemoteAddr = ra.AddrPort()
		req.RemoteAddr = netip.AddrPortFrom(req.RemoteAddr.Addr().Unmap(), req.RemoteAddr.Port())
	}
	if pi, ok := x.(tftp.RequestPacketInfo); ok {
		if a, ok := netip.AddrFromSlice(pi.LocalIP()); ok {
			req.LocalAddr = a.Unmap()
		}
	}
	return req
}

// admit cleans the name, suppresses duplicates and waits for a slot. On
// success the returned release must be called when the transfer ends.
func (s *Server) admit(req *Request, key string) (release func(), queued time.Duration, err error) {
	name, err := CleanName(req.RawName)
	if err != nil {
		return nil, 0, err
	}
	req.Name = name

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, 0, ErrServerClosed
	}
	if prev, ok := s.inflight[key]; ok {
		s.mu.Unlock()
		// A retransmitted request (same client port, same name) while
		// the first is queued or running: pin/tftp has already opened a
		// port for it and will send an ERROR when we return. Wait until
		// the original is over so that ERROR cannot reach the client
		// before its real answer.
		select {
		case <-prev:
		case <-s.xferCtx.Done():
		}
		return nil, 0, errDuplicate
	}
	done := make(chan struct{})
	s.inflight[key] = done
	s.mu.Unlock()
	rel := func() {
		s.mu.Lock()
		delete(s.inflight, key)
		s.mu.Unlock()
		close(done)
	}
	if s.sem == nil {
		return rel, 0, nil
	}
	start := time.Now()
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem; rel() }, time.Since(start), nil
	default:
	}
	qt := s.QueueTimeout
	if qt <= 0 {
		qt = DefaultQueueTimeout
	}
	t := time.NewTimer(qt)
	defer t.Stop()
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem; rel() }, time.Since(start), nil
	case <-t.C:
		rel()
		return nil, time.Since(start), ErrBusy
	case <-s.queueCtx.Done():
		rel()
		return nil, time.Since(start), ErrServerClosed
	}
}

// refuse logs a refused request, reports it to the hook and returns the
// error pin/tftp turns into the ERROR packet.
func (s *Server) refuse(t *Transfer, err error) error {
	t.Err = err
	lvl := slog.LevelWarn
	if errors.Is(err, errDuplicate) {
		lvl = slog.LevelDebug
	}
	msg := clientMessage(err)
	s.logger().Log(context.Background(), lvl, "tftp: request refused",
		"client", t.RemoteAddr.String(), "file", t.RawName, "write", t.Write,
		"reply", msg, "rfc_code", RFCErrorCode(err), "err", err)
	if s.OnTransferEnd != nil && !errors.Is(err, errDuplicate) {
		s.OnTransferEnd(*t)
	}
	return errors.New(msg)
}

// serveRead is pin/tftp's read handler.
func (s *Server) serveRead(raw string, rf io.ReaderFrom) error {
	req := newRequest(raw, rf)
	t := &Transfer{Request: *req, Size: -1}
	key := requestKey(req.RemoteAddr, raw, false)
	release, queued, err := s.admit(req, key)
	t.Queued = queued
	t.Request = *req
	if err != nil {
		return s.refuse(t, err)
	}
	defer release()

	h := s.Handler
	if h == nil {
		h = FileServer(s.Root)
	}
	c, err := h.ServeTFTP(s.xferCtx, req)
	t.Request = *req
	if err != nil {
		return s.refuse(t, err)
	}
	if cl, ok := c.Body.(io.Closer); ok {
		defer cl.Close()
	}
	if c.Body == nil {
		c.Body = eofReader{}
		c.Size = 0
	}
	if c.Size < 0 {
		if sk, ok := c.Body.(io.Seeker); ok {
			if size, err := seekSize(sk); err == nil {
				c.Size = size
			}
		}
	}
	t.Size = c.Size
	if ot, ok := rf.(tftp.OutgoingTransfer); ok && c.Size >= 0 {
		ot.SetSize(c.Size) // no-op unless the client asked for tsize
	}
	// pin/tftp reads one block at a time; a 64 KiB buffer turns ~44
	// file reads of 1468 bytes into one (blocks of 64 KiB bypass it).
	body := &bodyReader{r: bufio.NewReaderSize(c.Body, 64<<10), ctx: s.xferCtx}

	s.mu.Lock()
	s.stats[key] = nil // register: pinHook fills it in
	s.mu.Unlock()
	if s.OnTransferStart != nil {
		s.OnTransferStart(*t)
	}
	start := time.Now()
	_, err = rf.ReadFrom(body)
	t.Duration = time.Since(start)
	t.Bytes = body.n
	s.mu.Lock()
	st := s.stats[key]
	delete(s.stats, key)
	s.mu.Unlock()
	t.BlockSize = 512
	if st != nil {
		if v, ok := st.Opts["blksize"]; ok {
			if n, err := strconv.Atoi(v); err == nil {
				t.BlockSize = n
			}
		}
		t.Datagrams, t.Acked = st.DatagramsSent, st.DatagramsAcked
	}
	if err == nil && c.Size >= 0 && body.n != c.Size {
		err = fmt.Errorf("tftpserve: handler announced %d bytes but sent %d", c.Size, body.n)
	}
	if body.err != nil {
		err = fmt.Errorf("tftpserve: reading %s: %w", req.Name, body.err)
	}
	if err != nil && strings.Contains(err.Error(), "code=") {
		// pin/tftp's text for an ERROR packet from the client, such as
		// the ERROR 8 with which EDK2 ends its tsize probe.
		err = fmt.Errorf("%w: %v", ErrClientAborted, err)
	}
	t.Err = err
	log := s.logger()
	if errors.Is(err, ErrClientAborted) {
		log.Info("tftp: client ended the transfer", "client", req.RemoteAddr.String(), "file", req.Name,
			"bytes", t.Bytes, "size", t.Size, "err", err)
	} else if err != nil {
		log.Warn("tftp: transfer failed", "client", req.RemoteAddr.String(), "file", req.Name,
			"bytes", t.Bytes, "size", t.Size, "blksize", t.BlockSize, "duration", t.Duration, "err", err)
	} else {
		log.Info("tftp: sent", "client", req.RemoteAddr.String(), "file", req.Name,
			"bytes", t.Bytes, "blksize", t.BlockSize, "duration", t.Duration, "queued", t.Queued)
	}
	if s.OnTransferEnd != nil {
		s.OnTransferEnd(*t)
	}
	// pin/tftp has already sent its ERROR (or finished); returning nil
	// keeps it from sending another.
	return nil
}

// serveWrite is pin/tftp's write handler.
func (s *Server) serveWrite(raw string, wt io.WriterTo) error {
	req := newRequest(raw, wt)
	t := &Transfer{Request: *req, Write: true, Size: -1}
	if s.WriteHandler == nil {
		return s.refuse(t, ErrWriteRefused)
	}
	if it, ok := wt.(tftp.IncomingTransfer); ok {
		if n, ok := it.Size(); ok {
			t.Size = n
		}
	}
	key := requestKey(req.RemoteAddr, raw, true)
	release, queued, err := s.admit(req, key)
	t.Queued = queued
	t.Request = *req
	if err != nil {
		return s.refuse(t, err)
	}
	defer release()
	cw := &countingWriterTo{wt: wt}
	if s.OnTransferStart != nil {
		s.OnTransferStart(*t)
	}
	start := time.Now()
	err = s.WriteHandler.ReceiveTFTP(s.xferCtx, req, cw)
	t.Duration = time.Since(start)
	t.Bytes = cw.n
	t.Err = err
	if err != nil {
		s.logger().Warn("tftp: write failed", "client", req.RemoteAddr.String(), "file", req.Name, "err", err)
	} else {
		s.logger().Info("tftp: received", "client", req.RemoteAddr.String(), "file", req.Name, "bytes", t.Bytes)
	}
	if s.OnTransferEnd != nil {
		s.OnTransferEnd(*t)
	}
	if err != nil {
		return errors.New(clientMessage(err))
	}
	return nil
}

type countingWriterTo struct {
	wt io.WriterTo
	n  int64
}

func (c *countingWriterTo) WriteTo(w io.Writer) (int64, error) {
	n, err := c.wt.WriteTo(w)
	c.n += n
	return n, err
}

func seekSize(sk io.Seeker) (int64, error) {
	pos, err := sk.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	end, err := sk.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := sk.Seek(pos, io.SeekStart); err != nil {
		return 0, err
	}
	return end - pos, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// bodyReader counts bytes, stops on server close and hides read errors
// from the client (pin/tftp would send their text).
type bodyReader struct {
	r   io.Reader
	ctx context.Context
	n   int64
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.ctx.Err() != nil {
		return 0, errors.New(clientMessage(ErrServerClosed))
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF {
		b.err = err
		return n, errRead
	}
	return n, err
}

// pinHook records pin/tftp's per-transfer statistics for serveRead.
type pinHook struct{ s *Server }

func (h pinHook) record(st tftp.TransferStats) {
	if st.RemoteAddr == nil {
		return
	}
	ip, ok := netip.AddrFromSlice(st.RemoteAddr)
	if !ok {
		return
	}
	key := requestKey(netip.AddrPortFrom(ip.Unmap(), uint16(st.Tid)), st.Filename, false)
	h.s.mu.Lock()
	if _, ok := h.s.stats[key]; ok {
		h.s.stats[key] = &st
	}
	h.s.mu.Unlock()
}

func (h pinHook) OnSuccess(st tftp.TransferStats) { h.record(st) }

func (h pinHook) OnFailure(st tftp.TransferStats, err error) {
	h.record(st)
	if st.RemoteAddr == nil {
		// pin/tftp's listener reports packets it could not use
		// (malformed requests, stray ACKs on the listening port).
		h.s.logger().Debug("tftp: packet ignored", "err", err)
	}
}
