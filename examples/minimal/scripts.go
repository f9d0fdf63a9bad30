package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/netbootkit/netboot/ipxescript"
)

// scripts picks each machine's iPXE script, the way the seed setups do it, through
// ipxescript.FSRenderer: DIR/<uuid>.ipxe, DIR/<mac>.ipxe (lower-case, colon-separated;
// the hyphenated and bare-hex spellings work too), then DIR/default.ipxe; and when
// none exists, the built-in menu, which shows the machine's identity. Files are read
// on every request, so an edit takes effect at the machine's next boot; a file that
// is not a valid iPXE script is refused with its line:col error in the log (the
// machine prints that the server failed and retries) rather than served half-broken.
type scripts struct {
	files  *ipxescript.FSRenderer
	log    *slog.Logger
	server string          // "http://host[:port]" of our HTTP server, for the built-in menu
	again  ipxescript.Expr // the boot URL with iPXE's identity query, to ask again
}

var _ ipxescript.Renderer = (*scripts)(nil)

// RenderScript implements ipxescript.Renderer.
func (s *scripts) RenderScript(ctx context.Context, m *ipxescript.Machine) (*ipxescript.Script, error) {
	sc, err := s.files.RenderScript(ctx, m)
	if !errors.Is(err, ipxescript.ErrNotFound) {
		return sc, err
	}
	s.log.Info("script", "mac", m.MAC.String(), "file", "(built-in menu)", "remote", m.RemoteAddr)
	return builtinMenu(m, s.server, s.again), nil
}

// builtinMenu is what an unknown machine gets when DIR has no script for it: its
// identity on screen (so an admin can name its file), and a menu to open the iPXE
// shell, boot from the local disk, ask the server again, or reboot.
func builtinMenu(m *ipxescript.Machine, server string, again ipxescript.Expr) *ipxescript.Script {
	show := func(label, v string) string {
		if v == "" {
			v = "(unknown)"
		}
		return label + " " + ipxescript.Sanitize(v, 80)
	}
	mac := strings.ToLower(m.MAC.String())
	ip := ""
	if m.IP != nil {
		ip = m.IP.String()
	}
	s := ipxescript.New().
		Comment("built-in menu of netboot examples/minimal: no script in -dir for this machine").
		Echo("netboot minimal: no script for this machine yet").
		Echo(show("  mac      ", mac)).
		Echo(show("  uuid     ", m.UUID)).
		Echo(show("  arch     ", m.BuildArch+" "+m.Platform)).
		Echo(show("  ip       ", ip)).
		Echo(show("  product  ", strings.TrimSpace(m.Manufacturer+" "+m.Product))).
		Echo(show("  server   ", server)).
		Echo("To choose what it boots, put a script in the server's -dir as "+ipxescript.Sanitize(mac, 40)+".ipxe or default.ipxe").
		Menu(ipxescript.Menu{
			Title: "netboot minimal: " + ipxescript.Sanitize(mac, 40),
			Items: []ipxescript.MenuItem{
				{Label: "local", Text: "Boot from the local disk", Key: "l"},
				{Label: "shell", Text: "iPXE shell", Key: "s"},
				{Label: "reload", Text: "Ask the server again", Key: "r"},
				{Label: "reboot", Text: "Reboot", Key: "b"},
			},
			Default: "local",
			Timeout: 60 * time.Second,
			Cancel:  "shell",
		}).
		Label("local").LocalBoot().
		Label("shell").Cmd("shell").Goto("reload").
		Label("reboot").Cmd("reboot").
		Label("reload").Cmd("chain", "--replace", "--autofree", again)
	return s
}

// openDir opens -dir as an os.Root-backed file system (no escape through "..",
// absolute names or symbolic links), or returns nil for no directory.
func openDir(dir string) (fs.FS, *os.Root, error) {
	if dir == "" {
		return nil, nil, nil
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("-dir: %w", err)
	}
	return r.FS(), r, nil
}
