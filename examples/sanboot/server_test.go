package main

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/netconf"
)

func testServer(t *testing.T, base string) (*server, error) {
	t.Helper()
	ipxe := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(ipxe, "undionly.kpxe"), []byte("iPXE"), 0o644))
	cfg := &config{BootFlags: netconf.BootFlags{HTTP: ":8080", IPXEDir: ipxe}, Base: base, Overlays: filepath.Join(t.TempDir(), "overlays"), ISCSI: ":3261"}
	return newServer(cfg, slog.New(slog.DiscardHandler), nil, netip.MustParseAddr("192.0.2.1"))
}

func TestNewServerChecksBase(t *testing.T) {
	odd := filepath.Join(t.TempDir(), "odd.img")
	require.NoError(t, os.WriteFile(odd, make([]byte, 1000), 0o444))
	_, err := testServer(t, odd)
	require.ErrorContains(t, err, "not a positive multiple of 512")

	_, err = testServer(t, filepath.Join(t.TempDir(), "missing.img"))
	require.ErrorContains(t, err, "-base")
}

// TestHTTPScript asks the HTTP handler for a machine's script as iPXE would
// (the identity in the query) and gets the sanboot of that machine's target on
// the advertised address and -iscsi port.
func TestHTTPScript(t *testing.T) {
	basePath, _ := newTestBase(t)
	s, err := testServer(t, basePath)
	require.NoError(t, err)
	defer s.Close()
	_, err = os.Stat(s.cfg.Overlays)
	require.NoError(t, err, "-overlays is created")
	h, err := s.site.HTTP()
	require.NoError(t, err)

	get := func(path string) (int, string) {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("User-Agent", "iPXE/1.21.1+ (g4b6c9)")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Result().Body)
		return w.Code, string(b)
	}
	code, body := get("/bootstrap.ipxe")
	require.Equal(t, 200, code)
	assert.Contains(t, body, "http://192.0.2.1:8080/boot.ipxe")

	code, body = get("/boot.ipxe?mac=52:54:00:12:34:56&buildarch=i386&platform=pcbios")
	require.Equal(t, 200, code, body)
	assert.Equal(t, machineScript(mac1, "192.0.2.1", 3261, nil, false).String(), body)
	assert.True(t, strings.Contains(body, "sanboot iscsi:192.0.2.1::3261::"+targetName(mac1)), body)
	// The identity iPXE sends on UEFI (platform=efi) names the EFI loader.
	code, body = get("/boot.ipxe?mac=52:54:00:12:34:56&buildarch=x86_64&platform=efi")
	require.Equal(t, 200, code, body)
	assert.Equal(t, machineScript(mac1, "192.0.2.1", 3261, nil, true).String(), body)
	assert.Contains(t, body, `sanboot --filename=\EFI\BOOT\BOOTX64.EFI iscsi:`)

	code, _ = get("/ipxe/undionly.kpxe")
	assert.Equal(t, 200, code)
}
