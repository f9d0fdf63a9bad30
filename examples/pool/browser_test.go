package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium finds Debian's headless-capable browser.
func chromium(t *testing.T) string {
	t.Helper()
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (Debian packages chromium chromium-driver)")
	return ""
}

// artifactDir is where screenshots go: $NETBOOT_ARTIFACTS/pool when set (kept
// after the run), else a temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("NETBOOT_ARTIFACTS"); d != "" {
		d = filepath.Join(d, "pool")
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

// css makes a query use a CSS selector (DOM.querySelectorAll) rather than
// chromedp's default search, which also matches text and XPath.
func css(sel string) chromedp.QueryOption {
	return chromedp.ByFunc(func(ctx context.Context, t *chromedp.Target, n *chromedp.Node) ([]cdp.NodeID, error) {
		res, err := cdp.Call(ctx, t, dom.QuerySelectorAll, dom.QuerySelectorAllParams{NodeID: n.NodeID, Selector: sel})
		return res.NodeIDs, err
	})
}

// TestBrowserAssignImage is the proof in a real browser: an
// administrator logs in with headless Chromium, sees the machine that booted
// (a simulated iPXE client), assigns it an image through the page, and the
// machine's next script boots that image.
func TestBrowserAssignImage(t *testing.T) {
	exe := chromium(t)
	tp := newTestPool(t)

	// The machine boots once: it gets the waiting screen and joins the pool.
	_, body := ipxeGet(t, tp.bootURL(mac1))
	require.Contains(t, body, "no image assigned")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1366, 768), // a laptop screen
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// Start the browser on bctx itself: the first run's context owns it.
	require.NoError(t, chromedp.Do(bctx), "starting chromium")

	row := `tr[data-mac="` + mac1 + `"]`
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(sel, css(sel)))
		require.NoError(t, err, sel)
		return strings.TrimSpace(s)
	}
	// step runs actions with its own bound, so a failure names the step.
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		require.NoError(t, chromedp.Do(sctx, actions...), name)
	}
	step("open the admin page",
		chromedp.Navigate(tp.URL+"/admin/"),
		chromedp.WaitVisible(`#password`, css(`#password`)),
	)
	title, err := chromedp.Run(bctx, chromedp.Title())
	require.NoError(t, err)
	assert.Contains(t, title, "Log in", "an anonymous visitor lands on the login page")
	step("log in",
		chromedp.SendKeys(`#password`, testPassword, css(`#password`)),
		chromedp.Click(`#login`, css(`#login`)),
		chromedp.WaitVisible(`#machines`, css(`#machines`)),
	)
	rowText := text(row)
	assert.Contains(t, rowText, mac1)
	assert.Contains(t, rowText, "waiting")
	assert.Contains(t, rowText, "x86_64")

	step("select the machine", chromedp.Click(row+` input[type="checkbox"][name="mac"]`, css(row+` input[type="checkbox"][name="mac"]`)))
	step("choose the image", chromedp.SetValue(`#image`, "debian", css(`#image`)))
	step("assign", chromedp.Click(`#assign`, css(`#assign`)),
		chromedp.WaitVisible(`.notice[data-done="assigned"]`, css(`.notice[data-done="assigned"]`)))
	assert.Contains(t, text(`.notice`), "Image assigned")
	assert.Equal(t, "debian", text(row+` td.image`))

	nameInput := row + ` input[name="name"]`
	step("rename", chromedp.SendKeys(nameInput, "rack1 node-01", css(nameInput)),
		chromedp.Click(row+` form.rename button`, css(row+` form.rename button`)),
		chromedp.WaitVisible(`.notice[data-done="renamed"]`, css(`.notice[data-done="renamed"]`)))
	assert.Contains(t, text(`.notice`), "renamed")

	// The machine's next boot follows the page.
	_, body = ipxeGet(t, tp.bootURL(mac1))
	assert.Contains(t, body, "kernel --name vmlinuz "+tp.URL+"/files/debian/vmlinuz?mac="+mac1)
	m, _ := tp.Store.Machine(mac1)
	assert.Equal(t, "debian", m.Image)
	assert.Equal(t, StageScript, m.Stage)
	assert.Equal(t, "rack1 node-01", m.Name)

	// Reload to show the stage the machine reached, then keep a screenshot.
	step("reload", chromedp.Navigate(tp.URL+"/admin/"), chromedp.WaitVisible(`#machines`, css(`#machines`)))
	assert.Equal(t, StageScript, text(row+` td.stage`))
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	require.NoError(t, err)
	path := filepath.Join(artifactDir(t), "pool-assigned.png")
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	assert.Greater(t, len(shot), 1000)
}
