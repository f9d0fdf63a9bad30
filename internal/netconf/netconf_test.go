package netconf

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultRouteIface(t *testing.T) {
	const table = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth1	0010A8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
eth0	00000000	0100A8C0	0003	0	0	0	00000000	0	0	0
`
	got, err := DefaultRouteIface(strings.NewReader(table))
	require.NoError(t, err)
	assert.Equal(t, "eth0", got)

	_, err = DefaultRouteIface(strings.NewReader("Iface\tDestination\neth1\t0010A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"))
	assert.ErrorContains(t, err, "-iface")
}

func TestResolve(t *testing.T) {
	ifc, a, err := Resolve("lo", "")
	require.NoError(t, err)
	assert.Equal(t, "lo", ifc.Name)
	assert.Equal(t, "127.0.0.1", a.String())
	assert.Equal(t, "127.0.0.0/8", Subnet(ifc, a).String())

	_, a, err = Resolve("lo", "10.1.2.3")
	require.NoError(t, err)
	assert.Equal(t, "10.1.2.3", a.String())
	assert.Equal(t, "10.1.2.0/24", Subnet(nil, a).String())

	_, _, err = Resolve("lo", "::1")
	assert.ErrorContains(t, err, "-addr")
	_, _, err = Resolve("no-such-nic0", "")
	assert.ErrorContains(t, err, "ip link")
}

func TestParseRange(t *testing.T) {
	first, last, err := ParseRange("10.0.0.10-10.0.0.20")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("10.0.0.10"), first)
	assert.Equal(t, netip.MustParseAddr("10.0.0.20"), last)
	for _, bad := range []string{"10.0.0.10", "10.0.0.20-10.0.0.10", "x-10.0.0.1", "10.0.0.1-::1", "::1-::2"} {
		_, _, err := ParseRange(bad)
		assert.Error(t, err, bad)
	}
}

func TestBindError(t *testing.T) {
	err := BindError("TFTP", ":69", "sudo x", syscall.EACCES)
	assert.ErrorIs(t, err, syscall.EACCES)
	assert.ErrorContains(t, err, "need root (sudo x)")
	err = BindError("HTTP", ":80", "sudo x", syscall.EADDRINUSE)
	assert.ErrorContains(t, err, "another server holds the port")
	other := errors.New("boom")
	assert.ErrorIs(t, BindError("HTTP", ":80", "sudo x", other), other)
}

func TestLogHTTP(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	h := LogHTTP(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "kernel bytes")
	}))
	for _, p := range []string{"/vmlinuz", "/missing"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	assert.Contains(t, buf.String(), "path=/vmlinuz status=200 bytes=12")
	assert.Contains(t, buf.String(), "path=/missing status=404")
}

func TestBootFlags(t *testing.T) {
	parse := func(args ...string) (*BootFlags, error) {
		var b BootFlags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		b.Register(fs, "dir help", "leases help")
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		return &b, b.Check()
	}
	b, err := parse()
	require.NoError(t, err)
	assert.Equal(t, "proxy", b.DHCPMode, "the default must never hand out addresses")
	assert.Equal(t, ":80", b.HTTP)
	assert.Equal(t, ":69", b.TFTP)
	_, err = parse("-dhcp", "lab")
	assert.ErrorContains(t, err, "-range")
	_, err = parse("-dhcp", "lab", "-range", "10.0.0.9-10.0.0.1")
	assert.ErrorContains(t, err, "before the first")
	_, err = parse("-dhcp", "server")
	assert.ErrorContains(t, err, "want proxy, lab or off")

	b = &BootFlags{Iface: "lo"}
	ifc, addr, err := b.ResolveNetwork()
	require.NoError(t, err)
	assert.Equal(t, "lo", ifc.Name)
	assert.Equal(t, addr.String(), b.Addr)
}

// readFromRecorder is a ResponseWriter that, like net/http's own, implements
// io.ReaderFrom; it remembers what it was handed.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	from io.Reader
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.from = src
	return io.Copy(r.ResponseRecorder, src)
}

// TestLogHTTPKeepsSendfile: io.Copy through the logging wrapper reaches the
// connection's ReadFrom with the very reader (an *os.File there: sendfile),
// and the bytes are still counted; ResponseController finds the writer.
func TestLogHTTPKeepsSendfile(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	// What http.ServeContent hands io.CopyN: a LimitedReader (no WriteTo).
	src := io.LimitReader(strings.NewReader("initrd bytes"), 1<<20)
	var unwrapped bool
	h := LogHTTP(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(w, src)
		assert.NoError(t, err)
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		unwrapped = ok && u.Unwrap() != nil
	}))
	rec := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/initrd", nil))
	assert.True(t, rec.from == src, "the source reached the connection's ReadFrom unwrapped, got %T", rec.from)
	assert.Equal(t, "initrd bytes", rec.Body.String())
	assert.True(t, unwrapped)
	assert.Contains(t, buf.String(), "path=/initrd status=200 bytes=12")
}

func TestLabDHCP(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no loopback interface")
	}
	addr := netip.MustParseAddr("127.0.0.1")
	s, err := LabDHCP(lo, addr, "127.0.0.10-127.0.0.20", "/x/leases", nil, nil)
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("127.0.0.10"), s.RangeStart)
	assert.Equal(t, netip.MustParseAddr("127.0.0.20"), s.RangeEnd)
	assert.Equal(t, "/x/leases", s.LeaseFile)
	assert.True(t, s.Subnet.Contains(addr))
	_, err = LabDHCP(lo, addr, "10.9.0.1-10.9.0.9", "", nil, nil)
	assert.ErrorContains(t, err, "outside lo's subnet")
	_, err = LabDHCP(lo, addr, "nonsense", "", nil, nil)
	assert.Error(t, err)
}
