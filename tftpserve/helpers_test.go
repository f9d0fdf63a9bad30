package tftpserve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/stretchr/testify/require"
)

// testSizes are the file sizes every client fetches: empty, around one
// 512-byte block, 1 MiB, and 40 MiB (past the block-number rollover at
// 512-byte blocks: 65535*512 = 33,553,920).
var testSizes = map[string]int{
	"empty.bin": 0,
	"511.bin":   511,
	"512.bin":   512,
	"513.bin":   513,
	"1m.bin":    1 << 20,
	"40m.bin":   40 << 20,
}

// testData returns deterministic pseudo-random bytes.
func testData(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 0x7466747073727665))
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

var (
	treeOnce sync.Once
	treeDir  string
	treeErr  error
)

// testTree builds (once per test binary) a directory layout:
//
//	base/outside/secret.txt        outside the served root
//	base/root/<testSizes files>
//	base/root/sub/dir/file.txt
//	base/root/escape -> ../outside/secret.txt  (symlink escaping)
//	base/root/inside -> 511.bin                (symlink staying inside)
//	base/root/fifo                             (named pipe)
//
// and returns base/root.
func testTree(t testing.TB) string {
	t.Helper()
	treeOnce.Do(func() {
		base, err := os.MkdirTemp("", "tftpserve-test-")
		if err != nil {
			treeErr = err
			return
		}
		treeDir = filepath.Join(base, "root")
		treeErr = buildTree(base)
	})
	require.NoError(t, treeErr)
	return treeDir
}

func TestMain(m *testing.M) {
	if addr := os.Getenv("TFTPSERVE_STORM_ADDR"); addr != "" {
		stormClients(addr) // a child process of BenchmarkCompareWithPeers
		os.Exit(0)
	}
	code := m.Run()
	if treeDir != "" {
		os.RemoveAll(filepath.Dir(treeDir))
	}
	os.Exit(code)
}

func buildTree(base string) error {
	root := filepath.Join(base, "root")
	for _, d := range []string{root + "/sub/dir", base + "/outside"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(base+"/outside/secret.txt", []byte("SECRET\n"), 0o644); err != nil {
		return err
	}
	for name, size := range testSizes {
		if err := os.WriteFile(filepath.Join(root, name), testData(size, uint64(size)), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(root+"/sub/dir/file.txt", []byte("nested\n"), 0o644); err != nil {
		return err
	}
	if err := os.Symlink("../outside/secret.txt", root+"/escape"); err != nil {
		return err
	}
	if err := os.Symlink("/etc/passwd", root+"/abs-escape"); err != nil {
		return err
	}
	if err := os.Symlink("511.bin", root+"/inside"); err != nil {
		return err
	}
	return mkfifo(root + "/fifo")
}

func sha(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

func fileSHA(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha(b)
}

// checkGoroutines records the goroutine count and, at cleanup (after the
// server's own cleanup, which is registered later and so runs first),
// waits until it is back to that count.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(15 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after Shutdown\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer runs srv on a fresh UDP port of host and returns
// "host:port". Cleanup shuts it down and checks that Serve returned.
func startServer(t testing.TB, srv *Server, host string) string {
	t.Helper()
	conn, err := ListenPacket("udp", net.JoinHostPort(host, "0"))
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(conn) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return conn.LocalAddr().String()
}

func newLogger(lb *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// goGet fetches name with pin/tftp's client.
func goGet(addr, name string, blksize int, tsize bool) ([]byte, int64, error) {
	c, err := tftp.NewClient(addr)
	if err != nil {
		return nil, 0, err
	}
	c.SetTimeout(5 * time.Second)
	c.SetRetries(5)
	if blksize != 0 {
		c.SetBlockSize(blksize)
	}
	c.RequestTSize(tsize)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return nil, 0, err
	}
	size := int64(-1)
	if it, ok := wt.(tftp.IncomingTransfer); ok {
		if n, ok := it.Size(); ok {
			size = n
		}
	}
	var buf bytes.Buffer
	_, err = wt.WriteTo(&buf)
	return buf.Bytes(), size, err
}

// rawConn is a minimal hand-made TFTP client for asserting exact packets.
type rawConn struct {
	t    *testing.T
	c    *net.UDPConn
	srv  *net.UDPAddr
	peer *net.UDPAddr // the server's transfer port once known
}

func newRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	require.NoError(t, err)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ua.IP})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, srv: ua}
}

func rrq(name, mode string, opts ...string) []byte {
	b := []byte{0, 1}
	b = append(b, name...)
	b = append(b, 0)
	b = append(b, mode...)
	b = append(b, 0)
	for _, o := range opts {
		b = append(b, o...)
		b = append(b, 0)
	}
	return b
}

func (r *rawConn) send(p []byte) {
	r.t.Helper()
	to := r.srv
	if r.peer != nil {
		to = r.peer
	}
	_, err := r.c.WriteToUDP(p, to)
	require.NoError(r.t, err)
}

func (r *rawConn) ack(block uint16) { r.send([]byte{0, 4, byte(block >> 8), byte(block)}) }

// recv returns the next packet; the first answer fixes the peer port.
func (r *rawConn) recv() []byte {
	r.t.Helper()
	buf := make([]byte, 65536)
	require.NoError(r.t, r.c.SetReadDeadline(time.Now().Add(20*time.Second)))
	n, from, err := r.c.ReadFromUDP(buf)
	require.NoError(r.t, err)
	if r.peer == nil {
		r.peer = from
	}
	return buf[:n]
}

// parseOACK splits an OACK into name/value pairs.
func parseOACK(t *testing.T, p []byte) map[string]string {
	t.Helper()
	require.GreaterOrEqual(t, len(p), 2)
	require.Equal(t, uint16(6), binary.BigEndian.Uint16(p), "want OACK, got %v", describe(p))
	parts := strings.Split(strings.TrimSuffix(string(p[2:]), "\x00"), "\x00")
	m := map[string]string{}
	for i := 0; i+1 < len(parts); i += 2 {
		m[parts[i]] = parts[i+1]
	}
	return m
}

func describe(p []byte) string {
	if len(p) < 4 {
		return fmt.Sprintf("short packet %x", p)
	}
	switch op := binary.BigEndian.Uint16(p); op {
	case 3:
		return fmt.Sprintf("DATA block %d len %d", binary.BigEndian.Uint16(p[2:]), len(p)-4)
	case 5:
		return fmt.Sprintf("ERROR code %d %q", binary.BigEndian.Uint16(p[2:]), strings.TrimRight(string(p[4:]), "\x00"))
	case 6:
		return fmt.Sprintf("OACK %q", p[2:])
	default:
		return fmt.Sprintf("opcode %d", op)
	}
}

// expectError asserts p is an ERROR packet and returns its message.
func expectError(t *testing.T, p []byte) string {
	t.Helper()
	require.GreaterOrEqual(t, len(p), 5)
	require.Equal(t, uint16(5), binary.BigEndian.Uint16(p), "want ERROR, got %s", describe(p))
	return strings.TrimRight(string(p[4:]), "\x00")
}

// readAll drives a lock-step transfer at blksize after the first packet
// and returns the data and the size of every DATA packet.
func (r *rawConn) readAll(first []byte, blksize int) ([]byte, []int) {
	r.t.Helper()
	var data []byte
	var sizes []int
	p := first
	if binary.BigEndian.Uint16(p) == 6 {
		r.ack(0)
		p = r.recv()
	}
	want := uint16(1)
	for {
		require.Equal(r.t, uint16(3), binary.BigEndian.Uint16(p), "want DATA, got %s", describe(p))
		require.Equal(r.t, want, binary.BigEndian.Uint16(p[2:]))
		data = append(data, p[4:]...)
		sizes = append(sizes, len(p)-4)
		r.ack(want)
		if len(p)-4 < blksize {
			return data, sizes
		}
		want++
		p = r.recv()
	}
}
