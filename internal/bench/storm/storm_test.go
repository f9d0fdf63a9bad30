package storm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/bench/harness"
	"github.com/netbootkit/netboot/tftpserve"
)

// TestQuick runs the storm workloads once at quick sizes (10 and 30
// machines, 4 MiB kernel+initrd) and checks that every subject that can run
// here booted every machine and had its memory sampled.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and boots 40 simulated machines twice")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, DHCP and TFTP ports)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	host := harness.Host()
	cfg := harness.Config{Quick: true, Dir: t.TempDir(), Host: &host}
	ws := Workloads(cfg)
	require.Len(t, ws, 2)
	rep := harness.Run(ctx, ws, harness.Options{Rounds: 1})
	require.NoError(t, ctx.Err())
	ran := 0
	for _, r := range rep.Results {
		name := r.Workload + "/" + r.Subject
		if r.Skipped != "" {
			t.Logf("%s skipped: %s", name, r.Skipped)
			continue
		}
		ran++
		assert.Empty(t, r.Errors, name)
		if !assert.Len(t, r.Samples, 1, name) {
			continue
		}
		s := r.Samples[0]
		assert.Greater(t, s.Values["last"], 0.0, name)
		assert.Zero(t, s.Failures, "%s: %s", name, s.Note)
		var n float64
		_, err := fmt.Sscanf(r.Workload, "storm-%g", &n)
		require.NoError(t, err)
		assert.Equal(t, n, s.Values["ok"], "%s: every machine boots", name)
		assert.Greater(t, s.Values["goodput"], 0.0, name)
		assert.Greater(t, r.PeakRSS, int64(0), "%s: peak RSS sampled", name)
	}
	require.Positive(t, ran, "no subject could run")
}

func TestPlan(t *testing.T) {
	base, _ := url.Parse("http://10.99.0.1/bootstrap.ipxe")
	vars := map[string]string{"net0/mac": "02:00:5b:00:00:01", "uuid": "u-1", "manufacturer": "A B&C"}
	tests := []struct {
		name, script string
		want         []step
		err          error
	}{
		{"kernel initrd boot", "#!ipxe\nkernel http://s/vmlinuz console=ttyS0\ninitrd http://s/initrd.img\nboot\n",
			[]step{{"fetch", "http://s/vmlinuz"}, {"fetch", "http://s/initrd.img"}, {Op: "boot"}}, nil},
		{"chain replaces the script", "#!ipxe\nset a:int32 0\n:retry\nchain --replace --autofree http://s/boot.ipxe?mac=${netX/mac:hexhyp}&m=${manufacturer:uristring}&u=${uuid}&x=${nope} || goto fail\ngoto ok\n:fail\nexit 1\n",
			[]step{{"chain", "http://s/boot.ipxe?mac=02-00-5b-00-00-01&m=A+B%26C&u=u-1&x="}}, nil},
		{"relative URL and named image", "#!ipxe\n# comment\nkernel --name k /vmlinuz\nboot k\n",
			[]step{{"fetch", "http://10.99.0.1/vmlinuz"}, {Op: "boot"}}, nil},
		{"no magic", "kernel http://s/k\nboot\n", nil, ErrScript},
		{"empty", "", nil, ErrScript},
		{"no boot", "#!ipxe\nkernel http://s/k\n", nil, ErrScript},
		{"exit", "#!ipxe\nexit 1\n", nil, ErrScript},
		{"shell", "#!ipxe\nshell\n", nil, ErrScript},
		{"https is not fetched", "#!ipxe\nchain https://s/x\n", nil, ErrScript},
		{"kernel without URL", "#!ipxe\nkernel --name k\nboot\n", nil, ErrScript},
		{"bad URL", "#!ipxe\nkernel http://[::1\nboot\n", nil, ErrScript},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := plan(tt.script, base, vars)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := plan("#!ipxe\n"+string(make([]byte, maxScript)), base, vars)
	require.ErrorIs(t, err, ErrScript, "oversized script")
}

// FuzzPlan: whatever a server sends as a script is an error or a plan whose
// last step is a chain or boot, never a panic.
func FuzzPlan(f *testing.F) {
	f.Add("#!ipxe\nkernel http://s/vmlinuz\ninitrd http://s/initrd.img\nboot\n")
	f.Add("#!ipxe\nchain --replace --autofree http://s/boot.ipxe?mac=${netX/mac:hexhyp}&u=${uuid} || goto fail\n")
	f.Add("#!ipxe\nkernel --name k ${base}/k\nboot k\n")
	f.Add("#!ipxe\r\n:a\r\ngoto a\r\n")
	f.Add("#!gpxe\nimgfetch -n x http://s/${")
	f.Fuzz(func(t *testing.T, script string) {
		base, _ := url.Parse("http://10.99.0.1/x/")
		steps, err := plan(script, base, map[string]string{"net0/mac": "02:00:00:00:00:01"})
		if err != nil {
			if !errors.Is(err, ErrScript) {
				t.Fatalf("error %v does not wrap ErrScript", err)
			}
			return
		}
		if len(steps) == 0 {
			t.Fatal("no steps and no error")
		}
		if op := steps[len(steps)-1].Op; op != "chain" && op != "boot" {
			t.Fatalf("plan ends with %q", op)
		}
		for _, s := range steps[:len(steps)-1] {
			if s.Op != "fetch" {
				t.Fatalf("%q before the end", s.Op)
			}
		}
		for _, s := range steps {
			if s.Op == "boot" {
				continue
			}
			u, err := url.Parse(s.URL)
			if err != nil || u.Scheme != "http" {
				t.Fatalf("step URL %q", s.URL)
			}
		}
	})
}

func direct(_ string, fn func() error) error { return fn() }

// TestTFTPGet fetches from tftpserve on loopback the way the simulated PXE
// ROM does, and checks length, CRC, and refusals.
func TestTFTPGet(t *testing.T) {
	data := make([]byte, 74213) // undionly.kpxe's size: 50 blocks of 1468, the last short
	for i := range data {
		data[i] = byte(i * 7)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &tftpserve.Server{Root: fstest.MapFS{"undionly.kpxe": {Data: data}, "empty": {}}}
	go srv.Serve(pc)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	addr := pc.LocalAddr().(*net.UDPAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lo := netip.MustParseAddr("127.0.0.1")
	var resent atomic.Int64

	got, err := tftpGet(ctx, "", direct, lo, addr, "undionly.kpxe", &resent)
	require.NoError(t, err)
	w := crcOf(data)
	assert.Equal(t, w, got)

	got, err = tftpGet(ctx, "", direct, lo, addr, "empty", &resent)
	require.NoError(t, err)
	assert.Equal(t, want{Size: 0, CRC: 0}, got)

	_, err = tftpGet(ctx, "", direct, lo, addr, "missing.kpxe", &resent)
	require.ErrorIs(t, err, ErrRefused)
	assert.Equal(t, "tftp/refused", reason(&stageError{"tftp", err}))
}

// TestTFTPGetRetransmits: a server that drops the first DATA block and
// an ACK's answer makes the client resend, and the file still arrives whole.
func TestTFTPGetRetransmits(t *testing.T) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer pc.Close()
	payload := []byte("0123456789abcdefghij") // 20 bytes with blksize 8: blocks 8, 8, 4
	go func() {
		buf := make([]byte, 1500)
		n, client, err := pc.ReadFromUDP(buf)
		if err != nil || n < 2 {
			return
		}
		// OACK blksize 8; the client ACKs block 0.
		_, _ = pc.WriteToUDP(append([]byte{0, 6}, "blksize\x008\x00"...), client)
		dropped := false
		for {
			_ = pc.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, _, err := pc.ReadFromUDP(buf)
			if err != nil || n < 4 || buf[1] != 4 {
				return
			}
			acked := int(buf[3])
			if acked == 3 {
				return // the short last block was acknowledged
			}
			if acked == 1 && !dropped { // block 2 is lost once
				dropped = true
				continue
			}
			off := acked * 8
			end := min(off+8, len(payload))
			_, _ = pc.WriteToUDP(append([]byte{0, 3, 0, byte(acked + 1)}, payload[off:end]...), client)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var resent atomic.Int64
	got, err := tftpGet(ctx, "", direct, netip.MustParseAddr("127.0.0.1"), pc.LocalAddr().(*net.UDPAddr), "f", &resent)
	require.NoError(t, err)
	assert.Equal(t, crcOf(payload), got)
	assert.Equal(t, int64(1), resent.Load())
}

func crcOf(b []byte) want {
	f, _ := os.CreateTemp("", "storm-crc")
	defer os.Remove(f.Name())
	f.Write(b)
	f.Close()
	w, _ := fileWant(f.Name())
	return w
}

// TestDORA runs a machine's two DHCP exchanges through the relay against a
// fake server on loopback that loses the first DISCOVER: the client
// resends, sends the PXE options (and iPXE's 77 and 175 the second time),
// relays through giaddr, and reads the boot file.
func TestDORA(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer srv.Close()
	seen := make(chan *dhcpv4.DHCPv4, 16)
	go func() {
		buf := make([]byte, 1500)
		discovers := 0
		for {
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			req, err := dhcpv4.FromBytes(buf[:n])
			if err != nil {
				continue
			}
			seen <- req
			typ := dhcpv4.MessageTypeOffer
			if req.MessageType() == dhcpv4.MessageTypeDiscover {
				discovers++
				if discovers == 1 {
					continue // lost
				}
			} else {
				typ = dhcpv4.MessageTypeAck
			}
			file := "undionly.kpxe"
			if string(req.Options.Get(dhcpv4.OptionUserClassInformation)) == "iPXE" {
				file = "http://10.99.0.1/boot.ipxe"
			}
			resp, _ := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(typ),
				dhcpv4.WithYourIP(net.IPv4(10, 99, 1, 7)), dhcpv4.WithServerIP(net.IPv4(10, 99, 0, 1)),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 99, 0, 1))))
			resp.BootFileName = file
			_, _ = srv.WriteToUDP(resp.ToBytes(), from) // to giaddr's socket
		}
	}()
	lo := netip.MustParseAddr("127.0.0.1")
	r, err := newRelay("", netip.AddrPortFrom(lo, 0), srv.LocalAddr().(*net.UDPAddr).AddrPort(), direct)
	require.NoError(t, err)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m := newMachine(258)
	short := []time.Duration{200 * time.Millisecond, 2 * time.Second, 10 * time.Second}

	ack, err := m.dora(ctx, r, false, short)
	require.NoError(t, err)
	file, server := bootFile(ack)
	assert.Equal(t, "undionly.kpxe", file)
	assert.Equal(t, "10.99.0.1", server.String())
	assert.Equal(t, int64(1), r.resent.Load(), "the lost DISCOVER was resent")

	ack, err = m.dora(ctx, r, true, short)
	require.NoError(t, err)
	file, _ = bootFile(ack)
	assert.Equal(t, "http://10.99.0.1/boot.ipxe", file)

	drain := func() []*dhcpv4.DHCPv4 {
		var out []*dhcpv4.DHCPv4
		for {
			select {
			case m := <-seen:
				out = append(out, m)
			default:
				return out
			}
		}
	}
	reqs := drain()
	require.Len(t, reqs, 5) // the ROM: DISCOVER twice, REQUEST; iPXE: DISCOVER, REQUEST
	for i, q := range reqs {
		assert.Equal(t, "127.0.0.1", q.GatewayIPAddr.String(), "giaddr of request %d", i)
		assert.Equal(t, uint8(1), q.HopCount)
		assert.Equal(t, "02:00:5b:00:01:02", q.ClientHWAddr.String())
		assert.Equal(t, "PXEClient:Arch:00000:UNDI:002001", q.ClassIdentifier())
		assert.Equal(t, []byte{0, 0}, q.Options.Get(dhcpv4.OptionClientSystemArchitectureType))
		assert.Len(t, q.Options.Get(dhcpv4.OptionClientMachineIdentifier), 17)
		ipxe := i >= 3
		assert.Equal(t, ipxe, q.Options.Has(dhcpv4.GenericOptionCode(175)), "option 175 in request %d", i)
	}
	assert.Equal(t, dhcpv4.MessageTypeRequest, reqs[2].MessageType())
	assert.Equal(t, "10.99.1.7", reqs[2].RequestedIPAddress().String())
}

func TestSummarize(t *testing.T) {
	res := []result{
		{dur: 2 * time.Second, bytes: 100},
		{dur: 4 * time.Second, bytes: 100},
		{dur: 30 * time.Second, bytes: 7, err: &stageError{"tftp", fmt.Errorf("%w: block 3", ErrTimeout)}},
		{dur: 1 * time.Second, bytes: 5, err: &stageError{"http-file", ErrMismatch}},
	}
	s := summarize(res, 31*time.Second)
	assert.Equal(t, 30.0, s.Values["last"])
	assert.Equal(t, 2.0, s.Values["p50"])
	assert.Equal(t, 4.0, s.Values["p95"])
	assert.Equal(t, 2.0, s.Values["ok"])
	assert.Equal(t, 2, s.Failures)
	assert.InDelta(t, 212/31e6, s.Values["goodput"], 1e-12)
	assert.Contains(t, s.Note, "http-file/mismatch=1 tftp/timeout=1")
}

func TestPercentile(t *testing.T) {
	vs := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	assert.Equal(t, 5.0, percentile(vs, 50))
	assert.Equal(t, 10.0, percentile(vs, 95))
	assert.Equal(t, 1.0, percentile(vs, 0))
	assert.Equal(t, 0.0, percentile(nil, 50))
	assert.Equal(t, []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}, vs, "input untouched")
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"net0/mac": "02:00:00:00:00:0a", "a": "x y"}
	for in, out := range map[string]string{
		"plain":                    "plain",
		"${net0/mac}":              "02:00:00:00:00:0a",
		"${netX/mac:hexhyp}":       "02-00-00-00-00-0a",
		"?a=${a:uristring}&b=${b}": "?a=x+y&b=",
		"unterminated ${a":         "unterminated ${a",
		"${a}${a}":                 "x yx y",
	} {
		assert.Equal(t, out, expand(in, vars), in)
	}
}

func TestParseUDPDrops(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"Udp: 4210 3 17 4100 15 0 0 0 0\n" +
		"UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\n" +
		"UdpLite: 0 0 0 0 99 0 0 0 0\n"
	assert.Equal(t, int64(15), parseUDPDrops(snmp))
	assert.Equal(t, int64(0), parseUDPDrops(""))
	assert.Equal(t, int64(0), parseUDPDrops("Udp: RcvbufErrors\nUdp: x\n"))
	if b, err := os.ReadFile("/proc/net/snmp"); err == nil {
		assert.GreaterOrEqual(t, parseUDPDrops(string(b)), int64(0))
	}
}
