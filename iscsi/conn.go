package iscsi

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Task attributes (byte 1, bits 2–0 of a SCSI Command).
const (
	attrUntagged = 0
	attrSimple   = 1
	attrOrdered  = 2
	attrHOQ      = 3
)

// StatSN handling of an outgoing PDU.
const (
	snNone    = iota // PDU carries no StatSN (Data-In without S)
	snPeek           // carries the next StatSN without consuming it (R2T, target NOP-In)
	snConsume        // consumes one StatSN
)

// outPDU is one PDU queued for the writer goroutine.
type outPDU struct {
	hdr        BHS
	data       []byte
	sn         int
	release    *[]byte // pooled buffer to return after writing
	closeAfter bool    // close the connection once written (logout)
}

// task is one SCSI command in the connection's task set.
type task struct {
	itt       uint32
	cmdSN     uint32
	immediate bool
	attr      byte
	lun       uint64
	cdb       [16]byte
	cdbExt    []byte
	read      bool
	write     bool
	edtl      int
	start     time.Time

	buf        *[]byte // data-out buffer (len edtl)
	tooBig     bool
	recvd      int
	unsolNext  int
	unsolEnd   int
	unsolSN    uint32
	r2tNext    int
	r2tSN      uint32
	outR2T     int
	solicit    bool
	needData   bool // a write whose data phase has not finished
	reserved   int  // bytes of c.bufBytes this task holds
	busy       bool // refused for lack of buffer space: TASK SET FULL
	dataErr    bool
	rxActive   bool
	finished   bool
	aborted    bool
	responding bool            // the response is on its way; too late to abort
	wake       chan struct{}   // buffered(1): data complete or aborted
	waiters    []chan struct{} // closed when the task finishes (TMF, logout)
	recycle    bool            // the reader returns the task to the pool
	dataInSN   uint32

	waitBarrier <-chan struct{}
	waitEpoch   *sync.WaitGroup
	myBarrier   chan struct{}
	myEpoch     *sync.WaitGroup

	cmd scsiCmd
}

type r2tState struct {
	t      *task
	off    int
	length int
	next   int
	dataSN uint32
}

// conn is one iSCSI connection; with MaxConnections=1 it is also the session.
type conn struct {
	srv *Server
	nc  net.Conn
	br  *bufio.Reader
	bw  *bufio.Writer

	rxTail [8]byte // reader-owned scratch for digests and padding

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	drain  chan struct{} // closed when the writer should flush its queue and stop
	once   sync.Once

	// Session identity, fixed after login.
	initiator, targetName string
	isid                  [6]byte
	tsih                  uint16
	discovery             bool
	nexus, key            string
	target                *Target
	ts                    *targetState
	p                     params
	dg                    Digests
	loginStatSN           uint32

	out chan *outPDU
	// phaseMu orders the end of login (ffp set) against Shutdown's logout
	// request, so a connection whose login completes while the server shuts
	// down gets the request instead of being cut off.
	phaseMu      sync.Mutex
	ffp          atomic.Bool
	logoutWanted bool          // guarded by phaseMu
	statSN       uint32        // writer-owned
	window       atomic.Uint64 // ExpCmdSN<<32 | MaxCmdSN
	lastRx       atomic.Int64
	pingTTT      atomic.Uint32

	mu         sync.Mutex
	expCmdSN   uint32
	maxCmdSN   uint32
	tasks      map[uint32]*task
	pending    map[uint32]pendingItem
	r2ts       map[uint32]*r2tState
	nextTTT    uint32
	barrier    chan struct{}
	epoch      *sync.WaitGroup
	running    sync.WaitGroup
	bufBytes   int // data buffer bytes reserved by tasks (at most maxConnBufferBytes)
	textCont   []byte
	textTTT    uint32
	loggingOut bool
}

func (s *Server) newConn(nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{srv: s, nc: nc, ctx: ctx, cancel: cancel, done: make(chan struct{}), drain: make(chan struct{}),
		br: bufio.NewReaderSize(nc, 64<<10), bw: bufio.NewWriterSize(nc, 64<<10)}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetKeepAlive(true)
		tc.SetKeepAlivePeriod(15 * time.Second)
	}
	closed := make(chan struct{})
	close(closed)
	c.barrier = closed
	c.epoch = new(sync.WaitGroup)
	return c
}

func (c *conn) close() {
	c.once.Do(func() {
		c.cancel()
		c.nc.Close()
	})
}

// writeRaw writes a PDU synchronously (login phase: no digests, no writer yet).
func (c *conn) writeRaw(h *BHS, data []byte) error {
	h.SetDataSegmentLength(len(data))
	c.bw.Write(h[:])
	if len(data) > 0 {
		c.bw.Write(data)
		c.bw.Write(make([]byte, pad4(len(data))))
	}
	return c.bw.Flush()
}

func (c *conn) serve() {
	defer close(c.done)
	defer c.close()
	lt := c.srv.LoginTimeout
	if lt <= 0 {
		lt = 15 * time.Second
	}
	c.nc.SetDeadline(time.Now().Add(lt))
	if err := c.login(c.ctx); err != nil {
		if c.ts == nil && c.key != "" {
			c.srv.unregisterSession(c.key, c)
		}
		c.srv.log().Debug("iscsi login ended", "remote", c.nc.RemoteAddr().String(), "err", err)
		return
	}
	c.statSN = c.loginStatSN
	c.out = make(chan *outPDU, 512)
	c.phaseMu.Lock()
	if !c.logoutWanted {
		c.nc.SetDeadline(time.Time{})
	} // else: requestLogout's deadline stays, the time the initiator has to log out
	c.ffp.Store(true)
	logoutWanted := c.logoutWanted
	c.phaseMu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.writer() }()
	go func() { defer wg.Done(); c.pinger() }()
	if logoutWanted {
		c.requestLogout()
	}
	err := c.readLoop()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && c.ctx.Err() == nil {
		c.srv.log().Warn("iscsi connection error", "initiator", c.initiator, "target", c.targetName, "err", err)
	}
	// Stop the tasks, let the writer send what is queued (a Reject, a
	// Logout Response) within a bounded time, then close.
	c.mu.Lock()
	for _, t := range c.tasks {
		c.abortLocked(t)
	}
	c.mu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.running.Wait()
	close(c.drain)
	wg.Wait()
	c.close()
	if c.ts != nil {
		c.srv.releaseState(c.ts, c.nexus)
	}
	if c.key != "" {
		c.srv.unregisterSession(c.key, c)
	}
	c.srv.log().Info("iscsi logout", "initiator", c.initiator, "target", c.targetName, "tsih", c.tsih)
	if c.srv.OnLogout != nil {
		c.srv.OnLogout(c.event(nil))
	}
}

func (c *conn) event(err error) LoginEvent {
	return LoginEvent{InitiatorName: c.initiator, TargetName: c.targetName, ISID: c.isid, TSIH: c.tsih,
		RemoteAddr: c.nc.RemoteAddr(), Discovery: c.discovery, Err: err}
}

// startSession installs the negotiated session at the end of login.
func (c *conn) startSession(ls *loginState) error {
	c.initiator, c.targetName, c.isid, c.tsih = ls.initiator, ls.targetName, ls.isid, ls.tsih
	c.discovery, c.target, c.p = ls.discovery, ls.target, ls.neg.p
	c.dg = Digests{Header: c.p.headerDigest, Data: c.p.dataDigest}
	c.nexus = ls.initiator + ",i,0x" + hex.EncodeToString(ls.isid[:])
	c.expCmdSN = ls.expCmdSN
	c.maxCmdSN = ls.expCmdSN + uint32(c.srv.queueDepth()) - 1
	c.storeWindow()
	c.loginStatSN = ls.statSN + 1
	c.tasks = map[uint32]*task{}
	c.pending = map[uint32]pendingItem{}
	c.r2ts = map[uint32]*r2tState{}
	if !c.discovery {
		c.key = sessionKey(c.initiator, c.isid, c.targetName)
		if old := c.srv.registerSession(c.key, c); old != nil && old != c {
			c.srv.log().Info("iscsi session reinstatement", "initiator", c.initiator, "target", c.targetName)
			old.close()
			select {
			case <-old.done:
			case <-time.After(10 * time.Second):
				return loginErr(loginTargetError, "old session did not end")
			}
		}
		ts, err := c.srv.acquireState(c.target, c.nexus)
		if err != nil {
			return &LoginError{Status: loginTargetError, Err: err}
		}
		c.ts = ts
	}
	c.srv.log().Info("iscsi login", "initiator", c.initiator, "target", c.targetName,
		"remote", c.nc.RemoteAddr().String(), "discovery", c.discovery, "tsih", c.tsih,
		"headerDigest", c.dg.Header, "dataDigest", c.dg.Data)
	if c.srv.OnLogin != nil {
		c.srv.OnLogin(c.event(nil))
	}
	return nil
}

func (c *conn) storeWindow() {
	c.window.Store(uint64(c.expCmdSN)<<32 | uint64(c.maxCmdSN))
}

// snLess is serial-number arithmetic (RFC 1982) a < b.
func snLess(a, b uint32) bool { return a != b && int32(a-b) < 0 }

func (c *conn) inWindow(sn uint32) bool {
	return !snLess(sn, c.expCmdSN) && !snLess(c.maxCmdSN, sn)
}

// pendingItem is a request waiting for its CmdSN turn: a task to deliver or
// a control request to run.
type pendingItem struct {
	t  *task
	fn func()
}

func (c *conn) runItem(it pendingItem) {
	if it.t != nil {
		c.deliver(it.t)
		return
	}
	it.fn()
}

// sequence runs the item (with c.mu held) when cmdSN is next in order; later
// ones wait. It reports false when cmdSN is outside the window (dropped).
func (c *conn) sequence(cmdSN uint32, it pendingItem) bool {
	if !c.inWindow(cmdSN) {
		return false
	}
	if _, dup := c.pending[cmdSN]; dup {
		return false
	}
	if cmdSN != c.expCmdSN {
		c.pending[cmdSN] = it
		return true
	}
	c.runItem(it)
	c.expCmdSN++
	for len(c.pending) > 0 {
		next, ok := c.pending[c.expCmdSN]
		if !ok {
			break
		}
		delete(c.pending, c.expCmdSN)
		c.runItem(next)
		c.expCmdSN++
	}
	c.storeWindow()
	return true
}

// credit returns one command slot to the initiator (MaxCmdSN advances).
func (c *conn) credit() {
	c.maxCmdSN++
	c.storeWindow()
}

func (s *Server) newOut(sn int) *outPDU {
	if v := s.outs.Get(); v != nil {
		p := v.(*outPDU)
		p.sn = sn
		return p
	}
	return &outPDU{sn: sn}
}

// send queues p for the writer; it gives up when the connection is closing.
func (c *conn) send(p *outPDU) {
	select {
	case c.out <- p:
	case <-c.ctx.Done():
		if p.release != nil {
			c.srv.pool.put(p.release)
		}
	}
}

func (c *conn) writer() {
	var tail [8]byte
	var crcBuf [4]byte
	for {
		var p *outPDU
		select {
		case p = <-c.out:
		case <-c.ctx.Done():
			c.bw.Flush()
			return
		case <-c.drain:
			select {
			case p = <-c.out:
			default:
				c.bw.Flush()
				return
			}
		}
		h := &p.hdr
		switch p.sn {
		case snConsume:
			h.PutU32(24, c.statSN)
			c.statSN++
		case snPeek:
			h.PutU32(24, c.statSN)
		}
		w := c.window.Load()
		h.PutU32(28, uint32(w>>32))
		h.PutU32(32, uint32(w))
		h.SetDataSegmentLength(len(p.data))
		c.bw.Write(h[:])
		if c.dg.Header {
			binary.LittleEndian.PutUint32(crcBuf[:], CRC32C(h[:]))
			c.bw.Write(crcBuf[:])
		}
		if n := len(p.data); n > 0 {
			if n >= 32<<10 {
				c.bw.Flush()
				c.nc.Write(p.data)
			} else {
				c.bw.Write(p.data)
			}
			pd := pad4(n)
			t := tail[:pd]
			if c.dg.Data {
				crc := crc32.Update(CRC32C(p.data), castagnoli, tail[4:4+pd])
				binary.LittleEndian.PutUint32(tail[pd:], crc)
				t = tail[:pd+4]
			}
			c.bw.Write(t)
			clear(tail[:])
		}
		if p.release != nil {
			c.srv.pool.put(p.release)
		}
		closeAfter := p.closeAfter
		*p = outPDU{}
		c.srv.outs.Put(p)
		if len(c.out) == 0 && !closeAfter && c.bw.Buffered() > 0 && c.bw.Buffered() < 32<<10 {
			// Let workers that are about to respond queue their PDUs, so
			// that one write carries several responses at high queue depth.
			runtime.Gosched()
		}
		if len(c.out) == 0 || closeAfter {
			if err := c.bw.Flush(); err != nil {
				c.close()
			}
		}
		if closeAfter {
			c.close()
			return
		}
	}
}

// pinger sends a NOP-In to an idle initiator every NOPInterval. Initiators
// that never answer (iPXE) are not dropped: TCP keepalive finds dead peers.
func (c *conn) pinger() {
	iv := c.srv.NOPInterval
	if iv < 0 {
		return
	}
	if iv == 0 {
		iv = 30 * time.Second
	}
	tk := time.NewTicker(iv / 2)
	defer tk.Stop()
	c.lastRx.Store(time.Now().UnixNano())
	var ttt uint32
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.drain:
			return
		case <-tk.C:
		}
		if time.Since(time.Unix(0, c.lastRx.Load())) < iv {
			continue
		}
		ttt = ttt%0x7FFFFFFF + 1
		c.pingTTT.Store(ttt)
		p := &outPDU{sn: snPeek}
		p.hdr[0] = byte(OpNOPIn)
		p.hdr[1] = 0x80
		p.hdr.PutU32(16, ReservedTag)
		p.hdr.PutU32(20, ttt)
		c.send(p)
		c.lastRx.Store(time.Now().UnixNano())
	}
}

// requestLogout asks the initiator to log out (Async event 1), or closes a
// connection still in login.
func (c *conn) requestLogout() {
	c.phaseMu.Lock()
	if !c.ffp.Load() {
		// Still logging in: give the login logoutGrace to complete (serve then
		// sends this request), after which the deadline ends the connection.
		c.logoutWanted = true
		c.nc.SetDeadline(time.Now().Add(logoutGrace))
		c.phaseMu.Unlock()
		return
	}
	c.phaseMu.Unlock()
	p := &outPDU{sn: snConsume}
	p.hdr[0] = byte(OpAsync)
	p.hdr[1] = 0x80
	p.hdr.PutU32(16, ReservedTag)
	p.hdr[36] = 1                             // request logout
	binary.BigEndian.PutUint16(p.hdr[42:], 2) // Parameter3: seconds to log out
	c.send(p)
}

// logoutGrace is how long Shutdown lets a connection that is still logging in
// finish its login before the connection is dropped; it is also the time the
// Async logout request gives an initiator (Parameter3).
const logoutGrace = 2 * time.Second

// reject sends a Reject PDU carrying the offending header.
func (c *conn) reject(reason byte, h *BHS) {
	p := &outPDU{sn: snConsume, data: append([]byte(nil), h[:]...)}
	p.hdr[0] = byte(OpReject)
	p.hdr[1] = 0x80
	p.hdr[2] = reason
	p.hdr.PutU32(16, ReservedTag)
	c.send(p)
}

// discard reads and drops a data segment of n bytes.
func (c *conn) discard(n int) error {
	if n == 0 {
		return nil
	}
	n += pad4(n)
	if c.dg.Data {
		n += 4
	}
	_, err := c.br.Discard(n)
	return err
}

func (c *conn) readLoop() error {
	var h BHS
	var ahsBuf []byte
	scratch := make([]byte, 0, 8192)
	for {
		ahs, err := readHeader(c.br, &h, ahsBuf[:0], c.dg, &c.rxTail)
		if err != nil {
			return err
		}
		if cap(ahs) > cap(ahsBuf) {
			ahsBuf = ahs
		}
		c.lastRx.Store(time.Now().UnixNano())
		dlen := h.DataSegmentLength()
		if dlen > c.p.targetMRDSL {
			c.reject(RejectProtocolError, &h)
			return fmt.Errorf("%w: data segment %d > %d", ErrDataTooLong, dlen, c.p.targetMRDSL)
		}
		op := h.Opcode()
		if c.discovery && op != OpTextReq && op != OpNOPOut && op != OpLogoutReq {
			c.reject(RejectProtocolError, &h)
			return fmt.Errorf("%w: opcode %#02x in discovery session", ErrMalformedPDU, op)
		}
		switch op {
		case OpSCSICmd:
			err = c.handleCmd(&h, ahs)
		case OpDataOut:
			err = c.handleDataOut(&h)
		default:
			// Control PDUs: read their (small) data segment into scratch.
			if cap(scratch) < dlen {
				scratch = make([]byte, dlen)
			}
			data := scratch[:dlen]
			if err = readData(c.br, data, c.dg, &c.rxTail); err != nil {
				if errors.Is(err, ErrDataDigest) {
					c.reject(RejectDataDigest, &h)
				}
				return err
			}
			err = c.handleControl(&h, data)
		}
		if err != nil {
			return err
		}
	}
}

func (c *conn) handleControl(h *BHS, data []byte) error {
	hdr := *h
	switch h.Opcode() {
	case OpNOPOut:
		return c.handleNOP(&hdr, data)
	case OpTaskMgmt:
		c.nonTask(&hdr, func() { c.handleTMF(&hdr) })
	case OpTextReq:
		d := append([]byte(nil), data...)
		c.nonTask(&hdr, func() { c.handleText(&hdr, d) })
	case OpLogoutReq:
		c.nonTask(&hdr, func() { c.handleLogout(&hdr) })
	case OpSNACK:
		c.reject(RejectSNACK, &hdr) // ERL 0: no SNACK support
	case OpLoginReq:
		c.reject(RejectProtocolError, &hdr)
	default:
		c.reject(RejectNotSupported, &hdr)
	}
	return nil
}

// nonTask sequences a non-SCSI request by CmdSN (immediate ones run now).
func (c *conn) nonTask(h *BHS, fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.Immediate() {
		fn()
		return
	}
	c.sequence(h.U32(24), pendingItem{fn: func() { fn(); c.credit() }})
}

func (c *conn) handleNOP(h *BHS, data []byte) error {
	itt, ttt := h.ITT(), h.U32(20)
	if ttt != ReservedTag {
		// Answer to our ping.
		c.pingTTT.CompareAndSwap(ttt, 0)
		return nil
	}
	if itt == ReservedTag {
		// A NOP-Out that wants no answer; it still consumes CmdSN when not immediate.
		c.nonTask(h, func() {})
		return nil
	}
	echo := append([]byte(nil), data...)
	lun := h.LUN()
	c.nonTask(h, func() {
		p := &outPDU{sn: snConsume, data: echo}
		p.hdr[0] = byte(OpNOPIn)
		p.hdr[1] = 0x80
		binary.BigEndian.PutUint64(p.hdr[8:], lun)
		p.hdr.PutU32(16, itt)
		p.hdr.PutU32(20, ReservedTag)
		c.send(p)
	})
	return nil
}

// cdbOf returns the full CDB of a command, including an extended-CDB AHS.
func cdbOf(h *BHS, ahs []byte) ([]byte, bool) {
	var ext []byte
	for len(ahs) >= 4 {
		l := int(binary.BigEndian.Uint16(ahs))
		typ := ahs[2]
		if 3+l > len(ahs) {
			return nil, false
		}
		if typ == 1 && l >= 1 {
			ext = ahs[4 : 3+l]
		}
		n := 3 + l
		n += pad4(n)
		if n > len(ahs) {
			break
		}
		ahs = ahs[n:]
	}
	if ext == nil {
		return h[32:48], true
	}
	cdb := make([]byte, 16+len(ext))
	copy(cdb, h[32:48])
	copy(cdb[16:], ext)
	return cdb, true
}

func (c *conn) handleCmd(h *BHS, ahs []byte) error {
	dlen := h.DataSegmentLength()
	itt, cmdSN := h.ITT(), h.U32(24)
	flags := h[1]
	read, write := flags&0x40 != 0, flags&0x20 != 0
	edtl := int(h.U32(20))
	imm := h.Immediate()

	c.mu.Lock()
	inWin := imm || c.inWindow(cmdSN)
	_, dupITT := c.tasks[itt]
	c.mu.Unlock()
	if !inWin {
		return c.discard(dlen) // out of window: drop silently
	}
	if dupITT || itt == ReservedTag {
		c.reject(RejectTaskInProgress, h)
		return c.discard(dlen)
	}
	if (dlen > 0 && !write) || dlen > edtl || (dlen > 0 && !c.p.immediate) || dlen > c.p.firstBurst ||
		(flags&0x80 == 0 && !write) {
		c.reject(RejectProtocolError, h)
		return c.discard(dlen)
	}
	cdb, ok := cdbOf(h, ahs)
	if !ok {
		c.reject(RejectInvalidPDUField, h)
		return c.discard(dlen)
	}
	t := c.srv.newTask()
	t.itt, t.cmdSN, t.immediate, t.attr, t.lun = itt, cmdSN, imm, flags&7, h.LUN()
	t.read, t.write, t.edtl, t.start = read, write, edtl, time.Now()
	copy(t.cdb[:], cdb)
	if len(cdb) > 16 {
		t.cdbExt = cdb
	}
	if write && edtl > 0 {
		if edtl > maxTransferBytes+(1<<20) || !c.reserve(t, edtl) {
			t.tooBig = edtl > maxTransferBytes+(1<<20)
			t.busy = !t.tooBig
			if err := c.discard(dlen); err != nil {
				return err
			}
		} else {
			t.buf = c.srv.pool.get(edtl)
			if err := readData(c.br, (*t.buf)[:dlen], c.dg, &c.rxTail); err != nil {
				c.srv.pool.put(t.buf)
				if errors.Is(err, ErrDataDigest) {
					c.reject(RejectDataDigest, h)
				}
				return err
			}
			t.recvd, t.unsolNext = dlen, dlen
			t.unsolEnd = dlen
			if !c.p.initialR2T {
				t.unsolEnd = max(dlen, min(c.p.firstBurst, edtl))
			}
			t.needData = t.recvd < edtl
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tasks[itt] = t
	if imm {
		c.deliver(t)
		return nil
	}
	if !c.sequence(cmdSN, pendingItem{t: t}) {
		delete(c.tasks, itt)
		if t.buf != nil {
			c.srv.pool.put(t.buf)
		}
		c.srv.putTask(t)
	}
	return nil
}

// deliver hands t to the SCSI layer (c.mu held), honouring task attributes.
func (c *conn) deliver(t *task) {
	switch t.attr {
	case attrOrdered:
		t.waitBarrier, t.waitEpoch = c.barrier, c.epoch
		t.myBarrier = make(chan struct{})
		c.barrier, c.epoch = t.myBarrier, new(sync.WaitGroup)
	case attrHOQ:
	default:
		t.waitBarrier = c.barrier
		t.myEpoch = c.epoch
		t.myEpoch.Add(1)
	}
	c.running.Add(1)
	go c.run(t)
}

func (c *conn) handleDataOut(h *BHS) error {
	dlen := h.DataSegmentLength()
	itt, ttt := h.ITT(), h.U32(20)
	dataSN, off := h.U32(36), int(h.U32(40))
	c.mu.Lock()
	t := c.tasks[itt]
	if t == nil || t.buf == nil || t.finished || t.dataErr {
		c.mu.Unlock()
		return c.discard(dlen)
	}
	var r *r2tState
	valid := false
	if ttt == ReservedTag {
		valid = off == t.unsolNext && off+dlen <= t.unsolEnd && dataSN == t.unsolSN
	} else if r = c.r2ts[ttt]; r != nil && r.t == t {
		valid = off == r.next && off+dlen <= r.off+r.length && dataSN == r.dataSN
	}
	if !valid {
		// Wrong offset, DataSN or tag: fail the command (ERL 0 cannot recover it).
		t.dataErr = true
		t.signal()
		c.mu.Unlock()
		return c.discard(dlen)
	}
	t.rxActive = true
	c.mu.Unlock()
	err := readData(c.br, (*t.buf)[off:off+dlen], c.dg, &c.rxTail)
	c.mu.Lock()
	defer c.mu.Unlock()
	t.rxActive = false
	if t.finished {
		c.srv.pool.put(t.buf)
		if t.recycle {
			c.srv.putTask(t)
		}
		return err
	}
	if err != nil {
		if errors.Is(err, ErrDataDigest) {
			c.reject(RejectDataDigest, h)
		}
		return err
	}
	if r == nil {
		t.unsolNext += dlen
		t.unsolSN++
	} else {
		r.next += dlen
		r.dataSN++
		if r.next == r.off+r.length {
			delete(c.r2ts, ttt)
			t.outR2T--
		}
	}
	t.recvd += dlen
	if t.recvd >= t.edtl {
		t.signal()
	} else if t.solicit {
		c.issueR2Ts(t)
	}
	return nil
}

// issueR2Ts sends R2Ts (c.mu held) up to MaxOutstandingR2T.
func (c *conn) issueR2Ts(t *task) {
	for t.outR2T < c.p.maxOutstandingR2T && t.r2tNext < t.edtl {
		n := min(c.p.maxBurst, t.edtl-t.r2tNext)
		c.nextTTT++
		if c.nextTTT == ReservedTag {
			c.nextTTT = 1
		}
		ttt := c.nextTTT
		c.r2ts[ttt] = &r2tState{t: t, off: t.r2tNext, length: n, next: t.r2tNext}
		p := c.srv.newOut(snPeek)
		p.hdr[0] = byte(OpR2T)
		p.hdr[1] = 0x80
		binary.BigEndian.PutUint64(p.hdr[8:], t.lun)
		p.hdr.PutU32(16, t.itt)
		p.hdr.PutU32(20, ttt)
		p.hdr.PutU32(36, t.r2tSN)
		p.hdr.PutU32(40, uint32(t.r2tNext))
		p.hdr.PutU32(44, uint32(n))
		t.r2tSN++
		t.r2tNext += n
		t.outR2T++
		c.send(p)
	}
}

// run executes one task on its own goroutine.
func (c *conn) run(t *task) {
	defer c.running.Done()
	defer c.finish(t)
	for t.waitBarrier != nil {
		select {
		case <-t.waitBarrier:
			t.waitBarrier = nil
		case <-t.wake:
			c.mu.Lock()
			aborted := t.aborted
			c.mu.Unlock()
			if aborted {
				return
			}
			// A data event: the data wait below re-checks the state.
		case <-c.ctx.Done():
			return
		}
	}
	if t.waitEpoch != nil {
		t.waitEpoch.Wait()
	}
	if t.needData {
		c.mu.Lock()
		if t.recvd < t.edtl && !t.aborted && !t.dataErr {
			t.solicit = true
			t.r2tNext = max(t.r2tNext, t.unsolEnd)
			c.issueR2Ts(t)
		}
		c.mu.Unlock()
		for {
			c.mu.Lock()
			aborted, ready := t.aborted, t.recvd >= t.edtl || t.dataErr
			c.mu.Unlock()
			if aborted {
				return
			}
			if ready {
				break
			}
			select {
			case <-t.wake:
			case <-c.ctx.Done():
				return
			}
		}
	}
	cmd := &t.cmd
	cmd.cdb = t.cdb[:]
	if t.cdbExt != nil {
		cmd.cdb = t.cdbExt
	}
	cmd.lun, cmd.edtl, cmd.nexus, cmd.pool = t.lun, t.edtl, c.nexus, &c.srv.pool
	cmd.out = nil
	if t.buf != nil {
		cmd.out = (*t.buf)[:t.recvd]
	}
	c.mu.Lock()
	dataErr := t.dataErr
	c.mu.Unlock()
	if t.read && !t.write && t.edtl > 0 && !c.reserve(t, min(t.edtl, maxTransferBytes)) {
		t.busy = true
	}
	switch {
	case dataErr:
		cmd.reset()
		cmd.check(nil, scDataPhaseError)
	case t.tooBig:
		cmd.reset()
		cmd.check(nil, scInvalidFieldCDB)
	case t.busy:
		cmd.reset()
		cmd.status = StatusTaskSetFull
	default:
		c.ts.execute(cmd)
	}
	c.mu.Lock()
	aborted := t.aborted
	t.responding = !aborted
	c.mu.Unlock()
	if aborted {
		if cmd.inBuf != nil {
			c.srv.pool.put(cmd.inBuf)
		}
		return
	}
	c.respond(t, cmd)
	if c.srv.OnIO != nil {
		n := len(cmd.in)
		if t.write {
			n = t.recvd
		}
		c.srv.OnIO(IOEvent{InitiatorName: c.initiator, TargetName: c.targetName, LUN: t.lun, Opcode: cmd.cdb[0],
			Bytes: n, Status: cmd.status, Duration: time.Since(t.start)})
	}
}

// respond sends Data-In and the status of a finished command.
func (c *conn) respond(t *task, cmd *scsiCmd) {
	in := cmd.in
	if len(in) > t.edtl {
		in = in[:t.edtl]
	}
	if !t.read && len(in) > 0 {
		in = nil // no Data-In without the R bit
	}
	xfer := cmd.xfer
	if xfer < 0 {
		if t.write && !t.read {
			xfer = t.edtl
		} else {
			xfer = len(cmd.in)
		}
	}
	var resFlags byte
	var residual uint32
	switch {
	case xfer > t.edtl:
		resFlags, residual = 0x04, uint32(xfer-t.edtl)
	case xfer < t.edtl:
		resFlags, residual = 0x02, uint32(t.edtl-xfer)
	}
	collapse := cmd.status == StatusGood && resFlags == 0 && len(in) > 0
	var dataSN uint32
	seg := c.p.initiatorMRDSL
	burst := c.p.maxBurst
	for off := 0; off < len(in); {
		n := min(seg, len(in)-off)
		// Keep PDUs inside MaxBurstLength sequences.
		if rem := burst - off%burst; n > rem {
			n = rem
		}
		last := off+n == len(in)
		p := c.srv.newOut(snNone)
		p.data = in[off : off+n]
		p.hdr[0] = byte(OpDataIn)
		if last || (off+n)%burst == 0 {
			p.hdr[1] |= 0x80
		}
		binary.BigEndian.PutUint64(p.hdr[8:], t.lun)
		p.hdr.PutU32(16, t.itt)
		p.hdr.PutU32(20, ReservedTag)
		p.hdr.PutU32(36, dataSN)
		p.hdr.PutU32(40, uint32(off))
		if last {
			p.release = cmd.inBuf
			if collapse {
				p.hdr[1] |= 0x01
				p.hdr[3] = cmd.status
				p.sn = snConsume
			}
		}
		dataSN++
		c.send(p)
		off += n
	}
	if len(in) == 0 && cmd.inBuf != nil {
		c.srv.pool.put(cmd.inBuf)
	}
	cmd.inBuf = nil
	if collapse {
		return
	}
	p := c.srv.newOut(snConsume)
	p.hdr[0] = byte(OpSCSIResp)
	p.hdr[1] = 0x80 | resFlags
	p.hdr[3] = cmd.status
	p.hdr.PutU32(16, t.itt)
	if t.read {
		p.hdr.PutU32(36, dataSN)
	} else {
		p.hdr.PutU32(36, t.r2tSN)
	}
	p.hdr.PutU32(44, residual)
	if len(cmd.sense) > 0 {
		d := make([]byte, 2+len(cmd.sense))
		binary.BigEndian.PutUint16(d, uint16(len(cmd.sense)))
		copy(d[2:], cmd.sense)
		p.data = d
	}
	c.send(p)
}

// finish removes t from the task set and returns its command slot.
func (c *conn) finish(t *task) {
	c.mu.Lock()
	t.finished = true
	if c.tasks[t.itt] == t {
		delete(c.tasks, t.itt)
	}
	for ttt, r := range c.r2ts {
		if r.t == t {
			delete(c.r2ts, ttt)
		}
	}
	if t.buf != nil && !t.rxActive {
		c.srv.pool.put(t.buf)
	}
	if !t.immediate {
		c.credit()
	}
	c.bufBytes -= t.reserved
	waiters := t.waiters
	t.waiters = nil
	barrier, epoch := t.myBarrier, t.myEpoch
	t.recycle = t.rxActive
	if !t.rxActive {
		c.srv.putTask(t)
	}
	c.mu.Unlock()
	if barrier != nil {
		close(barrier)
	}
	if epoch != nil {
		epoch.Done()
	}
	for _, w := range waiters {
		close(w)
	}
}

// maxConnBufferBytes bounds the data buffers one connection's commands may
// hold at once; beyond it commands end with TASK SET FULL and are retried.
const maxConnBufferBytes = 256 << 20

// reserve books n buffer bytes for t, or reports false when the
// connection's budget is spent (one command alone always fits).
func (c *conn) reserve(t *task, n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bufBytes+n > maxConnBufferBytes && c.bufBytes > 0 {
		return false
	}
	c.bufBytes += n
	t.reserved += n
	return true
}

// signal wakes the task's goroutine (data complete, data error, abort).
func (t *task) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// waitChan returns a channel closed when t finishes (c.mu held).
func (t *task) waitChan() chan struct{} {
	w := make(chan struct{})
	t.waiters = append(t.waiters, w)
	return w
}

func (s *Server) newTask() *task {
	if v := s.tasks.Get(); v != nil {
		t := v.(*task)
		wake := t.wake
		select {
		case <-wake:
		default:
		}
		*t = task{wake: wake}
		return t
	}
	return &task{wake: make(chan struct{}, 1)}
}

func (s *Server) putTask(t *task) { s.tasks.Put(t) }

// abortLocked marks t aborted (c.mu held) so that it ends without a
// response. It reports false when the task's response is already on its way.
func (c *conn) abortLocked(t *task) bool {
	if t.responding {
		return false
	}
	if !t.aborted {
		t.aborted = true
		t.signal()
	}
	return true
}

// TMF functions and responses.
const (
	tmfAbortTask    = 1
	tmfAbortTaskSet = 2
	tmfClearACA     = 3
	tmfClearTaskSet = 4
	tmfLUNReset     = 5
	tmfWarmReset    = 6
	tmfColdReset    = 7
	tmfReassign     = 8

	tmfComplete       = 0
	tmfNoTask         = 1
	tmfNoLUN          = 2
	tmfReassignUnsupp = 4
	tmfNotSupported   = 5
)

// handleTMF runs a task management function (c.mu held).
func (c *conn) handleTMF(h *BHS) {
	fn := h[1] & 0x7F
	itt, ref, lun := h.ITT(), h.U32(20), h.LUN()
	refCmdSN := h.U32(32)
	respond := func(code byte, wait []chan struct{}, after func()) {
		go func() {
			for _, w := range wait {
				select {
				case <-w:
				case <-c.ctx.Done():
					return
				}
			}
			if after != nil {
				after()
			}
			p := &outPDU{sn: snConsume}
			p.hdr[0] = byte(OpTaskMgmtRsp)
			p.hdr[1] = 0x80
			p.hdr[2] = code
			p.hdr.PutU32(16, itt)
			p.closeAfter = fn == tmfColdReset && code == tmfComplete
			c.send(p)
		}()
	}
	abortWhere := func(match func(*task) bool) []chan struct{} {
		var ws []chan struct{}
		for _, t := range c.tasks {
			if t.itt != itt && match(t) {
				c.abortLocked(t)
				ws = append(ws, t.waitChan())
			}
		}
		return ws
	}
	switch fn {
	case tmfAbortTask:
		t := c.tasks[ref]
		if t == nil || t.cmdSN != refCmdSN && !t.immediate {
			respond(tmfNoTask, nil, nil) // completed already (or never seen)
			return
		}
		if !c.abortLocked(t) {
			respond(tmfNoTask, []chan struct{}{t.waitChan()}, nil) // completing: its response wins
			return
		}
		respond(tmfComplete, []chan struct{}{t.waitChan()}, nil)
	case tmfAbortTaskSet, tmfClearTaskSet:
		respond(tmfComplete, abortWhere(func(t *task) bool { return t.lun == lun }), nil)
	case tmfLUNReset:
		u := c.ts.unit(lun)
		if u == nil {
			respond(tmfNoLUN, nil, nil)
			return
		}
		ws := abortWhere(func(t *task) bool { return t.lun == lun })
		respond(tmfComplete, ws, func() { c.ts.setUA(u, c.nexus, scLUNReset) })
	case tmfWarmReset, tmfColdReset:
		ws := abortWhere(func(*task) bool { return true })
		respond(tmfComplete, ws, func() { c.ts.setUA(nil, c.nexus, scPowerOnReset) })
	case tmfReassign:
		respond(tmfReassignUnsupp, nil, nil)
	case tmfClearACA:
		respond(tmfNotSupported, nil, nil)
	default:
		respond(255, nil, nil)
	}
}

// handleText answers a Text Request (c.mu held): SendTargets and nothing else.
func (c *conn) handleText(h *BHS, data []byte) {
	itt, ttt := h.ITT(), h.U32(20)
	reply := func(b []byte) {
		final := true
		max := c.p.initiatorMRDSL
		p := &outPDU{sn: snConsume}
		p.hdr[0] = byte(OpTextResp)
		p.hdr.PutU32(16, itt)
		p.hdr.PutU32(20, ReservedTag)
		if len(b) > max {
			c.textCont = b[max:]
			b = b[:max]
			final = false
			c.textTTT = c.textTTT%0x7FFFFFFE + 1
			p.hdr.PutU32(20, c.textTTT)
		} else {
			c.textCont = nil
		}
		if final {
			p.hdr[1] = 0x80
		}
		p.data = b
		c.send(p)
	}
	if ttt != ReservedTag {
		if ttt == c.textTTT && c.textCont != nil && len(data) == 0 {
			reply(c.textCont)
			return
		}
		c.reject(RejectInvalidPDUField, h)
		return
	}
	kvs, err := ParseText(data)
	if err != nil {
		c.reject(RejectProtocolError, h)
		return
	}
	var out []byte
	for _, kv := range kvs {
		if kv.Key != "SendTargets" {
			out = AppendText(out, KeyValue{kv.Key, "NotUnderstood"})
			continue
		}
		var names []string
		switch {
		case kv.Value == "All":
			names = c.srv.visibleTargets(c.ctx, c.initiator)
		case kv.Value == "" && !c.discovery:
			names = []string{c.targetName}
		default:
			for _, n := range c.srv.visibleTargets(c.ctx, c.initiator) {
				if n == kv.Value {
					names = append(names, n)
				}
			}
			if len(names) == 0 && kv.Value != "" && c.srv.Lookup != nil {
				if _, err := c.srv.findTarget(c.ctx, c.initiator, kv.Value); err == nil {
					names = append(names, kv.Value)
				}
			}
			if len(names) == 0 && !validIQNish(kv.Value) {
				out = AppendText(out, KeyValue{"SendTargets", "Reject"})
				continue
			}
		}
		addr := portalAddr(c.nc.LocalAddr())
		for _, n := range names {
			out = AppendText(out, KeyValue{"TargetName", n}, KeyValue{"TargetAddress", addr + ",1"})
		}
	}
	reply(out)
}

// validIQNish reports whether v looks like an iSCSI name (for SendTargets=<name>).
func validIQNish(v string) bool {
	return len(v) > 4 && (v[:4] == "iqn." || v[:4] == "eui." || v[:4] == "naa.")
}

// portalAddr formats a local address as host:port (IPv6 in brackets).
func portalAddr(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return net.JoinHostPort(ta.IP.String(), strconv.Itoa(ta.Port))
	}
	return a.String()
}

// handleLogout answers a Logout Request (c.mu held) and closes the connection.
func (c *conn) handleLogout(h *BHS) {
	reason := h[1] & 0x7F
	itt := h.ITT()
	code := byte(0)
	switch {
	case reason == 2:
		code = 2 // connection recovery not supported
	}
	var wait []chan struct{}
	if code == 0 {
		c.loggingOut = true
		for _, t := range c.tasks {
			if t.itt != itt {
				c.abortLocked(t)
				wait = append(wait, t.waitChan())
			}
		}
	}
	go func() {
		for _, w := range wait {
			select {
			case <-w:
			case <-c.ctx.Done():
				return
			}
		}
		p := &outPDU{sn: snConsume, closeAfter: code == 0}
		p.hdr[0] = byte(OpLogoutResp)
		p.hdr[1] = 0x80
		p.hdr[2] = code
		p.hdr.PutU32(16, itt)
		binary.BigEndian.PutUint16(p.hdr[40:], uint16(c.p.time2Wait))
		binary.BigEndian.PutUint16(p.hdr[42:], uint16(c.p.time2Retain))
		c.send(p)
	}()
}
