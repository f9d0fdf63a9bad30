package bootfiles

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/ipxescript"
	"github.com/netbootkit/netboot/tftpserve"
)

func site() *Site {
	return &Site{
		IPXE: fstest.MapFS{"ipxe.efi": {Data: []byte("EFI")}, "secret": {Data: []byte("no")}},
		Dir:  fstest.MapFS{"vmlinuz": {Data: []byte("KERNEL")}},
		URL:  "http://192.0.2.1:8080",
		Scripts: ipxescript.RenderFunc(func(ctx context.Context, m *ipxescript.Machine) (*ipxescript.Script, error) {
			return ipxescript.New().Echo("hello " + m.MAC.String()), nil
		}),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func TestHTTP(t *testing.T) {
	h, err := site().HTTP()
	require.NoError(t, err)
	get := func(path string) (int, string) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("User-Agent", "iPXE/1.0")
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	code, body := get("/bootstrap.ipxe")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "http://192.0.2.1:8080/boot.ipxe?mac=${netX/mac:hexhyp}")
	code, body = get("/boot.ipxe?mac=52:54:00:00:00:01")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "echo hello 52:54:00:00:00:01")
	code, body = get("/ipxe/ipxe.efi")
	assert.Equal(t, 200, code)
	assert.Equal(t, "EFI", body)
	code, _ = get("/ipxe/secret")
	assert.Equal(t, 404, code, "only the NBPs come from the iPXE directory")
	code, body = get("/vmlinuz")
	assert.Equal(t, 200, code)
	assert.Equal(t, "KERNEL", body)
}

func TestTFTP(t *testing.T) {
	h := site().TFTP()
	c, err := h.ServeTFTP(context.Background(), &tftpserve.Request{Name: "ipxe.efi"})
	require.NoError(t, err)
	b, _ := io.ReadAll(c.Body)
	assert.Equal(t, "EFI", string(b))
	_, err = h.ServeTFTP(context.Background(), &tftpserve.Request{Name: "secret"})
	assert.Error(t, err)
	c, err = h.ServeTFTP(context.Background(), &tftpserve.Request{Name: "vmlinuz"})
	require.NoError(t, err)
	b, _ = io.ReadAll(c.Body)
	assert.Equal(t, "KERNEL", string(b))
}

func TestCheckIPXE(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	assert.NoError(t, CheckIPXE(fstest.MapFS{"undionly.kpxe": {}}, "/x", log))
	assert.ErrorContains(t, CheckIPXE(fstest.MapFS{}, "/x", log), "install Debian's ipxe package")
}

// fromRecorder is a ResponseWriter with ReadFrom, like net/http's own: it
// records the reader a handler's io.Copy hands the connection.
type fromRecorder struct {
	*httptest.ResponseRecorder
	from io.Reader
}

func (r *fromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.from = src
	return io.Copy(r.ResponseRecorder, src)
}

// TestHTTPFilesReachSendfile: through the whole Site handler (logging
// included), a kernel from an os.Root directory reaches the connection's
// ReadFrom as the *os.File itself (net/http then uses sendfile), not as a
// wrapper that forces a copy through user space.
func TestHTTPFilesReachSendfile(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("kernel"), 50000)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vmlinuz"), data, 0o644))
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	s := site()
	s.Dir = root.FS()
	s.IPXE = os.DirFS(dir)
	h, err := s.HTTP()
	require.NoError(t, err)
	rec := &fromRecorder{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/vmlinuz", nil))
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, data, rec.Body.Bytes())
	lr, ok := rec.from.(*io.LimitedReader)
	require.True(t, ok, "ReadFrom got %T", rec.from)
	assert.IsType(t, &os.File{}, lr.R)
}

// TestFileServerLikeHTTPFileServer: every answer but the copy path is
// http.FileServer's: ranges, conditionals, HEAD, directories, redirects,
// missing files, escapes.
func TestFileServerLikeHTTPFileServer(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vmlinuz"), []byte("0123456789"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "initrd.img"), []byte("INITRD"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "index.html"), []byte("<p>index</p>"), 0o644))
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	ours, ref := FileServer(root.FS()), http.FileServer(http.FS(root.FS()))
	mod := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	for _, c := range []struct {
		method, path string
		header       map[string]string
	}{
		{"GET", "/vmlinuz", nil},
		{"HEAD", "/vmlinuz", nil},
		{"GET", "/vmlinuz", map[string]string{"Range": "bytes=2-4"}},
		{"GET", "/vmlinuz", map[string]string{"Range": "bytes=20-30"}},
		{"GET", "/vmlinuz", map[string]string{"If-Modified-Since": mod}},
		{"GET", "/vmlinuz/", nil},
		{"GET", "/sub", nil},
		{"GET", "/sub/", nil},
		{"GET", "/sub/index.html", nil},
		{"GET", "/sub/initrd.img", nil},
		{"GET", "/sub/../vmlinuz", nil},
		{"GET", "/missing", nil},
		{"GET", "/../../etc/passwd", nil},
		{"POST", "/vmlinuz", nil},
	} {
		t.Run(c.method+c.path, func(t *testing.T) {
			do := func(h http.Handler) *httptest.ResponseRecorder {
				w := httptest.NewRecorder()
				r := httptest.NewRequest(c.method, "http://x"+c.path, nil)
				for k, v := range c.header {
					r.Header.Set(k, v)
				}
				h.ServeHTTP(w, r)
				return w
			}
			got, want := do(ours), do(ref)
			assert.Equal(t, want.Code, got.Code)
			assert.Equal(t, want.Body.String(), got.Body.String())
			for _, k := range []string{"Content-Type", "Content-Length", "Content-Range", "Location", "Last-Modified", "Accept-Ranges"} {
				assert.Equal(t, want.Header().Get(k), got.Header().Get(k), k)
			}
		})
	}
}
