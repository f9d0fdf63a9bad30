package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/netconf"
	"github.com/netbootkit/netboot/ipxescript"
)

// newTestServer builds the HTTP side of the server over a -dir holding files.
func newTestServer(t *testing.T, files map[string]string) http.Handler {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	ipxeDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(ipxeDir, "undionly.kpxe"), []byte("nbp"), 0o644))
	cfg := &config{BootFlags: netconf.BootFlags{Dir: dir, IPXEDir: ipxeDir, HTTP: ":8080", TFTP: ":69", DHCPMode: "off"}}
	l, err := newLab(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, netip.MustParseAddr("192.0.2.1"))
	require.NoError(t, err)
	t.Cleanup(l.Close)
	h, err := l.site.HTTP()
	require.NoError(t, err)
	return h
}

func get(t *testing.T, h http.Handler, target string, ipxe bool) (int, string) {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	if ipxe {
		r.Header.Set("User-Agent", "iPXE/1.0.0+git-20190125.36a4c85")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func TestScriptChoice(t *testing.T) {
	h := newTestServer(t, map[string]string{
		"52:54:00:00:00:01.ipxe":                    "#!ipxe\necho per-mac\n",
		"00112233-4455-6677-8899-aabbccddeeff.ipxe": "#!ipxe\necho per-uuid\n",
		"default.ipxe":                              "#!ipxe\necho default\n",
		"52:54:00:00:00:09.ipxe":                    "#!ipxe\nkernal http://x/vmlinuz\n", // typo
		"vmlinuz":                                   "KERNEL",
	})
	const uuid = "&uuid=00112233-4455-6677-8899-aabbccddeeff"
	for _, tc := range []struct{ query, want string }{
		{"mac=52-54-00-00-00-01" + uuid, "echo per-uuid"}, // the machine before its card, as PXELINUX
		{"mac=52-54-00-00-00-01", "echo per-mac"},         // hexhyp query, colon file name
		{"mac=52:54:00:00:00:03", "echo default"},
	} {
		code, body := get(t, h, "/boot.ipxe?"+tc.query, true)
		assert.Equal(t, 200, code, tc.query)
		assert.Contains(t, body, tc.want, tc.query)
	}

	// A broken per-MAC file is not served half-broken: iPXE gets a 200 script that
	// says so and retries (the reason stays in the server's log); curl gets a 500
	// naming the file, line and unknown command.
	code, body := get(t, h, "/boot.ipxe?mac=52:54:00:00:00:09", true)
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "server error")
	assert.Contains(t, body, "chain")
	code, body = get(t, h, "/boot.ipxe?mac=52:54:00:00:00:09", false)
	assert.Equal(t, 500, code)
	assert.Contains(t, body, "52:54:00:00:00:09.ipxe")
	assert.Contains(t, body, "kernal")

	// Missing identity: a 4xx for curl.
	code, _ = get(t, h, "/boot.ipxe", false)
	assert.Equal(t, 400, code)

	// Files of -dir and the iPXE binaries are served; nothing escapes the directory.
	code, body = get(t, h, "/vmlinuz", false)
	assert.Equal(t, 200, code)
	assert.Equal(t, "KERNEL", body)
	code, body = get(t, h, "/ipxe/undionly.kpxe", false)
	assert.Equal(t, 200, code)
	assert.Equal(t, "nbp", body)
	code, _ = get(t, h, "/ipxe/../../etc/passwd", false)
	assert.NotEqual(t, 200, code)
}

func TestBootstrapAndBuiltinMenu(t *testing.T) {
	h := newTestServer(t, nil)
	code, body := get(t, h, "/bootstrap.ipxe", true)
	require.Equal(t, 200, code)
	s, err := ipxescript.ParseString(body)
	require.NoError(t, err, body)
	assert.Contains(t, s.String(), "http://192.0.2.1:8080/boot.ipxe?mac=${netX/mac:hexhyp}")

	// No script for the machine: the built-in menu shows its identity, and hostile
	// SMBIOS text cannot add a command to it.
	code, body = get(t, h, "/boot.ipxe?mac=52:54:00:00:00:05&product=x%20%26%26%20shell%20%23&buildarch=x86_64", true)
	require.Equal(t, 200, code)
	s, err = ipxescript.ParseString(body)
	require.NoError(t, err, body)
	assert.Contains(t, body, "52:54:00:00:00:05")
	assert.Contains(t, body, "choose --default local")
	shells := 0
	for _, l := range s.Lines {
		for _, c := range l.Commands {
			if c.Name == "shell" {
				shells++
			}
		}
	}
	assert.Equal(t, 1, shells, "only the menu's own shell command may exist:\n%s", body)
}

func TestPrintConfig(t *testing.T) {
	ipxeDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(ipxeDir, "ipxe.efi"), []byte("nbp"), 0o644))
	for _, format := range []string{"dnsmasq", "dhcpd", "kea"} {
		var out, errs strings.Builder
		code := run([]string{"-dhcp", "off", "-iface", "lo", "-addr", "127.0.0.1", "-ipxe", ipxeDir, "-print-config", format}, &out, &errs)
		require.Equal(t, 0, code, errs.String())
		assert.Contains(t, out.String(), "http://127.0.0.1/bootstrap.ipxe", format)
		assert.Contains(t, out.String(), "ipxe.efi", format)
	}
	var out, errs strings.Builder
	assert.Equal(t, 2, run([]string{"-print-config", "isc"}, &out, &errs))
	assert.Contains(t, errs.String(), "want dnsmasq, dhcpd or kea")
}
