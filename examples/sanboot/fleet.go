package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/ipxescript"
	"github.com/netbootkit/netboot/iscsi"
	"github.com/netbootkit/netboot/rootpath"
)

const (
	// targetPrefix starts every machine's target name; the MAC follows.
	targetPrefix = "iqn.2026-11.org.netbootkit:sanboot:"
	// initiatorPrefix starts the initiator name each machine's script sets.
	initiatorPrefix = "iqn.2026-11.org.netbootkit:sanboot:client:"
)

// macName is the MAC as it appears in file and iSCSI names: lower-case hex
// bytes joined by hyphens, e.g. 52-54-00-12-34-56 (colons are not portable in
// file names).
func macName(mac net.HardwareAddr) string {
	return strings.ReplaceAll(strings.ToLower(mac.String()), ":", "-")
}

// targetName is the iSCSI target of the machine with this MAC.
func targetName(mac net.HardwareAddr) string { return targetPrefix + macName(mac) }

// initiatorName is the initiator name the machine's script gives iPXE (and so
// the iBFT, and so the booted system).
func initiatorName(mac net.HardwareAddr) string { return initiatorPrefix + macName(mac) }

// macOfTarget reads the MAC back from a target name, or fails with
// iscsi.ErrTargetNotFound. iSCSI names compare case-insensitively.
func macOfTarget(name string) (net.HardwareAddr, error) {
	name = strings.ToLower(name)
	rest, ok := strings.CutPrefix(name, targetPrefix)
	if !ok || len(rest) != 17 || strings.Count(rest, "-") != 5 {
		return nil, fmt.Errorf("%w: %q is not %s<mac>", iscsi.ErrTargetNotFound, name, targetPrefix)
	}
	mac, err := net.ParseMAC(rest)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("%w: %q does not end in a MAC", iscsi.ErrTargetNotFound, name)
	}
	return mac, nil
}

// machineScript is the iPXE script of one machine: it names the initiator, gives
// the CHAP credentials if any, and boots the machine's own target at host:port
// (the advertised address). A failed sanboot is retried every 10 seconds.
func machineScript(mac net.HardwareAddr, host string, port uint16, chap *iscsi.CHAP) *ipxescript.Script {
	s := ipxescript.New().
		Comment("netboot examples/sanboot: boot this machine's own copy-on-write disk").
		Echo("sanboot: "+macName(mac)+" boots "+targetName(mac)).
		Set("initiator-iqn", initiatorName(mac))
	if chap != nil {
		s.Set("username", chap.User).Set("password", chap.Secret)
	}
	rp := &rootpath.ISCSI{Server: host, Port: port, Target: targetName(mac)}
	return s.Label("boot").
		Sanboot(ipxescript.SAN{URIs: []string{rp.String()}}).OrGoto("failed").
		Label("failed").
		Echo("sanboot: booting "+targetName(mac)+" failed; retrying in 10 s").
		Cmd("sleep", "10").
		Goto("boot")
}

// fleet is the iSCSI side: each machine's target, backed by its overlay of the
// shared base. A target is made at the machine's first login; its overlay file is
// opened (or created) at the first command after a successful login, so logins
// that fail authentication leave no file behind. Overlays stay open until Close.
type fleet struct {
	base *cow.Base
	cfg  *config
	log  *slog.Logger

	mu    sync.Mutex
	disks map[string]*disk // by macName
}

func newFleet(cfg *config, base *cow.Base, log *slog.Logger) *fleet {
	return &fleet{base: base, cfg: cfg, log: log, disks: map[string]*disk{}}
}

// disk is one machine's LUN device: its overlay, opened on first use.
type disk struct {
	f      *fleet
	mac    net.HardwareAddr
	target *iscsi.Target

	once    sync.Once
	overlay *cow.Overlay // set by once
	err     error        // set by once
}

// open opens or creates the machine's overlay, once.
func (d *disk) open() (*cow.Overlay, error) {
	d.once.Do(func() {
		path := d.f.cfg.overlayPath(d.mac)
		opts := &cow.Options{Logger: d.f.log}
		o, err := cow.Open(path, d.f.base, opts)
		created := false
		if errors.Is(err, fs.ErrNotExist) {
			o, err = cow.Create(path, d.f.base, opts)
			created = true
		}
		if err != nil {
			d.err = fmt.Errorf("overlay of %s: %w", d.mac, err)
			d.f.log.Error("overlay", "mac", d.mac.String(), "file", path, "err", err)
			return
		}
		d.overlay = o
		d.f.log.Info("overlay", "mac", d.mac.String(), "file", path, "created", created)
	})
	return d.overlay, d.err
}

// ReadAt implements iscsi.Device.
func (d *disk) ReadAt(p []byte, off int64) (int, error) {
	o, err := d.open()
	if err != nil {
		return 0, err
	}
	return o.ReadAt(p, off)
}

// WriteAt implements iscsi.Device.
func (d *disk) WriteAt(p []byte, off int64) (int, error) {
	o, err := d.open()
	if err != nil {
		return 0, err
	}
	return o.WriteAt(p, off)
}

// Size implements iscsi.Device: an overlay has its base's size.
func (d *disk) Size() int64 { return d.f.base.Size() }

// Sync implements iscsi.Syncer.
func (d *disk) Sync() error {
	o, err := d.open()
	if err != nil {
		return err
	}
	return o.Sync()
}

// Discard implements iscsi.Discarder.
func (d *disk) Discard(off, n int64) error {
	o, err := d.open()
	if err != nil {
		return err
	}
	return o.Discard(off, n)
}

// close closes the overlay if it was opened.
func (d *disk) close() error {
	d.once.Do(func() { d.err = cow.ErrClosed }) // a later use fails instead of reopening
	if d.overlay != nil {
		return d.overlay.Close()
	}
	return nil
}

// lookup is the iscsi.Server's Lookup: the target of the MAC in the target name,
// for that machine's initiator only. The same *iscsi.Target is returned on every
// login of a machine.
func (f *fleet) lookup(_ context.Context, initiator, target string) (*iscsi.Target, error) {
	mac, err := macOfTarget(target)
	if err != nil {
		return nil, err
	}
	// The Target's ACL says the same; refusing here keeps refused machines out
	// of the map.
	if !strings.EqualFold(initiator, initiatorName(mac)) {
		return nil, fmt.Errorf("%w: %q may not log in to %s", iscsi.ErrNotAuthorized, initiator, targetName(mac))
	}
	key := macName(mac)
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.disks[key]; ok {
		return d.target, nil
	}
	d := &disk{f: f, mac: mac}
	d.target = &iscsi.Target{
		Name:       targetName(mac),
		Alias:      "sanboot " + mac.String(),
		LUNs:       []iscsi.LUN{{Device: d, Serial: strings.ReplaceAll(macName(mac), "-", "")}},
		Initiators: []string{initiatorName(mac)},
		CHAP:       f.cfg.CHAP,
	}
	f.disks[key] = d
	return d.target, nil
}

// discover lists the target of the initiator's own MAC for SendTargets.
func (f *fleet) discover(_ context.Context, initiator string) []string {
	rest, ok := strings.CutPrefix(strings.ToLower(initiator), initiatorPrefix)
	if !ok {
		return nil
	}
	mac, err := net.ParseMAC(rest)
	if err != nil || len(mac) != 6 {
		return nil
	}
	return []string{targetName(mac)}
}

// Close syncs and closes every open overlay.
func (f *fleet) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for k, d := range f.disks {
		errs = append(errs, d.close())
		delete(f.disks, k)
	}
	return errors.Join(errs...)
}

// resetOverlay is the `reset MAC` command: it empties the machine's overlay so
// that its next boot sees the base again. A running server holds the overlay
// open and locked, so reset fails with cow.ErrInUse then.
func resetOverlay(c *config, log *slog.Logger) error {
	path := c.overlayPath(c.ResetMAC)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no overlay %s: machine %s has not booted yet (nothing to reset)", path, c.ResetMAC)
	}
	base, err := cow.OpenBase(c.Base)
	if err != nil {
		return fmt.Errorf("-base: %w", err)
	}
	defer base.Close()
	o, err := cow.Open(path, base, &cow.Options{Logger: log})
	if errors.Is(err, cow.ErrInUse) {
		return fmt.Errorf("%s: %w: a running sanboot server holds it; stop the server first", path, err)
	}
	if errors.Is(err, cow.ErrBaseMismatch) {
		return fmt.Errorf("%s: %w: it was made on another -base image; remove the file to start that machine afresh", path, err)
	}
	if err != nil {
		return err
	}
	if err := o.Reset(); err != nil {
		o.Close()
		return fmt.Errorf("resetting %s: %w", path, err)
	}
	return o.Close()
}
