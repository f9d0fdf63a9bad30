package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const testPassword = "correct horse battery staple"

// testPool is a pool server on loopback with two images: "debian" (local kernel
// and initrd) and "win-san" (iSCSI root path).
type testPool struct {
	*Pool
	srv    *httptest.Server
	URL    string
	state  string
	images string
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
}

func newTestPool(t *testing.T) *testPool { return newPoolTB(t) }

// newBenchPool is newTestPool for benchmarks, with mac1 booted and assigned.
func newBenchPool(b *testing.B) *testPool {
	tp := newPoolTB(b)
	if _, err := tp.Store.Seen(Sighting{MAC: mac1}); err != nil {
		b.Fatal(err)
	}
	if err := tp.Store.Assign([]string{mac1}, "debian"); err != nil {
		b.Fatal(err)
	}
	return tp
}

func newPoolTB(t testing.TB) *testPool {
	t.Helper()
	dir := t.TempDir()
	images := filepath.Join(dir, "images")
	writeFile(t, filepath.Join(images, "debian.json"),
		`{"description": "Debian live", "kernel": "vmlinuz", "initrds": ["initrd.gz"], "cmdline": "console=ttyS0 boot=live quiet"}`)
	writeFile(t, filepath.Join(images, "debian", "vmlinuz"), "KERNEL-BYTES")
	writeFile(t, filepath.Join(images, "debian", "initrd.gz"), "INITRD-BYTES")
	writeFile(t, filepath.Join(images, "win-san.json"),
		`{"description": "Windows on iSCSI", "san": "iscsi:192.0.2.10::::iqn.2026-01.lab:win"}`)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	tp := &testPool{srv: srv, URL: base, state: filepath.Join(dir, "pool.json"), images: images}
	p, err := NewPool(tp.state, images, base, testPassword, nil)
	require.NoError(t, err)
	tp.Pool = p
	srv.Config.Handler = p.Handler()
	srv.Start()
	t.Cleanup(func() { srv.Close(); p.Close() })
	return tp
}

// ipxeGet fetches path the way iPXE does (User-Agent iPXE/1.0) and returns the
// status and body.
func ipxeGet(t *testing.T, rawURL string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	req.Header.Set("User-Agent", "iPXE/1.0.0+git-36a4c85")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// bootURL is the URL iPXE requests after the bootstrap script, with the settings
// expanded as iPXE would for a QEMU machine.
func (tp *testPool) bootURL(mac string) string {
	q := url.Values{"mac": {strings.ReplaceAll(mac, ":", "-")}, "buildarch": {"x86_64"}, "platform": {"efi"},
		"manufacturer": {"QEMU"}, "product": {"Standard PC (Q35 + ICH9, 2009)"}, "uuid": {"8c1e6a52-0b3f-4d6e-9a51-6f2d5a0c7e11"}, "ip": {"10.0.2.15"}}
	// iPXE percent-encodes spaces (uristring) and the Handler reads "+" literally.
	return tp.URL + "/boot.ipxe?" + strings.ReplaceAll(q.Encode(), "+", "%20")
}

// admin is a logged-in browser-like client.
type admin struct {
	t    *testing.T
	c    *http.Client
	base string
	csrf string
}

func (tp *testPool) login(t *testing.T) *admin {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	a := &admin{t: t, c: &http.Client{Jar: jar}, base: tp.URL}
	resp, err := a.c.PostForm(tp.URL+"/login", url.Values{"password": {testPassword}})
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	a.csrf = csrfOf(t, string(body))
	return a
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	require.NotNil(t, m, "page has no CSRF token:\n%s", page)
	return m[1]
}

func (a *admin) get(path string) (int, string) {
	resp, err := a.c.Get(a.base + path)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// post submits a form with the session's CSRF token unless v already has one.
func (a *admin) post(path string, v url.Values) (int, string) {
	if _, ok := v["csrf"]; !ok {
		v.Set("csrf", a.csrf)
	}
	resp, err := a.c.PostForm(a.base+path, v)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
