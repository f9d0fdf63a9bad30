package main

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/ipxescript"
)

const mac1 = "52:54:00:12:34:01"

func TestBootstrapChainsToIdentityURL(t *testing.T) {
	tp := newTestPool(t)
	code, body := ipxeGet(t, tp.URL+"/bootstrap.ipxe")
	require.Equal(t, http.StatusOK, code)
	_, err := ipxescript.ParseString(body)
	require.NoError(t, err, body)
	assert.Contains(t, body, tp.URL+"/boot.ipxe?mac=${net")
	assert.Less(t, len(tp.URL+"/bootstrap.ipxe"), 255, "the DHCP boot file name must fit")
}

// The machine's story: unknown → waiting screen (and it joins the pool);
// assigned → its image's script; its kernel and initrd fetches are recorded.
func TestBootFollowsAssignment(t *testing.T) {
	tp := newTestPool(t)
	code, body := ipxeGet(t, tp.bootURL(mac1))
	require.Equal(t, http.StatusOK, code)
	_, err := ipxescript.ParseString(body)
	require.NoError(t, err, body)
	assert.Contains(t, body, "no image assigned")
	assert.Contains(t, body, "sleep 30")
	assert.Contains(t, body, "chain --replace --autofree "+tp.URL+"/boot.ipxe?mac=${net")
	assert.NotContains(t, body, "kernel")

	m, ok := tp.Store.Machine(mac1)
	require.True(t, ok, "a machine joins the pool by booting once")
	assert.Equal(t, StageWaiting, m.Stage)
	assert.Equal(t, "x86_64", m.Arch)
	assert.Equal(t, "efi", m.Platform)
	assert.Equal(t, "QEMU Standard PC (Q35 + ICH9, 2009)", m.Vendor)
	assert.Equal(t, "8c1e6a52-0b3f-4d6e-9a51-6f2d5a0c7e11", m.UUID)
	assert.Equal(t, "10.0.2.15", m.IP)
	assert.Empty(t, m.Image)

	require.NoError(t, tp.Store.Assign([]string{mac1}, "debian"))
	code, body = ipxeGet(t, tp.bootURL(mac1))
	require.Equal(t, http.StatusOK, code)
	_, err = ipxescript.ParseString(body)
	require.NoError(t, err, body)
	kernelURL := tp.URL + "/files/debian/vmlinuz?mac=" + mac1
	assert.Contains(t, body, kernelURL)
	assert.Contains(t, body, "console=ttyS0 boot=live quiet")
	assert.Contains(t, body, "initrd=initrd.gz", "UEFI kernels need initrd=")
	assert.Contains(t, body, "kernel --name vmlinuz "+kernelURL+" initrd=initrd.gz console=ttyS0 boot=live quiet || goto pool_fail",
		"a failed download is retried")
	assert.Contains(t, body, ":pool_back", "after the last attempt the machine asks the pool again")
	lint, err := ipxescript.Lint(strings.NewReader(body))
	require.NoError(t, err)
	assert.Empty(t, lint, "the image script should have no lint warnings")
	m, _ = tp.Store.Machine(mac1)
	assert.Equal(t, StageScript, m.Stage)

	code, body = ipxeGet(t, kernelURL)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "KERNEL-BYTES", body)
	m, _ = tp.Store.Machine(mac1)
	assert.Equal(t, StageKernel, m.Stage)
	code, body = ipxeGet(t, tp.URL+"/files/debian/initrd.gz?mac="+mac1)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "INITRD-BYTES", body)
	m, _ = tp.Store.Machine(mac1)
	assert.Equal(t, StageInitrd, m.Stage)

	// SAN image.
	require.NoError(t, tp.Store.Assign([]string{mac1}, "win-san"))
	_, body = ipxeGet(t, tp.bootURL(mac1))
	assert.Contains(t, body, "sanboot iscsi:192.0.2.10::::iqn.2026-01.lab:win")

	// An assigned image that disappeared: the machine gets iPXE's retrying
	// error script, not a broken boot.
	require.NoError(t, os.Remove(tp.images+"/win-san.json"))
	code, body = ipxeGet(t, tp.bootURL(mac1))
	assert.Equal(t, http.StatusOK, code)
	_, err = ipxescript.ParseString(body)
	require.NoError(t, err, body)
	assert.Contains(t, body, "sleep")
	assert.NotContains(t, body, "sanboot")
}

// Boot endpoints are read-only: only GET/HEAD, no assignment through them, no
// file outside the image's own files, no new machine from a file fetch.
func TestBootEndpointsReadOnly(t *testing.T) {
	tp := newTestPool(t)
	writeFile(t, tp.images+"/debian/secret", "SECRET")
	for _, p := range []string{"/boot.ipxe", "/bootstrap.ipxe", "/files/debian/vmlinuz"} {
		resp, err := http.Post(tp.URL+p+"?mac=52-54-00-12-34-01&image=debian", "application/x-www-form-urlencoded", strings.NewReader("image=debian"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, p)
	}
	code, _ := ipxeGet(t, tp.bootURL(mac1)+"&image=debian")
	assert.Equal(t, http.StatusOK, code)
	m, _ := tp.Store.Machine(mac1)
	assert.Empty(t, m.Image, "query parameters must not assign anything")

	for _, p := range []string{
		"/files/debian/secret", "/files/debian/..%2f..%2fpool.json", "/files/..%2fdebian/vmlinuz",
		"/files/debian.json/x", "/files/nope/vmlinuz", "/files/debian/%2e%2e",
	} {
		resp, err := http.Get(tp.URL + p)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.NotEqual(t, http.StatusOK, resp.StatusCode, p)
		assert.NotContains(t, string(body), "SECRET", p)
	}
	code, _ = ipxeGet(t, tp.URL+"/files/debian/vmlinuz?mac=52:54:00:99:99:99")
	assert.Equal(t, http.StatusOK, code)
	_, ok := tp.Store.Machine("52:54:00:99:99:99")
	assert.False(t, ok, "a file fetch must not add a machine")
	assert.Len(t, tp.Store.Machines(), 1)
}

func TestBadIdentityGetsRetryScript(t *testing.T) {
	tp := newTestPool(t)
	for _, q := range []string{"", "?mac=zz", "?mac=52-54-00-12-34-01&mac=52-54-00-12-34-02", "?mac=52-54-00-12-34-01&uuid=%0a%23!ipxe"} {
		code, body := ipxeGet(t, tp.URL+"/boot.ipxe"+q)
		assert.Equal(t, http.StatusOK, code, q)
		_, err := ipxescript.ParseString(body)
		assert.NoError(t, err, body)
		assert.NotContains(t, body, "kernel", q)
	}
	assert.Empty(t, tp.Store.Machines())
	// Non-iPXE clients get a real status.
	resp, err := http.Get(tp.URL + "/boot.ipxe?mac=zz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

// Firmware strings are untrusted: they are stored sanitised and never reach a
// script or the page unescaped.
func TestHostileIdentityIsEscaped(t *testing.T) {
	tp := newTestPool(t)
	q := url.Values{"mac": {"52-54-00-12-34-01"}, "manufacturer": {"<script>alert(1)</script>"}, "product": {"x\n#!ipxe ${root} && shell"}}
	code, body := ipxeGet(t, tp.URL+"/boot.ipxe?"+strings.ReplaceAll(q.Encode(), "+", "%20"))
	require.Equal(t, http.StatusOK, code)
	_, err := ipxescript.ParseString(body)
	require.NoError(t, err)
	assert.NotContains(t, body, "${root}")
	assert.NotContains(t, body, "shell")
	m, _ := tp.Store.Machine(mac1)
	assert.NotContains(t, m.Vendor, "\n")
	assert.NotContains(t, m.Vendor, "$")

	a := tp.login(t)
	_, page := a.get("/admin/")
	assert.NotContains(t, page, "<script>alert(1)")
	assert.Contains(t, page, html.EscapeString("<script>alert(1)</script>")[:10])
}
