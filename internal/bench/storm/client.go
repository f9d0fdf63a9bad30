package storm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// castagnoli is CRC-32C, computed in hardware on amd64 and arm64: the
// clients check every byte of 64 GB without becoming the bottleneck.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// want is what a downloaded file must be.
type want struct {
	Size int64
	CRC  uint32
}

// fileWant reads a file and returns its size and CRC-32C.
func fileWant(path string) (want, error) {
	f, err := os.Open(path)
	if err != nil {
		return want{}, err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, f)
	if err != nil {
		return want{}, err
	}
	return want{Size: n, CRC: h.Sum32()}, nil
}

// stageError is a client failure at one stage of the boot.
type stageError struct {
	Stage string // "dhcp-pxe", "tftp", "dhcp-ipxe", "http-script", "http-file"
	Err   error
}

func (e *stageError) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *stageError) Unwrap() error { return e.Err }

// Errors the client reports; reasons are counted by stage and kind.
var (
	// ErrTimeout: no answer after every retransmission.
	ErrTimeout = errors.New("storm: no answer")
	// ErrMismatch: a downloaded file had the wrong length or checksum.
	ErrMismatch = errors.New("storm: length or checksum mismatch")
	// ErrRefused: the server answered with an error (NAK, TFTP ERROR, HTTP
	// status other than 200).
	ErrRefused = errors.New("storm: refused")
)

// reason is the short key a failure is counted under: stage/kind.
func reason(err error) string {
	stage := "client"
	var se *stageError
	if errors.As(err, &se) {
		stage = se.Stage
	}
	kind := "error"
	var ne net.Error
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		kind = "timeout"
	case errors.Is(err, ErrMismatch):
		kind = "mismatch"
	case errors.Is(err, ErrRefused):
		kind = "refused"
	case errors.Is(err, ErrScript):
		kind = "script"
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		kind = "reset"
	case errors.Is(err, context.Canceled):
		kind = "canceled"
	}
	return stage + "/" + kind
}

// relay is the clients' DHCP side: one socket on the client namespace's
// port 67 that sends every client's requests as a relay agent would
// (giaddr = its own address, hops 1) and hands each unicast reply to the
// client waiting on its xid. Many clients share one namespace and one
// address, so broadcast replies to port 68 would need the same demultiplexing
// and would also reach every other client; a relay is also how large sites
// reach their DHCP server.
type relay struct {
	conn   *net.UDPConn
	server *net.UDPAddr
	giaddr net.IP

	mu      sync.Mutex
	waiters map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4
	// Stray counts replies nobody waited for and unparsable packets.
	stray int
	// Resent counts DHCP retransmissions (a request that got no answer in time).
	resent atomic.Int64
	// Restarts counts DORAs started over after a NAK.
	restarts atomic.Int64
}

// newRelay binds local (port 67 for a real server, which answers relays
// there) in namespace ns and starts reading; requests go to server.
func newRelay(ns string, local, server netip.AddrPort, inNetns func(string, func() error) error) (*relay, error) {
	r := &relay{server: net.UDPAddrFromAddrPort(server), giaddr: local.Addr().AsSlice(),
		waiters: map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4{}}
	err := inNetns(ns, func() error {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(local))
		if err != nil {
			return err
		}
		r.conn = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("relay socket: %w", err)
	}
	growBuffer(r.conn)
	go r.read()
	return r, nil
}

// growBuffer gives a client socket a receive buffer that holds a burst of
// replies for every client: losses must be the server's, not ours.
func growBuffer(c *net.UDPConn) {
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 16<<20)
		})
	}
	_ = c.SetReadBuffer(16 << 20)
}

func (r *relay) read() {
	buf := make([]byte, 1500)
	for {
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return // closed
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		r.mu.Lock()
		var ch chan *dhcpv4.DHCPv4
		if err == nil && m.OpCode == dhcpv4.OpcodeBootReply {
			ch = r.waiters[m.TransactionID]
		}
		if ch == nil {
			r.stray++
		} else {
			select {
			case ch <- m:
			default:
			}
		}
		r.mu.Unlock()
	}
}

// Close stops the relay.
func (r *relay) Close() error { return r.conn.Close() }

// exchange sends req and waits for a reply of type wantType with req's
// xid, resending after each of the waits (the PXE ROM's 4, 8, 16, 32 s, or
// iPXE's shorter ones). A NAK is ErrRefused.
func (r *relay) exchange(ctx context.Context, req *dhcpv4.DHCPv4, wantType dhcpv4.MessageType, waits []time.Duration) (*dhcpv4.DHCPv4, error) {
	req.GatewayIPAddr = r.giaddr
	req.HopCount = 1
	ch := make(chan *dhcpv4.DHCPv4, 4)
	r.mu.Lock()
	r.waiters[req.TransactionID] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiters, req.TransactionID)
		r.mu.Unlock()
	}()
	b := req.ToBytes()
	other := map[dhcpv4.MessageType]int{} // answers of the wrong type, for the error
	for i, w := range waits {
		if i > 0 {
			r.resent.Add(1)
		}
		if _, err := r.conn.WriteToUDP(b, r.server); err != nil {
			return nil, err
		}
		t := time.NewTimer(w)
	wait:
		for {
			select {
			case m := <-ch:
				switch m.MessageType() {
				case wantType:
					t.Stop()
					return m, nil
				case dhcpv4.MessageTypeNak:
					t.Stop()
					return nil, fmt.Errorf("%w: %w %s", ErrRefused, errNAK, m.Message())
				default:
					other[m.MessageType()]++
				}
			case <-t.C:
				break wait
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
	}
	if len(other) > 0 {
		return nil, fmt.Errorf("%w: no %s for xid %s (other answers: %v)", ErrTimeout, wantType, req.TransactionID, other)
	}
	return nil, fmt.Errorf("%w: no %s for xid %s", ErrTimeout, wantType, req.TransactionID)
}

// errNAK is a DHCPNAK: the client starts over with a DISCOVER.
var errNAK = errors.New("DHCPNAK")

// maxNAKs is how many times a client starts over after a DHCPNAK before it
// counts as failed (RFC 2131 §3.1: a NAK sends the client back to INIT).
const maxNAKs = 4

// Client retransmission waits.
var (
	pxeWaits  = []time.Duration{4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second} // PXE spec 2.1 §2.2
	ipxeWaits = []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}
)

// ipxeFeatures is option 175 as Debian's iPXE sends it (a subset of its
// feature flags: PXE extensions, HTTP, TFTP, DNS, bzImage, PXE, menu).
var ipxeFeatures = []byte{0x10, 1, 1, 0x13, 1, 1, 0x15, 1, 1, 0x17, 1, 1, 0x18, 1, 1, 0x21, 1, 1, 0x27, 1, 1}

// machine is one simulated PXE client.
type machine struct {
	MAC  net.HardwareAddr
	GUID [16]byte
}

func newMachine(i int) machine {
	m := machine{MAC: net.HardwareAddr{0x02, 0x00, 0x5b, byte(i >> 16), byte(i >> 8), byte(i)}}
	binary.BigEndian.PutUint32(m.GUID[:4], 0x5b0a5b0a)
	binary.BigEndian.PutUint32(m.GUID[12:], uint32(i))
	return m
}

// options are the boot options both stages send: 60 PXEClient class, 93
// arch 0 (BIOS), 94 UNDI 2.1, 97 GUID, and the parameter request list; iPXE
// adds 77 "iPXE" (raw, as iPXE sends it) and 175.
func (m machine) options(ipxe bool) []dhcpv4.Modifier {
	guid := append([]byte{0}, m.GUID[:]...)
	mods := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
		dhcpv4.WithGeneric(dhcpv4.OptionClientNetworkInterfaceIdentifier, []byte{1, 2, 1}),
		dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, guid),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionTFTPServerName,
			dhcpv4.OptionBootfileName, dhcpv4.OptionVendorSpecificInformation, dhcpv4.OptionClassIdentifier),
	}
	if ipxe {
		mods = append(mods,
			dhcpv4.WithGeneric(dhcpv4.OptionUserClassInformation, []byte("iPXE")),
			dhcpv4.WithGeneric(dhcpv4.GenericOptionCode(175), ipxeFeatures))
	}
	return mods
}

// dora runs DISCOVER/OFFER/REQUEST/ACK and returns the ACK; after a NAK it
// starts over, as a client in INIT does, up to maxNAKs times.
func (m machine) dora(ctx context.Context, r *relay, ipxe bool, waits []time.Duration) (*dhcpv4.DHCPv4, error) {
	for naks := 0; ; naks++ {
		ack, err := m.dora1(ctx, r, ipxe, waits)
		if naks+1 < maxNAKs && errors.Is(err, errNAK) {
			r.restarts.Add(1)
			continue
		}
		return ack, err
	}
}

func (m machine) dora1(ctx context.Context, r *relay, ipxe bool, waits []time.Duration) (*dhcpv4.DHCPv4, error) {
	d, err := dhcpv4.NewDiscovery(m.MAC, m.options(ipxe)...)
	if err != nil {
		return nil, err
	}
	offer, err := r.exchange(ctx, d, dhcpv4.MessageTypeOffer, waits)
	if err != nil {
		return nil, fmt.Errorf("DISCOVER: %w", err)
	}
	req, err := dhcpv4.NewRequestFromOffer(offer, m.options(ipxe)...)
	if err != nil {
		return nil, err
	}
	ack, err := r.exchange(ctx, req, dhcpv4.MessageTypeAck, waits)
	if err != nil {
		return nil, fmt.Errorf("REQUEST: %w", err)
	}
	if ack.YourIPAddr.IsUnspecified() {
		return nil, fmt.Errorf("%w: ACK without an address", ErrRefused)
	}
	return ack, nil
}

// bootFile returns the boot file name an answer names (file field or
// option 67) and the TFTP server (option 66, else siaddr, else the server
// identifier).
func bootFile(ack *dhcpv4.DHCPv4) (file string, server net.IP) {
	file = strings.TrimRight(ack.BootFileName, "\x00")
	if file == "" {
		file = strings.TrimRight(ack.BootFileNameOption(), "\x00")
	}
	if n := ack.TFTPServerName(); n != "" {
		server = net.ParseIP(strings.TrimRight(n, "\x00"))
	}
	if server == nil && ack.ServerIPAddr != nil && !ack.ServerIPAddr.IsUnspecified() {
		server = ack.ServerIPAddr
	}
	if server == nil {
		server = ack.ServerIdentifier()
	}
	return file, server
}

// tftpGet fetches file from server (port 69) the way a PXE ROM does (octet mode,
// blksize 1468, tsize), from a socket created in namespace ns, and returns
// the size and CRC-32C of what arrived. Lost packets are retransmitted after
// 1, 2, 4, 8 s (then it gives up).
func tftpGet(ctx context.Context, ns string, inNetns func(string, func() error) error, local netip.Addr, server *net.UDPAddr, file string, resent *atomic.Int64) (want, error) {
	var conn *net.UDPConn
	if err := inNetns(ns, func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: local.AsSlice()})
		conn = c
		return err
	}); err != nil {
		return want{}, err
	}
	defer conn.Close()
	growBuffer(conn)
	const blksize = 1468
	rrq := []byte{0, 1}
	for _, s := range []string{file, "octet", "blksize", strconv.Itoa(blksize), "tsize", "0"} {
		rrq = append(append(rrq, s...), 0)
	}
	dst := server
	last := rrq
	var peer *net.UDPAddr
	bs := 512
	next := uint16(1)
	h := crc32.New(castagnoli)
	var size int64
	waits := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	buf := make([]byte, 65536)
	try := 0
	send := func() error {
		to := dst
		if peer != nil {
			to = peer
		}
		_, err := conn.WriteToUDP(last, to)
		return err
	}
	if err := send(); err != nil {
		return want{}, err
	}
	for {
		if ctx.Err() != nil {
			return want{}, ctx.Err()
		}
		_ = conn.SetReadDeadline(time.Now().Add(waits[try]))
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				try++
				if try == len(waits) {
					return want{}, fmt.Errorf("%w: block %d of %s", ErrTimeout, next, file)
				}
				resent.Add(1)
				if err := send(); err != nil {
					return want{}, err
				}
				continue
			}
			return want{}, err
		}
		if peer == nil {
			peer = from
		} else if !from.IP.Equal(peer.IP) || from.Port != peer.Port {
			continue // another TID: RFC 1350 says answer with an error; ignoring is enough here
		}
		if n < 4 {
			continue
		}
		switch binary.BigEndian.Uint16(buf[:2]) {
		case 6: // OACK
			if next != 1 {
				continue
			}
			opts := strings.Split(string(buf[2:n]), "\x00")
			for i := 0; i+1 < len(opts); i += 2 {
				if strings.EqualFold(opts[i], "blksize") {
					v, err := strconv.Atoi(opts[i+1])
					if err != nil || v < 8 || v > blksize {
						return want{}, fmt.Errorf("%w: OACK blksize %q", ErrRefused, opts[i+1])
					}
					bs = v
				}
			}
			last = []byte{0, 4, 0, 0}
		case 3: // DATA
			blk := binary.BigEndian.Uint16(buf[2:4])
			if blk != next {
				if blk == next-1 { // our ACK was lost: repeat it
					_ = send()
				}
				continue
			}
			data := buf[4:n]
			h.Write(data)
			size += int64(len(data))
			last = []byte{0, 4, byte(blk >> 8), byte(blk)}
			next++
			if len(data) < bs {
				_ = send()
				return want{Size: size, CRC: h.Sum32()}, nil
			}
		case 5: // ERROR
			return want{}, fmt.Errorf("%w: TFTP error %d %q", ErrRefused, binary.BigEndian.Uint16(buf[2:4]), strings.TrimRight(string(buf[4:n]), "\x00"))
		default:
			continue
		}
		try = 0
		if err := send(); err != nil {
			return want{}, err
		}
	}
}

// bufPool holds the HTTP clients' copy buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// httpGet fetches u and returns the body (at most limit bytes kept, for
// scripts) or its size and CRC-32C.
func httpGet(ctx context.Context, c *http.Client, u string, keep bool) ([]byte, want, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, want{}, err
	}
	req.Header.Set("User-Agent", "iPXE/1.21.1+ (g4e456d99)") // Debian's iPXE, as servers see it
	resp, err := c.Do(req)
	if err != nil {
		return nil, want{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil, want{}, fmt.Errorf("%w: GET %s: %s", ErrRefused, u, resp.Status)
	}
	if keep {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxScript+1))
		return b, want{}, err
	}
	h := crc32.New(castagnoli)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	n, err := io.CopyBuffer(h, resp.Body, *bp)
	if err != nil {
		return nil, want{}, err
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return nil, want{}, fmt.Errorf("%w: %s: %d of %d bytes", ErrMismatch, u, n, resp.ContentLength)
	}
	return nil, want{Size: n, CRC: h.Sum32()}, nil
}

// boot is the job of one client: PXE ROM DHCP, TFTP of the NBP, iPXE's
// DHCP, the script chain over HTTP, and kernel and initrd. files maps URL
// paths to what they must contain; nbp is what the TFTP file must be.
type boot struct {
	ns      string
	inNetns func(string, func() error) error
	local   netip.Addr
	relay   *relay
	nbp     want
	files   map[string]want
	// tftpPort is where TFTP servers listen (69).
	tftpPort int
	// TFTPResent counts TFTP retransmissions by the clients.
	TFTPResent atomic.Int64
}

// stages are the boot's stages, in order, as timed in result.stage.
var stages = [...]string{"dhcp-pxe", "tftp", "dhcp-ipxe", "http"}

// run boots machine m and returns the bytes it received; st gets the time
// each stage took (up to the one that failed).
func (b *boot) run(ctx context.Context, m machine, st *[len(stages)]time.Duration) (int64, error) {
	t := time.Now()
	lap := func(i int) {
		now := time.Now()
		st[i] = now.Sub(t)
		t = now
	}
	ack, err := m.dora(ctx, b.relay, false, pxeWaits)
	lap(0)
	if err != nil {
		return 0, &stageError{"dhcp-pxe", err}
	}
	file, server := bootFile(ack)
	if file == "" || server == nil {
		return 0, &stageError{"dhcp-pxe", fmt.Errorf("%w: no boot file or server in the ACK", ErrRefused)}
	}
	got, err := tftpGet(ctx, b.ns, b.inNetns, b.local, &net.UDPAddr{IP: server, Port: b.tftpPort}, file, &b.TFTPResent)
	lap(1)
	if err != nil {
		return 0, &stageError{"tftp", err}
	}
	if got != b.nbp {
		return 0, &stageError{"tftp", fmt.Errorf("%w: %s: got %d bytes crc %08x, want %d bytes crc %08x", ErrMismatch, file, got.Size, got.CRC, b.nbp.Size, b.nbp.CRC)}
	}
	total := got.Size

	ack, err = m.dora(ctx, b.relay, true, ipxeWaits)
	lap(2)
	if err != nil {
		return total, &stageError{"dhcp-ipxe", err}
	}
	script, _ := bootFile(ack)
	if !strings.HasPrefix(script, "http://") {
		return total, &stageError{"dhcp-ipxe", fmt.Errorf("%w: boot file %q is not an http:// script", ErrRefused, script)}
	}
	vars := map[string]string{
		"net0/mac": m.MAC.String(), "mac": m.MAC.String(), "uuid": guidString(m.GUID),
		"buildarch": "i386", "platform": "pcbios", "ip": ack.YourIPAddr.String(), "net0/ip": ack.YourIPAddr.String(),
		"manufacturer": "QEMU", "product": "Standard PC (i440FX + PIIX, 1996)",
	}
	// One keep-alive connection pool per machine, as each iPXE has its own.
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := b.inNetns(b.ns, func() error {
				var err error
				c, err = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: b.local.AsSlice()}}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
		MaxIdleConnsPerHost: 2, DisableCompression: true, ResponseHeaderTimeout: 60 * time.Second,
	}
	defer tr.CloseIdleConnections()
	defer lap(3)
	hc := &http.Client{Transport: tr}
	u := script
	for hops := 0; ; hops++ {
		if hops == 8 {
			return total, &stageError{"http-script", fmt.Errorf("%w: more than 8 chained scripts", ErrScript)}
		}
		body, _, err := httpGet(ctx, hc, u, true)
		if err != nil {
			return total, &stageError{"http-script", err}
		}
		total += int64(len(body))
		base, _ := url.Parse(u)
		steps, err := plan(string(body), base, vars)
		if err != nil {
			return total, &stageError{"http-script", err}
		}
		u = ""
		for _, s := range steps {
			switch s.Op {
			case "chain":
				u = s.URL
			case "fetch":
				p, _ := url.Parse(s.URL)
				w, ok := b.files[p.Path]
				if !ok {
					return total, &stageError{"http-file", fmt.Errorf("%w: script names %s, not a file of this benchmark", ErrScript, s.URL)}
				}
				_, got, err := httpGet(ctx, hc, s.URL, false)
				total += got.Size
				if err != nil {
					return total, &stageError{"http-file", err}
				}
				if got != w {
					return total, &stageError{"http-file", fmt.Errorf("%w: %s: got %d bytes crc %08x, want %d bytes crc %08x", ErrMismatch, s.URL, got.Size, got.CRC, w.Size, w.CRC)}
				}
			case "boot":
				return total, nil
			}
		}
		if u == "" {
			return total, &stageError{"http-script", fmt.Errorf("%w: no boot", ErrScript)}
		}
	}
}

// guidString formats a SMBIOS UUID the way iPXE's ${uuid} does.
func guidString(g [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", g[0:4], g[4:6], g[6:8], g[8:10], g[10:16])
}
