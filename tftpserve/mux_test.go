package tftpserve

import (
	"context"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func serve(t *testing.T, h Handler, name string) (string, *Request, error) {
	t.Helper()
	clean, err := CleanName(name)
	if err != nil {
		return "", nil, err
	}
	var seen *Request
	req := &Request{Name: clean, RawName: name, RemoteAddr: netip.MustParseAddrPort("192.0.2.10:2000")}
	c, err := h.ServeTFTP(context.Background(), req)
	if err != nil {
		return "", seen, err
	}
	b, err := io.ReadAll(c.Body)
	require.NoError(t, err)
	if cl, ok := c.Body.(io.Closer); ok {
		cl.Close()
	}
	require.Equal(t, int64(len(b)), c.Size)
	return string(b), seen, nil
}

func echo(tag string) Handler {
	return HandlerFunc(func(ctx context.Context, req *Request) (Content, error) {
		s := tag + ":" + req.Name
		if req.MAC != nil {
			s += "@" + req.MAC.String()
		}
		return String(s), nil
	})
}

func TestServeMux(t *testing.T) {
	m := NewServeMux()
	m.Handle("undionly.kpxe", echo("exact"))
	m.Handle("/ipxe.efi", echo("exact2"))
	m.Handle("ipxe/", echo("prefix"))
	m.Handle("ipxe/arm64/", echo("longer"))
	m.Handle("files/", StripPrefix("files", echo("stripped")))
	m.HandleMAC(echo("mac"))
	m.Handle("/", echo("fallback"))
	tests := map[string]string{
		"undionly.kpxe":               "exact:undionly.kpxe",
		"/undionly.kpxe":              "exact:undionly.kpxe",
		"ipxe.efi":                    "exact2:ipxe.efi",
		"ipxe/x.efi":                  "prefix:ipxe/x.efi",
		"ipxe/arm64/snp.efi":          "longer:ipxe/arm64/snp.efi",
		"files/a/b":                   "stripped:a/b",
		"52:54:00:12:34:56/boot.ipxe": "mac:boot.ipxe@52:54:00:12:34:56",
		"52-54-00-12-34-56/boot.ipxe": "mac:boot.ipxe@52:54:00:12:34:56",
		"01-52-54-00-12-34-56/a/b":    "mac:a/b@52:54:00:12:34:56",
		"525400123456/boot.ipxe":      "mac:boot.ipxe@52:54:00:12:34:56",
		"52:54:00:12:34:56":           "fallback:52:54:00:12:34:56", // no file after the MAC
		"5254001234zz/boot.ipxe":      "fallback:5254001234zz/boot.ipxe",
		"other":                       "fallback:other",
	}
	for name, want := range tests {
		got, _, err := serve(t, m, name)
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
	}

	empty := NewServeMux()
	_, _, err := serve(t, empty, "x")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, _, err = serve(t, StripPrefix("files", echo("x")), "files")
	assert.ErrorIs(t, err, fs.ErrNotExist)

	assert.Panics(t, func() { m.Handle("undionly.kpxe", echo("dup")) })
	assert.Panics(t, func() { m.Handle("ipxe/", echo("dup")) })
	assert.Panics(t, func() { m.Handle("/", echo("dup")) })
	assert.Panics(t, func() { m.Handle("../x", echo("bad")) })
	assert.Panics(t, func() { m.HandleMAC(echo("dup")) })
}

func TestParseMAC(t *testing.T) {
	want := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	for _, s := range []string{"52:54:00:12:34:56", "52-54-00-12-34-56", "5254.0012.3456", "525400123456", "01-52-54-00-12-34-56", "52:54:00:12:34:56"} {
		got, err := ParseMAC(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "52:54:00:12:34", "02-00-00-00-00-00-00-00", "zz5400123456", "01-52-54-00-12-34-5g", "00:00:00:00:fe:80:00:00"} {
		_, err := ParseMAC(s)
		assert.Error(t, err, s)
	}
}

// TestServeMuxOverTheWire serves an iPXE-style layout through a real
// server: binaries by exact name, per-MAC generated scripts, files.
func TestServeMuxOverTheWire(t *testing.T) {
	checkGoroutines(t)
	m := NewServeMux()
	m.Handle("undionly.kpxe", FileServer(fstest.MapFS{"undionly.kpxe": {Data: []byte("kpxe-bytes")}}))
	m.HandleMAC(HandlerFunc(func(ctx context.Context, req *Request) (Content, error) {
		if req.Name != "boot.ipxe" {
			return Content{}, fs.ErrNotExist
		}
		return String("#!ipxe\necho " + req.MAC.String() + "\n"), nil
	}))
	addr := startServer(t, &Server{Handler: m}, "127.0.0.1")
	got, size, err := goGet(addr, "undionly.kpxe", 1468, true)
	require.NoError(t, err)
	assert.Equal(t, "kpxe-bytes", string(got))
	assert.Equal(t, int64(10), size)
	got, size, err = goGet(addr, "/52-54-00-aa-bb-cc/boot.ipxe", 1468, true)
	require.NoError(t, err)
	assert.Equal(t, "#!ipxe\necho 52:54:00:aa:bb:cc\n", string(got))
	assert.Equal(t, int64(len(got)), size)
	_, _, err = goGet(addr, "52-54-00-aa-bb-cc/other", 0, false)
	assert.ErrorContains(t, err, "file not found")
}

// TestFile serves chosen files by exact name, following a symbolic link
// that Dir would refuse, and refuses special files.
func TestFile(t *testing.T) {
	root := testTree(t)
	m := NewServeMux()
	m.Handle("ipxe.efi", File(root+"/escape")) // a link out of the tree
	m.Handle("fifo", File(root+"/fifo"))
	m.Handle("missing", File(root+"/no-such-file"))
	got, _, err := serve(t, m, "/ipxe.efi")
	require.NoError(t, err)
	assert.Equal(t, "SECRET\n", got)
	_, _, err = serve(t, m, "fifo")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, _, err = serve(t, m, "missing")
	assert.ErrorIs(t, err, fs.ErrNotExist)
}
