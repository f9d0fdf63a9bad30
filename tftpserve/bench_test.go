//go:build linux

package tftpserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/stretchr/testify/require"
)

// BenchmarkTransfer measures this server alone with pin/tftp's client
// (go test -bench Transfer ./tftpserve).
func BenchmarkTransfer(b *testing.B) {
	for _, bs := range []int{512, 1468, 65464} {
		b.Run("blksize="+strconv.Itoa(bs), func(b *testing.B) {
			data := testData(8<<20, 1)
			srv := &Server{Handler: HandlerFunc(func(ctx context.Context, req *Request) (Content, error) { return Bytes(data), nil })}
			conn, err := ListenPacket("udp", "127.0.0.1:0")
			require.NoError(b, err)
			go srv.Serve(conn)
			defer srv.Shutdown(context.Background())
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for range b.N {
				got, _, err := goGet(conn.LocalAddr().String(), "x", bs, true)
				if err != nil || len(got) != len(data) {
					b.Fatal(err, len(got))
				}
			}
		})
	}
}

// BenchmarkCompareWithPeers is the comparison with the peer servers (it
// needs root, tftpd-hpa and dnsmasq, and runs once whatever b.N says). It serves one 64 MiB file from this server, tftpd-hpa and
// dnsmasq on three loopback addresses, fetches it with the same client
// (curl) at blksize 512, 1468 and 65464 in alternation A B C A B C, and
// prints the median MB/s and the ratios; then it runs a boot storm of
// 200 concurrent clients (pin/tftp's client, blksize 1468) each fetching
// 8 MiB, against each server, and prints failures and wall time.
//
//	sudo go test -run '^$' -bench CompareWithPeers -benchtime 1x -v -timeout 30m ./tftpserve
//
// TFTPSERVE_BENCH_ROUNDS sets the rounds (default 3);
// TFTPSERVE_BENCH_ONLY=throughput or =storm runs one half.
func BenchmarkCompareWithPeers(b *testing.B) {
	t := b
	if os.Geteuid() != 0 {
		t.Skip("needs root: dnsmasq's TFTP listens on port 69")
	}
	for _, bin := range []string{"in.tftpd", "dnsmasq", "curl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (Debian packages tftpd-hpa, dnsmasq, curl)", bin)
		}
	}
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("TFTPSERVE_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	dir, err := os.MkdirTemp("", "tftpserve-bench-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755)) // tftpd-hpa and dnsmasq drop privileges
	big := testData(64<<20, 64)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "64m.bin"), big, 0o644))
	small := testData(8<<20, 8)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "8m.bin"), small, 0o644))

	// Ours on 127.0.0.1, tftpd-hpa on 127.0.0.2, dnsmasq on 127.0.0.3:69.
	d, err := OpenDir(dir)
	require.NoError(t, err)
	defer d.Close()
	var retransmits, acked atomic.Int64
	srv := &Server{Handler: d, Timeout: benchTimeout(), OnTransferEnd: func(tr Transfer) {
		retransmits.Add(int64(tr.Datagrams - tr.Acked))
		acked.Add(int64(tr.Acked))
	}}
	oursAddr := startServer(t, srv, "127.0.0.1")

	port := freePort(t, "127.0.0.2")
	hpaAddr := "127.0.0.2:" + port
	hpa := startProc(t, "in.tftpd", "-L", "-s", dir, "-a", hpaAddr)
	dnsAddr := "127.0.0.3:69"
	dns := startProc(t, "dnsmasq", "-k", "--conf-file=/dev/null", "--port=0", "--enable-tftp",
		"--tftp-root="+dir, "--listen-address=127.0.0.3", "--bind-interfaces",
		"--tftp-max=300", "--quiet-tftp", "--pid-file=", "--user=nobody")
	servers := []struct {
		name, addr string
		pid        int // 0: this process
	}{{"tftpserve", oursAddr, 0}, {"tftpd-hpa", hpaAddr, hpa.Process.Pid}, {"dnsmasq", dnsAddr, dns.Process.Pid}}
	// Send-ahead, measured beside the rest (BlockSize 1468 caps blksize).
	ant := &Server{Handler: d, Anticipate: 16, BlockSize: 1468}
	antAddr := startServer(t, ant, "127.0.0.1")
	for _, s := range servers {
		waitTFTP(t, s.addr)
	}
	throughputServers := append(servers[:len(servers):len(servers)], servers[0])
	throughputServers[3].name, throughputServers[3].addr = "anticipate16", antAddr

	only := os.Getenv("TFTPSERVE_BENCH_ONLY") // "throughput" or "storm"
	if only != "storm" {
		t.Logf("throughput, 64 MiB with curl, median of %d rounds (MB/s = 10^6 B/s)", rounds)
	}
	for _, bs := range []int{512, 1468, 65464} {
		if only == "storm" {
			break
		}
		res := map[string][]float64{}
		for range rounds {
			for _, s := range throughputServers {
				start := time.Now()
				out, err := exec.Command("curl", "-sS", "--max-time", "600", "-o", "/dev/null",
					"-w", "%{size_download}", "--tftp-blksize", strconv.Itoa(bs),
					"tftp://"+s.addr+"/64m.bin").CombinedOutput()
				el := time.Since(start)
				require.NoError(t, err, "%s: %s", s.name, out)
				require.Equal(t, strconv.Itoa(len(big)), string(out), s.name)
				res[s.name] = append(res[s.name], float64(len(big))/el.Seconds()/1e6)
			}
		}
		ours, hpa, dns := median(res["tftpserve"]), median(res["tftpd-hpa"]), median(res["dnsmasq"])
		t.Logf("blksize %5d: tftpserve %7.1f MB/s  tftpd-hpa %7.1f  dnsmasq %7.1f  ratio vs faster peer %.2f  anticipate16(blksize<=1468) %7.1f  (runs %v)",
			bs, ours, hpa, dns, ours/max(hpa, dns), median(res["anticipate16"]), res)
	}

	const clients = 200
	for _, s := range servers {
		if only == "throughput" {
			break
		}
		if os.Getenv("TFTPSERVE_BENCH_OURS_ONLY") == "1" && s.pid != 0 {
			continue
		}
		// The clients run in a child process (this test binary), so that
		// they do not share the Go runtime with this server.
		cpu0 := cpuSeconds(t, s.pid)
		cmd := exec.Command(os.Args[0]) // TestMain runs stormClients when TFTPSERVE_STORM_ADDR is set
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "GOMAXPROCS=") { // the client keeps the default
				cmd.Env = append(cmd.Env, e)
			}
		}
		cmd.Env = append(cmd.Env, "TFTPSERVE_STORM_ADDR="+s.addr, "TFTPSERVE_STORM_CLIENTS="+strconv.Itoa(clients))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		cpu := cpuSeconds(t, s.pid) - cpu0
		var failures int
		var secs float64
		var first string
		for _, line := range strings.Split(string(out), "\n") {
			if i := strings.Index(line, "STORM "); i >= 0 {
				_, err := fmt.Sscanf(line[i:], "STORM failures=%d seconds=%f", &failures, &secs)
				require.NoError(t, err, line)
			}
			if i := strings.Index(line, "FIRST "); i >= 0 {
				first = line[i:]
			}
		}
		t.Logf("storm %s: %d clients x 8 MiB, blksize 1468: %d failures, %.1f s, aggregate %.1f MB/s, server CPU %.1f s (%.1f MB per CPU-second) %s",
			s.name, clients, failures, secs, float64(clients*len(small))/secs/1e6, cpu, float64(clients*len(small))/cpu/1e6, first)
		if s.name == "tftpserve" {
			t.Logf("  tftpserve: %d datagrams resent, %d acked (server Timeout %v)", retransmits.Load(), acked.Load(), srv.Timeout)
		}
		if s.name == "tftpserve" && failures > 0 {
			t.Errorf("tftpserve storm had %d failures", failures)
		}
	}
}

// stormClients is the client side of the storm, run by TestMain in a child
// process of BenchmarkCompareWithPeers.
func stormClients(addr string) {
	clients, _ := strconv.Atoi(os.Getenv("TFTPSERVE_STORM_CLIENTS"))
	want := testData(8<<20, 8)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, err := goGet(addr, "8m.bin", 1468, true)
			if err == nil && !bytes.Equal(got, want) {
				err = fmt.Errorf("content mismatch (%d bytes)", len(got))
			}
			if err != nil {
				mu.Lock()
				failures = append(failures, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("STORM failures=%d seconds=%f\n", len(failures), time.Since(start).Seconds())
	if len(failures) > 0 {
		fmt.Printf("FIRST %v\n", failures[0])
	}
}

// benchTimeout is the server's retransmission timeout in the benchmark
// (TFTPSERVE_BENCH_TIMEOUT, a Go duration; pin/tftp's default 5s if unset).
func benchTimeout() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("TFTPSERVE_BENCH_TIMEOUT"))
	return d
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func freePort(t testing.TB, host string) string {
	t.Helper()
	c, err := net.ListenPacket("udp", host+":0")
	require.NoError(t, err)
	defer c.Close()
	_, p, _ := net.SplitHostPort(c.LocalAddr().String())
	return p
}

// cpuSeconds returns the user+system CPU time of this process (pid 0) or
// of process pid and its reaped children (tftpd-hpa forks per transfer).
func cpuSeconds(t testing.TB, pid int) float64 {
	t.Helper()
	if pid == 0 {
		var ru syscall.Rusage
		require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	var ticks float64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		v, err := strconv.ParseFloat(f[i], 64)
		require.NoError(t, err)
		ticks += v
	}
	return ticks / 100 // USER_HZ
}

// startProc starts a server process and stops it (by its PID) at cleanup.
func startProc(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// waitTFTP waits until addr answers a request for a missing file.
func waitTFTP(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, _, err := goGetTimeout(addr, "no-such-file", time.Second)
		if err != nil && !isTimeout(err) {
			return
		}
	}
	t.Fatalf("no TFTP server answering on %s", addr)
}

func goGetTimeout(addr, name string, d time.Duration) ([]byte, int64, error) {
	c, err := tftp.NewClient(addr)
	if err != nil {
		return nil, 0, err
	}
	c.SetTimeout(d)
	c.SetRetries(1)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return nil, 0, err
	}
	var buf bytes.Buffer
	_, err = wt.WriteTo(&buf)
	return buf.Bytes(), 0, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// BenchmarkBlockSend measures the server's cost per DATA block, the TFTP
// hot path: one op is one block sent and acknowledged. The client is a raw
// lock-step loop over a loopback socket that reuses its buffers and
// allocates nothing per block, so allocs/op is the server's (pin/tftp's
// send loop plus this package's body reader) per block.
func BenchmarkBlockSend(b *testing.B) {
	for _, bs := range []int{512, 1468, 8192} {
		b.Run("blksize="+strconv.Itoa(bs), func(b *testing.B) {
			data := testData(bs*4096, 3) // reused: a transfer restarts when it ends
			srv := &Server{Handler: HandlerFunc(func(ctx context.Context, req *Request) (Content, error) { return Bytes(data), nil })}
			conn, err := ListenPacket("udp", "127.0.0.1:0")
			require.NoError(b, err)
			go srv.Serve(conn)
			defer srv.Shutdown(context.Background())
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			require.NoError(b, err)
			defer c.Close()
			rrq := []byte("\x00\x01b.bin\x00octet\x00blksize\x00" + strconv.Itoa(bs) + "\x00")
			srvAddr := conn.LocalAddr().(*net.UDPAddr)
			buf := make([]byte, bs+4)
			ack := []byte{0, 4, 0, 0}
			var peer *net.UDPAddr
			start := func() {
				_, err := c.WriteToUDP(rrq, srvAddr)
				require.NoError(b, err)
				n, from, err := c.ReadFromUDP(buf)
				require.NoError(b, err)
				require.True(b, n >= 2 && buf[1] == 6, "want OACK, got % x", buf[:min(n, 8)])
				peer = from
				ack[2], ack[3] = 0, 0
				_, err = c.WriteToUDP(ack, peer)
				require.NoError(b, err)
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Hour))
			start()
			b.SetBytes(int64(bs))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				n, _, err := c.ReadFromUDP(buf)
				if err != nil || n < 4 || buf[1] != 3 {
					b.Fatalf("want DATA: %v % x", err, buf[:min(n, 8)])
				}
				ack[2], ack[3] = buf[2], buf[3]
				if _, err := c.WriteToUDP(ack, peer); err != nil {
					b.Fatal(err)
				}
				if n < bs+4 { // last block: the next op starts a new transfer
					b.StopTimer()
					start()
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkRequestPath measures what a read request costs before the first
// block: name cleaning, ServeMux routing (exact, prefix and MAC routes) and
// opening the file through OpenDir's os.Root.
func BenchmarkRequestPath(b *testing.B) {
	root := testTree(b)
	d, err := OpenDir(root)
	require.NoError(b, err)
	defer d.Close()
	mux := NewServeMux()
	mux.Handle("ipxe/", StripPrefix("ipxe/", d))
	mux.HandleFunc("boot.ipxe", func(ctx context.Context, req *Request) (Content, error) { return String("#!ipxe\n"), nil })
	mux.HandleMAC(d)
	mux.Handle("sub/", d)
	for _, raw := range []string{"ipxe/1m.bin", "/boot.ipxe", "52-54-00-12-34-56/511.bin", "sub//dir\\file.txt"} {
		b.Run(strings.ReplaceAll(raw, "/", "_"), func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				name, err := CleanName(raw)
				if err != nil {
					b.Fatal(err)
				}
				c, err := mux.ServeTFTP(ctx, &Request{Name: name, RawName: raw})
				if err != nil {
					b.Fatal(raw, err)
				}
				if cl, ok := c.Body.(io.Closer); ok {
					cl.Close()
				}
			}
		})
	}
}
