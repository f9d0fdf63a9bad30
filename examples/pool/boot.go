package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/netbootkit/netboot/ipxescript"
)

// waitDelay is how long the waiting screen waits before asking again.
const waitDelay = 30 * time.Second

// bootSide serves what machines fetch: the first-stage script, each machine's
// script and its image's files. It reads assignments and never changes them;
// the only thing a machine can write is its own sighting (identity, last seen,
// stage), which is how machines join the pool.
type bootSide struct {
	store   *Store
	images  *Catalog
	base    string          // external URL, "http://host:port"
	again   ipxescript.Expr // /boot.ipxe with iPXE's identity query
	boot    string          // text of the first-stage script
	log     *slog.Logger
	handler *ipxescript.Handler
	wait    time.Duration // waiting screen's delay; waitDelay
	san     *sanSide      // the pool's iSCSI side; nil when off
}

// sanTarget is the served disk of mac for a base image, or nil for other kinds.
func (b *bootSide) sanTarget(img *Image, mac net.HardwareAddr) (*sanTarget, error) {
	if img.Base == "" {
		return nil, nil
	}
	if b.san == nil {
		return nil, fmt.Errorf("image %s: %w", img.Name, ErrNoSAN)
	}
	return b.san.target(img, mac), nil
}

func newBootSide(store *Store, images *Catalog, base string, log *slog.Logger) (*bootSide, error) {
	again, err := ipxescript.IdentityURL(base + "/boot.ipxe")
	if err != nil {
		return nil, fmt.Errorf("-url %q: %w", base, err)
	}
	bs := ipxescript.Bootstrap{URL: base + "/boot.ipxe"}.Script()
	if err := bs.Err(); err != nil {
		return nil, fmt.Errorf("-url %q: %w", base, err)
	}
	b := &bootSide{store: store, images: images, base: base, again: again, boot: bs.String(), log: log, wait: waitDelay}
	b.handler = &ipxescript.Handler{Renderer: b, Logger: log, RetryDelay: 10 * time.Second, MaxRetryDelay: time.Minute}
	return b, nil
}

// register adds the boot endpoints to mux; all are GET/HEAD only.
func (b *bootSide) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /bootstrap.ipxe", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, b.boot)
	})
	mux.Handle("GET /boot.ipxe", b.handler)
	mux.HandleFunc("GET /files/{image}/{file}", b.serveFile)
	readOnly := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "boot endpoints are read-only", http.StatusMethodNotAllowed)
	}
	for _, p := range []string{"/bootstrap.ipxe", "/boot.ipxe", "/files/{image}/{file}"} {
		mux.HandleFunc(p, readOnly)
	}
}

var _ ipxescript.Renderer = (*bootSide)(nil)

// RenderScript implements ipxescript.Renderer: the assigned image's script, or
// the waiting screen. Each request records the machine.
func (b *bootSide) RenderScript(ctx context.Context, m *ipxescript.Machine) (*ipxescript.Script, error) {
	mac := m.MAC.String()
	sg := Sighting{
		MAC:      mac,
		UUID:     m.UUID,
		Arch:     m.BuildArch,
		Platform: m.Platform,
		Vendor:   ipxescript.Sanitize(strings.TrimSpace(m.Manufacturer+" "+m.Product), 80),
	}
	if m.IP != nil {
		sg.IP = m.IP.String()
	}
	if sg.UUID == "00000000-0000-0000-0000-000000000000" { // QEMU and some boards: no UUID
		sg.UUID = ""
	}
	cur, _ := b.store.Machine(mac)
	if cur.Image == "" {
		sg.Stage = StageWaiting
		if _, err := b.store.Seen(sg); err != nil {
			return nil, fmt.Errorf("recording machine: %w", err)
		}
		b.log.Info("boot", "mac", mac, "script", "waiting")
		return b.waiting(mac), nil
	}
	img, err := b.images.Get(cur.Image)
	if err != nil {
		sg.Stage = "error"
		b.store.Seen(sg)
		return nil, fmt.Errorf("assigned image unusable: %w", err)
	}
	st, err := b.sanTarget(img, m.MAC)
	if err != nil {
		sg.Stage = "error"
		b.store.Seen(sg)
		return nil, err
	}
	s, err := img.script(b.base, mac, b.again, st, m.Platform == "efi")
	if err != nil {
		return nil, err
	}
	sg.Stage = StageScript
	if _, err := b.store.Seen(sg); err != nil {
		return nil, fmt.Errorf("recording machine: %w", err)
	}
	b.log.Info("boot", "mac", mac, "image", img.Name)
	return s, nil
}

// waiting is the script of a machine with no image: it shows the machine's MAC,
// waits and asks again, so the machine boots its image as soon as one is
// assigned.
func (b *bootSide) waiting(mac string) *ipxescript.Script {
	return ipxescript.New().
		Echo("pool: this machine ("+mac+") has no image assigned yet.").
		Echo("pool: waiting for an administrator to assign one; asking again every "+b.wait.String()+".").
		Sleep(b.wait).
		Cmd("chain", "--replace", "--autofree", b.again)
}

// serveFile serves an image's local kernel or initrd, from inside the images
// directory only (os.Root: no "..", absolute paths or symlinks out), and records
// the stage for the machine named in the "mac" query.
func (b *bootSide) serveFile(w http.ResponseWriter, r *http.Request) {
	name, file := r.PathValue("image"), r.PathValue("file")
	img, err := b.images.Get(name)
	if err != nil {
		http.Error(w, "no such image", http.StatusNotFound)
		return
	}
	stage := ""
	switch {
	case file == img.Kernel:
		stage = StageKernel
	default:
		for _, f := range img.Initrds {
			if f == file {
				stage = StageInitrd
			}
		}
	}
	if stage == "" || validFileName(file) != nil {
		http.Error(w, "no such file in this image", http.StatusNotFound)
		return
	}
	f, err := b.images.Root.Open(name + "/" + file)
	if err != nil {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	if mac, err := ParseMAC(r.URL.Query().Get("mac")); err == nil {
		// Only machines already in the pool are updated: a file fetch never
		// adds one.
		if m, ok := b.store.Machine(mac); ok && m.Image == name {
			if _, err := b.store.Seen(Sighting{MAC: mac, Stage: stage}); err != nil && !errors.Is(err, ErrInvalid) {
				b.log.Warn("recording stage", "mac", mac, "err", err)
			}
		}
	}
	http.ServeContent(w, r, file, st.ModTime(), f)
}
