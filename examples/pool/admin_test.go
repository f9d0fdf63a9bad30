package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAdminNeedsLogin(t *testing.T) {
	tp := newTestPool(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/admin/", "/admin/images"} {
		resp, err := noRedirect.Get(tp.URL + p)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusSeeOther, resp.StatusCode, p)
		assert.Equal(t, "/login", resp.Header.Get("Location"), p)
	}
	for _, p := range []string{"/admin/assign", "/admin/rename", "/logout"} {
		resp, err := http.PostForm(tp.URL+p, url.Values{"mac": {mac1}, "image": {"debian"}, "action": {"assign"}})
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, p)
	}
	// A made-up session cookie is no session.
	req, _ := http.NewRequest(http.MethodGet, tp.URL+"/admin/", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "forged"})
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestLogin(t *testing.T) {
	tp := newTestPool(t)
	resp, err := http.PostForm(tp.URL+"/login", url.Values{"password": {"wrong password!"}})
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, string(body), "Wrong password")
	assert.Empty(t, resp.Cookies())

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.PostForm(tp.URL+"/login", url.Values{"password": {testPassword}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == sessionCookie {
			c = k
		}
	}
	require.NotNil(t, c)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
	assert.GreaterOrEqual(t, len(c.Value), 40)
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		assert.NotEmpty(t, resp.Header.Get(h), h)
	}

	a := tp.login(t)
	code, _ := a.get("/admin/")
	assert.Equal(t, http.StatusOK, code)
	code, _ = a.post("/logout", url.Values{})
	assert.Equal(t, http.StatusOK, code) // followed to the login page
	code, page := a.get("/admin/")
	assert.Contains(t, page, `type="password"`, "after logout the session is gone")
	_ = code
}

func TestLoginRateLimit(t *testing.T) {
	tp := newTestPool(t)
	for i := 0; i < maxLoginFails; i++ {
		resp, err := http.PostForm(tp.URL+"/login", url.Values{"password": {"guess number " + strings.Repeat("x", i)}})
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	resp, err := http.PostForm(tp.URL+"/login", url.Values{"password": {testPassword}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "even the right password waits out the window")
}

func TestCSRFAndOrigin(t *testing.T) {
	tp := newTestPool(t)
	ipxeGet(t, tp.bootURL(mac1))
	a := tp.login(t)
	v := url.Values{"mac": {mac1}, "image": {"debian"}, "action": {"assign"}}

	code, _ := a.post("/admin/assign", url.Values{"csrf": {""}, "mac": v["mac"], "image": v["image"], "action": v["action"]})
	assert.Equal(t, http.StatusForbidden, code)
	code, _ = a.post("/admin/assign", url.Values{"csrf": {a.csrf + "x"}, "mac": v["mac"], "image": v["image"], "action": v["action"]})
	assert.Equal(t, http.StatusForbidden, code)

	// A second session's token does not work for the first.
	b := tp.login(t)
	require.NotEqual(t, a.csrf, b.csrf)
	code, _ = a.post("/admin/assign", url.Values{"csrf": {b.csrf}, "mac": v["mac"], "image": v["image"], "action": v["action"]})
	assert.Equal(t, http.StatusForbidden, code)

	// Cross-site form posts are refused even with the token.
	req, _ := http.NewRequest(http.MethodPost, tp.URL+"/admin/assign", strings.NewReader(url.Values{"csrf": {a.csrf}, "mac": v["mac"], "image": v["image"], "action": v["action"]}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	resp, err := a.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	m, _ := tp.Store.Machine(mac1)
	assert.Empty(t, m.Image, "no refused request may change anything")

	code, _ = a.post("/admin/assign", v)
	assert.Equal(t, http.StatusOK, code)
	m, _ = tp.Store.Machine(mac1)
	assert.Equal(t, "debian", m.Image)
}

func TestAssignSelectionAndRename(t *testing.T) {
	tp := newTestPool(t)
	macs := []string{"52:54:00:12:34:01", "52:54:00:12:34:02", "52:54:00:12:34:03"}
	for _, m := range macs {
		ipxeGet(t, tp.bootURL(m))
	}
	a := tp.login(t)
	code, page := a.post("/admin/assign", url.Values{"mac": macs[:2], "image": {"debian"}, "action": {"assign"}})
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, "Image assigned")
	for i, mac := range macs {
		m, _ := tp.Store.Machine(mac)
		if i < 2 {
			assert.Equal(t, "debian", m.Image)
		} else {
			assert.Empty(t, m.Image)
		}
	}
	code, _ = a.post("/admin/assign", url.Values{"mac": {"52-54-00-12-34-02"}, "action": {"unassign"}})
	require.Equal(t, http.StatusOK, code)
	m, _ := tp.Store.Machine(macs[1])
	assert.Empty(t, m.Image)

	code, page = a.post("/admin/rename", url.Values{"mac": {macs[0]}, "name": {"rack1 node-01"}})
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, `value="rack1 node-01"`)

	// The change survives a restart of the store.
	s2, err := OpenStore(tp.state)
	require.NoError(t, err)
	m, _ = s2.Machine(macs[0])
	assert.Equal(t, "rack1 node-01", m.Name)
	assert.Equal(t, "debian", m.Image)
}

func TestAdminValidation(t *testing.T) {
	tp := newTestPool(t)
	ipxeGet(t, tp.bootURL(mac1))
	a := tp.login(t)
	for name, v := range map[string]url.Values{
		"no selection":    {"image": {"debian"}, "action": {"assign"}},
		"bad mac":         {"mac": {"52:54:00:12:34"}, "image": {"debian"}, "action": {"assign"}},
		"unknown mac":     {"mac": {"52:54:00:ff:ff:ff"}, "image": {"debian"}, "action": {"assign"}},
		"path escape":     {"mac": {mac1}, "image": {"../images/debian"}, "action": {"assign"}},
		"missing image":   {"mac": {mac1}, "image": {"nope"}, "action": {"assign"}},
		"injection":       {"mac": {mac1}, "image": {"debian\n#!ipxe\nshell"}, "action": {"assign"}},
		"unknown action":  {"mac": {mac1}, "image": {"debian"}, "action": {"delete"}},
		"mixed selection": {"mac": {mac1, "zz"}, "image": {"debian"}, "action": {"assign"}},
	} {
		code, page := a.post("/admin/assign", v)
		assert.Equal(t, http.StatusBadRequest, code, name)
		assert.Contains(t, page, `class="error"`, name)
	}
	for _, bad := range []string{"a\nb", "x ${net0/mac}", "-rf", "a&&b", strings.Repeat("n", 64), " lead", "<b>"} {
		code, _ := a.post("/admin/rename", url.Values{"mac": {mac1}, "name": {bad}})
		assert.Equal(t, http.StatusBadRequest, code, bad)
	}
	m, _ := tp.Store.Machine(mac1)
	assert.Empty(t, m.Image)
	assert.Empty(t, m.Name)
}

func TestImagesPageShowsScripts(t *testing.T) {
	tp := newTestPool(t)
	writeFile(t, tp.images+"/evil.json", `{"kernel": "vmlinuz", "cmdline": "quiet ${root} && shell"}`)
	writeFile(t, tp.images+"/escape.json", `{"kernel": "../../etc/passwd"}`)
	a := tp.login(t)
	code, page := a.get("/admin/images")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, `id="image-debian"`)
	assert.Contains(t, page, "kernel --name vmlinuz "+tp.URL+"/files/debian/vmlinuz")
	assert.Contains(t, page, "sanboot iscsi:192.0.2.10::::iqn.2026-01.lab:win")
	assert.Contains(t, page, "evil.json")
	assert.Contains(t, page, "escape.json")
	assert.NotContains(t, page, `id="image-evil"`)
	assert.NotContains(t, page, `id="image-escape"`)

	_, page = a.get("/admin/")
	assert.Contains(t, page, `<option value="debian">`)
	assert.NotContains(t, page, `<option value="evil">`)
}
