package tftpserve

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openTestDir(t *testing.T) *Dir {
	t.Helper()
	d, err := OpenDir(testTree(t))
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

// TestGoClientSizes fetches every test file with pin/tftp's own client at
// three block sizes, asking for tsize, and checks content and size.
func TestGoClientSizes(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: openTestDir(t)}
	addr := startServer(t, srv, "127.0.0.1")
	for name, size := range testSizes {
		for _, bs := range []int{0, 1468, 65464} {
			t.Run(fmt.Sprintf("%s/blksize=%d", name, bs), func(t *testing.T) {
				got, tsize, err := goGet(addr, name, bs, true)
				require.NoError(t, err)
				require.Equal(t, sha(testData(size, uint64(size))), sha(got))
				if size == 0 {
					// pin/tftp drops tsize=0 from the OACK (documented);
					// its client then reports either nothing (-1) or
					// the 0 it asked with.
					assert.Contains(t, []int64{-1, 0}, tsize)
				} else {
					assert.Equal(t, int64(size), tsize)
				}
			})
		}
	}
}

// TestNegotiation checks the first answer to RRQs with options, packet
// by packet.
func TestNegotiation(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: openTestDir(t)}
	addr := startServer(t, srv, "127.0.0.1")
	capped := &Server{Handler: openTestDir(t), BlockSize: 1468}
	cappedAddr := startServer(t, capped, "127.0.0.1")
	tests := []struct {
		name     string
		addr     string
		file     string
		opts     []string
		wantOACK map[string]string // nil: want DATA 1 right away
		blksize  int
	}{
		{"no options", addr, "1m.bin", nil, nil, 512},
		{"blksize 1468", addr, "1m.bin", []string{"blksize", "1468"}, map[string]string{"blksize": "1468"}, 1468},
		{"blksize 65464 on loopback", addr, "1m.bin", []string{"blksize", "65464"}, map[string]string{"blksize": "65464"}, 65464},
		{"blksize capped by BlockSize", cappedAddr, "1m.bin", []string{"blksize", "65464"}, map[string]string{"blksize": "1468"}, 1468},
		{"blksize too large ignored", addr, "1m.bin", []string{"blksize", "70000"}, nil, 512},
		{"blksize junk ignored", addr, "1m.bin", []string{"blksize", "abc"}, nil, 512},
		{"tsize", addr, "1m.bin", []string{"tsize", "0"}, map[string]string{"tsize": "1048576"}, 512},
		{"tsize and blksize", addr, "513.bin", []string{"tsize", "0", "blksize", "1468"}, map[string]string{"tsize": "513", "blksize": "1468"}, 1468},
		// pin/tftp v3.2.0 never acknowledges tsize 0: an empty file gets
		// no OACK at all, which RFC 2347 allows (option not accepted).
		{"tsize of empty file dropped", addr, "empty.bin", []string{"tsize", "0"}, nil, 512},
		{"timeout not negotiated", addr, "1m.bin", []string{"timeout", "3"}, nil, 512},
		{"windowsize not negotiated", addr, "1m.bin", []string{"windowsize", "16"}, nil, 512},
		{"unknown option ignored", addr, "1m.bin", []string{"foo", "bar"}, nil, 512},
		// pin/tftp matches option names case-sensitively.
		{"upper-case BLKSIZE ignored", addr, "1m.bin", []string{"BLKSIZE", "1024"}, nil, 512},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRaw(t, tc.addr)
			r.send(rrq(tc.file, "octet", tc.opts...))
			p := r.recv()
			if tc.wantOACK == nil {
				require.Equal(t, uint16(3), binary.BigEndian.Uint16(p), "got %s", describe(p))
			} else {
				require.Equal(t, tc.wantOACK, parseOACK(t, p))
			}
			data, _ := r.readAll(p, tc.blksize)
			size := testSizes[tc.file]
			require.Equal(t, sha(testData(size, uint64(size))), sha(data))
		})
	}
}

// TestBlockBoundaries checks the packet sizes at the end of a transfer:
// an exact multiple of the block size ends with an empty DATA.
func TestBlockBoundaries(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: openTestDir(t)}
	addr := startServer(t, srv, "127.0.0.1")
	tests := []struct {
		file  string
		sizes []int
	}{
		{"empty.bin", []int{0}},
		{"511.bin", []int{511}},
		{"512.bin", []int{512, 0}},
		{"513.bin", []int{512, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			r := newRaw(t, addr)
			r.send(rrq(tc.file, "octet"))
			_, sizes := r.readAll(r.recv(), 512)
			require.Equal(t, tc.sizes, sizes)
		})
	}
}

// TestRollover reads 40 MiB at 512-byte blocks with a hand-made client
// that insists on block numbers wrapping 65535 -> 0.
func TestRollover(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: openTestDir(t)}
	addr := startServer(t, srv, "127.0.0.1")
	r := newRaw(t, addr)
	r.send(rrq("40m.bin", "octet"))
	data, sizes := r.readAll(r.recv(), 512)
	require.Greater(t, len(sizes), 65536)
	require.Equal(t, sha(testData(40<<20, 40<<20)), sha(data))
	require.Equal(t, 0, sizes[len(sizes)-1], "40 MiB is a multiple of 512: ends with an empty block")
}

// TestSafeNames sends hostile names over the wire and checks that each
// is refused with an ERROR packet and a log line, and that unusual but
// harmless spellings are served.
func TestSafeNames(t *testing.T) {
	checkGoroutines(t)
	var lb logBuffer
	var ends []Transfer
	var mu sync.Mutex
	srv := &Server{Handler: openTestDir(t), Logger: newLogger(&lb), OnTransferEnd: func(tr Transfer) {
		mu.Lock()
		ends = append(ends, tr)
		mu.Unlock()
	}}
	addr := startServer(t, srv, "127.0.0.1")
	refused := []struct{ name, msg string }{
		{"../outside/secret.txt", "access violation: file name refused"},
		{"/../outside/secret.txt", "access violation: file name refused"},
		{`..\outside\secret.txt`, "access violation: file name refused"},
		{"sub/../../outside/secret.txt", "access violation: file name refused"},
		{"sub/dir/../../../outside/secret.txt", "access violation: file name refused"},
		{"%2e%2e/outside/secret.txt", "access violation: file name refused"},
		{"%2E%2E%2Foutside%2Fsecret.txt", "access violation: file name refused"},
		{"%252e%252e/outside/secret.txt", "access violation: file name refused"},
		{"..%5coutside%5csecret.txt", "access violation: file name refused"},
		{"511.bin%00", "access violation: file name refused"},
		{"bad\x01name", "access violation: file name refused"},
		{"\xc0\xae\xc0\xae/outside/secret.txt", "access violation: file name refused"},
		{"/", "access violation: file name refused"},
		{"escape", "access violation"},     // symlink leaving the root (os.Root refuses it)
		{"abs-escape", "access violation"}, // absolute symlink
		{"sub", "file not found"},          // directory
		{"fifo", "file not found"},         // named pipe: must not block
		{"no-such-file", "file not found"},
		{"/etc/passwd", "file not found"}, // absolute: relative to the root
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			r := newRaw(t, addr)
			r.send(rrq(tc.name, "octet", "tsize", "0", "blksize", "1468"))
			p := r.recv()
			require.Equal(t, tc.msg, expectError(t, p))
			require.Equal(t, uint16(1), binary.BigEndian.Uint16(p[2:]), "pin/tftp sends code 1 for every error")
			require.NotContains(t, string(p), "SECRET")
		})
	}
	logs := lb.String()
	assert.Equal(t, len(refused), strings.Count(logs, "tftp: request refused"), logs)
	assert.NotContains(t, logs, "SECRET")
	mu.Lock()
	assert.Len(t, ends, len(refused))
	for _, e := range ends {
		assert.Error(t, e.Err)
	}
	mu.Unlock()

	served := map[string]string{
		"/511.bin":            "511.bin",
		"//511.bin":           "511.bin",
		"./511.bin":           "511.bin",
		`\sub\dir\file.txt`:   "sub/dir/file.txt",
		`C:\sub\dir\file.txt`: "sub/dir/file.txt",
		"sub//dir///file.txt": "sub/dir/file.txt",
		"sub/./dir/file.txt":  "sub/dir/file.txt",
		"inside":              "511.bin", // symlink staying inside
	}
	for name, real := range served {
		t.Run("served/"+name, func(t *testing.T) {
			got, _, err := goGet(addr, name, 0, false)
			require.NoError(t, err)
			want, err := os.ReadFile(testTree(t) + "/" + real)
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

// TestRootFS serves an fs.FS through Server.Root.
func TestRootFS(t *testing.T) {
	checkGoroutines(t)
	fsys := fstest.MapFS{
		"undionly.kpxe": {Data: []byte("kpxe")},
		"dir/x":         {Data: []byte("x")},
	}
	srv := &Server{Root: fsys}
	addr := startServer(t, srv, "127.0.0.1")
	got, size, err := goGet(addr, "/undionly.kpxe", 1468, true)
	require.NoError(t, err)
	assert.Equal(t, "kpxe", string(got))
	assert.Equal(t, int64(4), size)
	_, _, err = goGet(addr, "dir", 0, false)
	require.ErrorContains(t, err, "file not found")
}

// TestGenerated serves generated content and checks that tsize is
// answered for it too, including content that only knows it can seek.
func TestGenerated(t *testing.T) {
	checkGoroutines(t)
	body := strings.Repeat("generated ", 1000)
	srv := &Server{Handler: HandlerFunc(func(ctx context.Context, req *Request) (Content, error) {
		switch req.Name {
		case "known":
			return String(body + req.RemoteAddr.Addr().String()), nil
		case "seek":
			return Content{Body: strings.NewReader(body), Size: -1}, nil
		case "stream":
			return Content{Body: io.LimitReader(strings.NewReader(body), 100), Size: -1}, nil
		case "liar":
			return Content{Body: strings.NewReader("short"), Size: 100}, nil
		}
		return Content{}, fs.ErrNotExist
	})}
	addr := startServer(t, srv, "127.0.0.1")
	got, size, err := goGet(addr, "known", 1468, true)
	require.NoError(t, err)
	assert.Equal(t, body+"127.0.0.1", string(got))
	assert.Equal(t, int64(len(got)), size)

	got, size, err = goGet(addr, "seek", 1468, true)
	require.NoError(t, err)
	assert.Equal(t, body, string(got))
	assert.Equal(t, int64(len(body)), size)

	// Unknown size: tsize is not answered, so with no other option
	// there is no OACK at all.
	r := newRaw(t, addr)
	r.send(rrq("stream", "octet", "tsize", "0"))
	p := r.recv()
	require.Equal(t, uint16(3), binary.BigEndian.Uint16(p), "got %s", describe(p))
	got, _ = r.readAll(p, 512)
	assert.Equal(t, body[:100], string(got))

	_, _, err = goGet(addr, "missing", 0, true)
	require.ErrorContains(t, err, "file not found")
}

// TestHandlerErrorsAreSanitized checks that internal error text never
// reaches the client, while the log keeps it.
func TestHandlerErrorsAreSanitized(t *testing.T) {
	checkGoroutines(t)
	var lb logBuffer
	srv := &Server{Logger: newLogger(&lb), Handler: HandlerFunc(func(ctx context.Context, req *Request) (Content, error) {
		switch req.Name {
		case "perm":
			return Content{}, &fs.PathError{Op: "open", Path: "/srv/secret/path", Err: fs.ErrPermission}
		case "readfail":
			return Content{Body: io.MultiReader(strings.NewReader(strings.Repeat("x", 600)), errReader{}), Size: 2000}, nil
		}
		return Content{}, errors.New("database at 10.1.2.3 down")
	})}
	addr := startServer(t, srv, "127.0.0.1")
	for name, want := range map[string]string{"perm": "access violation", "other": "cannot read file"} {
		r := newRaw(t, addr)
		r.send(rrq(name, "octet"))
		assert.Equal(t, want, expectError(t, r.recv()))
	}
	r := newRaw(t, addr)
	r.send(rrq("readfail", "octet"))
	p := r.recv()
	require.Equal(t, uint16(3), binary.BigEndian.Uint16(p))
	r.ack(1)
	assert.Equal(t, "read error", expectError(t, r.recv()))
	require.Eventually(t, func() bool { return strings.Contains(lb.String(), "disk on fire") }, 10*time.Second, 10*time.Millisecond)
	logs := lb.String()
	assert.Contains(t, logs, "/srv/secret/path")
	assert.Contains(t, logs, "database at 10.1.2.3 down")
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire at /dev/sda") }

// TestWrites checks that writes are refused by default, with a log line,
// and accepted with a WriteHandler.
func TestWrites(t *testing.T) {
	checkGoroutines(t)
	var lb logBuffer
	srv := &Server{Handler: openTestDir(t), Logger: newLogger(&lb)}
	addr := startServer(t, srv, "127.0.0.1")
	r := newRaw(t, addr)
	wrq := rrq("upload.bin", "octet")
	wrq[1] = 2
	r.send(wrq)
	assert.Equal(t, "access violation: write requests are not accepted", expectError(t, r.recv()))
	assert.Contains(t, lb.String(), "tftp: request refused")

	type upload struct {
		name string
		data []byte
	}
	uploads := make(chan upload, 1)
	ws := &Server{Handler: openTestDir(t), WriteHandler: writeFunc(func(ctx context.Context, req *Request, data io.WriterTo) error {
		var buf bytes.Buffer
		_, err := data.WriteTo(&buf)
		uploads <- upload{req.Name, buf.Bytes()}
		return err
	})}
	waddr := startServer(t, ws, "127.0.0.1")
	c, err := tftp.NewClient(waddr)
	require.NoError(t, err)
	rf, err := c.Send("/up/load.bin", "octet")
	require.NoError(t, err)
	payload := testData(5000, 5)
	_, err = rf.ReadFrom(bytes.NewReader(payload))
	require.NoError(t, err)
	select {
	case u := <-uploads:
		assert.Equal(t, "up/load.bin", u.name)
		assert.Equal(t, payload, u.data)
	case <-time.After(10 * time.Second):
		t.Fatal("write handler not called")
	}
}

type writeFunc func(ctx context.Context, req *Request, data io.WriterTo) error

func (f writeFunc) ReceiveTFTP(ctx context.Context, req *Request, data io.WriterTo) error {
	return f(ctx, req, data)
}

// TestHooks checks the fields the hooks report.
func TestHooks(t *testing.T) {
	checkGoroutines(t)
	var mu sync.Mutex
	var starts, ends []Transfer
	srv := &Server{
		Handler:         openTestDir(t),
		OnTransferStart: func(tr Transfer) { mu.Lock(); starts = append(starts, tr); mu.Unlock() },
		OnTransferEnd:   func(tr Transfer) { mu.Lock(); ends = append(ends, tr); mu.Unlock() },
	}
	addr := startServer(t, srv, "127.0.0.1")
	_, _, err := goGet(addr, "/1m.bin", 1468, true)
	require.NoError(t, err)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(ends) == 1 }, 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, starts, 1)
	s, e := starts[0], ends[0]
	t.Logf("start %+v end %+v", s, e)
	assert.Equal(t, "1m.bin", s.Name)
	assert.Equal(t, "/1m.bin", s.RawName)
	assert.Equal(t, "127.0.0.1", s.RemoteAddr.Addr().String())
	assert.Equal(t, int64(1<<20), s.Size)
	assert.NoError(t, e.Err)
	assert.Equal(t, int64(1<<20), e.Bytes)
	assert.Equal(t, 1468, e.BlockSize)
	assert.Equal(t, (1<<20)/1468+2, e.Acked, "DATA blocks plus the ACK of the OACK")
	assert.GreaterOrEqual(t, e.Datagrams, e.Acked)
	assert.Greater(t, e.Duration, time.Duration(0))
}

// TestMaxTransfersQueue runs many clients against a server that allows
// two transfers at once: all succeed, and no more than two run at once.
func TestMaxTransfersQueue(t *testing.T) {
	checkGoroutines(t)
	var running, peak atomic.Int32
	srv := &Server{
		Handler:      openTestDir(t),
		MaxTransfers: 2,
		OnTransferStart: func(Transfer) {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
		},
		OnTransferEnd: func(tr Transfer) {
			if tr.Err == nil {
				running.Add(-1)
			}
		},
	}
	addr := startServer(t, srv, "127.0.0.1")
	const clients = 24
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	want := sha(testData(1<<20, 1<<20))
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _, err := goGet(addr, "1m.bin", 1468, true)
			if err == nil && sha(got) != want {
				err = errors.New("checksum mismatch")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, peak.Load(), int32(2))
	assert.Equal(t, int32(2), peak.Load())
}

// blockingHandler serves "hold" only after release is closed.
func blockingHandler(release <-chan struct{}, started chan<- struct{}) Handler {
	return HandlerFunc(func(ctx context.Context, req *Request) (Content, error) {
		if req.Name == "hold" {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return Content{}, ctx.Err()
			}
		}
		return String("content of " + req.Name), nil
	})
}

// TestQueueTimeoutBusy checks that a request that cannot get a slot in
// time is refused with "server busy", and that a retransmitted request
// does not take a second place in the queue.
func TestQueueTimeoutBusy(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var lb logBuffer
	var ends atomic.Int32
	srv := &Server{
		Handler:       blockingHandler(release, started),
		MaxTransfers:  1,
		QueueTimeout:  300 * time.Millisecond,
		Logger:        newLogger(&lb),
		OnTransferEnd: func(Transfer) { ends.Add(1) },
	}
	addr := startServer(t, srv, "127.0.0.1")
	holder := newRaw(t, addr)
	holder.send(rrq("hold", "octet"))
	<-started // the only slot is taken
	busy := newRaw(t, addr)
	busy.send(rrq("other", "octet"))
	assert.Equal(t, "server busy, try again later", expectError(t, busy.recv()))
	assert.Contains(t, lb.String(), "server busy")

	close(release)
	p := holder.recv()
	data, _ := holder.readAll(p, 512)
	assert.Equal(t, "content of hold", string(data))
	require.Eventually(t, func() bool { return ends.Load() == 2 }, 10*time.Second, 10*time.Millisecond)
}

// TestDuplicateRequest sends the same RRQ twice from one port while it
// waits for a slot: the client gets one complete transfer and no ERROR
// before it.
func TestDuplicateRequest(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var ends atomic.Int32
	srv := &Server{
		Handler:       blockingHandler(release, started),
		MaxTransfers:  1,
		OnTransferEnd: func(Transfer) { ends.Add(1) },
		// On a loaded host pin/tftp may read a retransmitted RRQ only
		// after the first transfer ended; it then starts a new one to a
		// client that no longer ACKs. Keep that one short.
		Timeout: 500 * time.Millisecond,
		Retries: 2,
	}
	addr := startServer(t, srv, "127.0.0.1")
	holder := newRaw(t, addr)
	holder.send(rrq("hold", "octet"))
	<-started
	dup := newRaw(t, addr)
	dup.send(rrq("dup.txt", "octet"))
	dup.send(rrq("dup.txt", "octet")) // retransmission
	dup.send(rrq("dup.txt", "octet"))
	close(release)
	data, _ := holder.readAll(holder.recv(), 512)
	assert.Equal(t, "content of hold", string(data))
	p := dup.recv()
	data, _ = dup.readAll(p, 512)
	assert.Equal(t, "content of dup.txt", string(data))
	require.Eventually(t, func() bool { return ends.Load() >= 2 }, 10*time.Second, 10*time.Millisecond)
}

// TestShutdownWaitsForTransfers checks that Shutdown lets a running
// transfer finish, refuses new ones, and that Close aborts a stalled one
// with an ERROR packet.
func TestShutdownWaitsForTransfers(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: openTestDir(t)}
	addr := startServer(t, srv, "127.0.0.1")
	r := newRaw(t, addr)
	r.send(rrq("513.bin", "octet"))
	first := r.recv() // transfer running: DATA 1 sent, ACK pending
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a transfer was running", err)
	case <-time.After(200 * time.Millisecond):
	}
	data, _ := r.readAll(first, 512)
	assert.Equal(t, testData(513, 513), data)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Shutdown did not return after the transfer ended")
	}
}

func TestCloseAbortsTransfers(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: openTestDir(t), Timeout: time.Second, Retries: 2}
	addr := startServer(t, srv, "127.0.0.1")
	r := newRaw(t, addr)
	r.send(rrq("1m.bin", "octet"))
	require.Equal(t, uint16(3), binary.BigEndian.Uint16(r.recv()))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, srv.Shutdown(ctx), context.DeadlineExceeded)
	r.ack(1) // the server reads the next block, sees the abort
	assert.Equal(t, "server shutting down", expectError(t, r.recv()))
	require.NoError(t, srv.Close())
}

// TestUEFISizeProbe plays EDK2's tsize probe (pin#125): RRQ with tsize
// and blksize, OACK, ERROR 8 from the client, then the real RRQ. The
// probe is reported as ErrClientAborted, not as a failure.
func TestUEFISizeProbe(t *testing.T) {
	checkGoroutines(t)
	var lb logBuffer
	ends := make(chan Transfer, 2)
	srv := &Server{Handler: openTestDir(t), Logger: newLogger(&lb), OnTransferEnd: func(tr Transfer) { ends <- tr }}
	addr := startServer(t, srv, "127.0.0.1")
	r := newRaw(t, addr)
	r.send(rrq("1m.bin", "octet", "tsize", "0", "blksize", "1468"))
	require.Equal(t, map[string]string{"tsize": "1048576", "blksize": "1468"}, parseOACK(t, r.recv()))
	r.send([]byte("\x00\x05\x00\x08User aborted the transfer\x00"))
	tr := <-ends
	require.ErrorIs(t, tr.Err, ErrClientAborted)
	assert.Contains(t, lb.String(), "client ended the transfer")
	assert.NotContains(t, lb.String(), "transfer failed")

	r2 := newRaw(t, addr)
	r2.send(rrq("1m.bin", "octet", "blksize", "1468"))
	data, _ := r2.readAll(r2.recv(), 1468)
	assert.Equal(t, testData(1<<20, 1<<20), data)
	require.NoError(t, (<-ends).Err)
}

// TestSinglePort checks that every packet of a transfer comes from the
// listening port, and that shutdown does not leak.
func TestSinglePort(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: openTestDir(t), SinglePort: true}
	addr := startServer(t, srv, "127.0.0.1")
	r := newRaw(t, addr)
	r.send(rrq("1m.bin", "octet", "blksize", "1468"))
	p := r.recv()
	assert.Equal(t, addr, r.peer.String(), "reply must come from the listening port")
	data, _ := r.readAll(p, 1468)
	assert.Equal(t, testData(1<<20, 1<<20), data)
	for _, bs := range []int{0, 65464} {
		got, _, err := goGet(addr, "513.bin", bs, true)
		require.NoError(t, err)
		assert.Equal(t, testData(513, 513), got)
	}
}

// TestAnticipate fetches files of every size with send-ahead on.
func TestAnticipate(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: openTestDir(t), Anticipate: 16, BlockSize: 1468}
	addr := startServer(t, srv, "127.0.0.1")
	for name, size := range testSizes {
		for _, bs := range []int{0, 1468} {
			t.Run(name+"/"+strconv.Itoa(bs), func(t *testing.T) {
				got, _, err := goGet(addr, name, bs, true)
				require.NoError(t, err)
				require.Equal(t, sha(testData(size, uint64(size))), sha(got))
			})
		}
	}
}

// TestIPv6 serves over ::1 when the host has it.
func TestIPv6(t *testing.T) {
	if c, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback:", err)
	} else {
		c.Close()
	}
	checkGoroutines(t)
	var remote atomic.Value
	srv := &Server{Handler: openTestDir(t), OnTransferEnd: func(tr Transfer) { remote.Store(tr.RemoteAddr.Addr().String()) }}
	addr := startServer(t, srv, "::1")
	got, size, err := goGet(addr, "513.bin", 1448, true)
	require.NoError(t, err)
	assert.Equal(t, testData(513, 513), got)
	assert.Equal(t, int64(513), size)
	require.Eventually(t, func() bool { return remote.Load() == "::1" }, 10*time.Second, 10*time.Millisecond)
}

// TestServeErrors covers configuration errors and Serve after Shutdown.
func TestServeErrors(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	require.ErrorIs(t, (&Server{}).Serve(c), ErrNoHandler)

	srv := &Server{Root: fstest.MapFS{}}
	require.NoError(t, srv.Shutdown(context.Background()))
	c, err = net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	require.ErrorIs(t, srv.Serve(c), ErrServerClosed)
	require.ErrorIs(t, srv.ListenAndServe("127.0.0.1:0"), ErrServerClosed)

	for _, bad := range []*Server{
		{Root: fstest.MapFS{}, Anticipate: 8},                                    // no BlockSize
		{Root: fstest.MapFS{}, Anticipate: 8, BlockSize: 65464},                  // 512 KiB window
		{Root: fstest.MapFS{}, Anticipate: 8, BlockSize: 1468, SinglePort: true}, // pin panics
	} {
		c, err = net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		require.ErrorIs(t, bad.Serve(c), ErrConfig)
	}
}
