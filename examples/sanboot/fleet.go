package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/internal/sanfleet"
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
func macName(mac net.HardwareAddr) string { return sanfleet.MACName(mac) }

// targetName is the iSCSI target of the machine with this MAC.
func targetName(mac net.HardwareAddr) string { return targetPrefix + macName(mac) }

// initiatorName is the initiator name the machine's script gives iPXE (and so
// the iBFT, and so the booted system).
func initiatorName(mac net.HardwareAddr) string { return initiatorPrefix + macName(mac) }

// macOfTarget reads the MAC back from a target name, or fails with
// iscsi.ErrTargetNotFound. iSCSI names compare case-insensitively.
func macOfTarget(name string) (net.HardwareAddr, error) {
	image, mac, err := newFleet(&config{}, nil, nil).ParseTarget(name)
	if err != nil {
		return nil, err
	}
	if image != "" {
		return nil, fmt.Errorf("%w: %q is not %s<mac>", iscsi.ErrTargetNotFound, name, targetPrefix)
	}
	return mac, nil
}

// efiLoader is the loader UEFI machines start from the base image: the
// removable-media path every UEFI firmware knows. Naming it spares the
// boards that pick the wrong loader or hang without it (ipxe#996, #1430).
const efiLoader = `\EFI\BOOT\BOOTX64.EFI`

// machineScript is the iPXE script of one machine: it names the initiator, gives
// the CHAP credentials if any, and boots the machine's own target at host:port
// (the advertised address); a UEFI machine (uefi) starts efiLoader from it. A
// failed sanboot is retried every 10 seconds.
func machineScript(mac net.HardwareAddr, host string, port uint16, chap *iscsi.CHAP, uefi bool) *ipxescript.Script {
	s := ipxescript.New().
		Comment("netboot examples/sanboot: boot this machine's own copy-on-write disk").
		Echo("sanboot: "+macName(mac)+" boots "+targetName(mac)).
		Set("initiator-iqn", initiatorName(mac))
	if chap != nil {
		s.Set("username", chap.User).Set("password", chap.Secret)
	}
	rp := &rootpath.ISCSI{Server: host, Port: port, Target: targetName(mac)}
	san := ipxescript.SAN{URIs: []string{rp.String()}}
	if uefi {
		san.Filename = efiLoader
	}
	return s.Label("boot").
		Sanboot(san).OrGoto("failed").
		Label("failed").
		Echo("sanboot: booting "+targetName(mac)+" failed; retrying in 10 s").
		Cmd("sleep", "10").
		Goto("boot")
}

// newFleet is the iSCSI side: each machine's target, backed by its overlay of
// the shared base (package internal/sanfleet, with the single image ""). A
// target is made at the machine's first login; its overlay file is opened (or
// created) at the first command after a successful login, so logins that fail
// authentication leave no file behind. Overlays stay open until Close.
func newFleet(cfg *config, base *cow.Base, log *slog.Logger) *sanfleet.Fleet {
	return &sanfleet.Fleet{
		TargetPrefix:    targetPrefix,
		InitiatorPrefix: initiatorPrefix,
		Dir:             cfg.Overlays,
		CHAP:            cfg.CHAP,
		Logger:          log,
		Base: func(image string) (*cow.Base, error) {
			if image != "" {
				return nil, fmt.Errorf("%w: this server has one base image", iscsi.ErrTargetNotFound)
			}
			return base, nil
		},
	}
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
	err = sanfleet.ResetFile(path, base, &cow.Options{Logger: log})
	switch {
	case errors.Is(err, cow.ErrInUse):
		return fmt.Errorf("%w: a running sanboot server holds it; stop the server first", err)
	case errors.Is(err, cow.ErrBaseMismatch):
		return fmt.Errorf("%w: it was made on another -base image; remove the file to start that machine afresh", err)
	}
	return err
}
