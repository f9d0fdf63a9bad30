package bootfiles

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"testing/fstest"

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
