package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"

	"github.com/netbootkit/netboot/internal/netconf"
	"github.com/netbootkit/netboot/iscsi"
)

// config is what the flags say, with defaults resolved against the machine.
type config struct {
	netconf.BootFlags

	Base     string      // -base: the shared image
	Overlays string      // -overlays: one overlay file per machine
	ISCSI    string      // -iscsi: the target's listen address
	CHAP     *iscsi.CHAP // -chap USER:SECRET, or nil

	ResetMAC net.HardwareAddr // the MAC of `reset MAC`, or nil to serve
}

const usageText = `sanboot: serve diskless machines from one shared base image over iSCSI.

Every machine that network boots gets iPXE, then a script that boots its own iSCSI
disk: a copy-on-write overlay of -base kept in -overlays as <mac>.cow (created on
first boot). The base is never written.

Usage:
  sanboot -base IMG -overlays DIR [flags]            serve DHCP, TFTP, HTTP and iSCSI
  sanboot -base IMG -overlays DIR reset MAC          throw one machine's changes away
                                                     (refused while the server runs)

`

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	var chap string
	fs := flag.NewFlagSet("sanboot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	c.Register(fs, "directory of extra files served over HTTP and TFTP", "lab mode's lease file (default: leases in memory only)")
	fs.StringVar(&c.Base, "base", "", "the shared disk image every machine boots (opened read-only, never written); required")
	fs.StringVar(&c.Overlays, "overlays", "", "directory of the machines' overlays, one <mac>.cow file each (created on first boot); required")
	fs.StringVar(&c.ISCSI, "iscsi", ":3260", "iSCSI listen address")
	fs.StringVar(&chap, "chap", "", "USER:SECRET that every initiator must prove with CHAP (the secret 12 to 16 bytes for Windows' sake; empty: no CHAP)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		if fs.Arg(0) != "reset" {
			return nil, fmt.Errorf("unexpected argument %q (the only command is `reset MAC`; see -h)", fs.Arg(0))
		}
		if fs.NArg() < 2 {
			return nil, errors.New("reset needs the MAC of the machine whose overlay to reset")
		}
		mac, err := net.ParseMAC(fs.Arg(1))
		if err != nil || len(mac) != 6 {
			return nil, fmt.Errorf("reset %q: not an Ethernet MAC address", fs.Arg(1))
		}
		c.ResetMAC = mac
		// Flags may follow the command too.
		if err := fs.Parse(fs.Args()[2:]); err != nil {
			return nil, err
		}
		if fs.NArg() > 0 {
			return nil, fmt.Errorf("unexpected argument %q after reset MAC", fs.Arg(0))
		}
	}
	if c.Base == "" {
		return nil, errors.New("-base IMG is required: the image every machine boots")
	}
	if c.Overlays == "" {
		return nil, errors.New("-overlays DIR is required: where each machine's overlay lives")
	}
	if chap != "" {
		user, secret, ok := strings.Cut(chap, ":")
		if !ok || user == "" {
			return nil, errors.New("-chap: want USER:SECRET")
		}
		c.CHAP = &iscsi.CHAP{User: user, Secret: secret}
		if err := c.CHAP.Validate(); err != nil {
			return nil, fmt.Errorf("-chap: %w", err)
		}
		// The credentials go into each machine's iPXE script: refuse what the
		// script cannot carry literally.
		if err := machineScript(net.HardwareAddr{0, 0, 0, 0, 0, 0}, "192.0.2.1", 3260, c.CHAP, false).Err(); err != nil {
			return nil, fmt.Errorf("-chap: %w", err)
		}
	}
	if _, port, err := net.SplitHostPort(c.ISCSI); err != nil || port == "" {
		return nil, fmt.Errorf("-iscsi %q: want HOST:PORT or :PORT", c.ISCSI)
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// overlayPath is the overlay file of the machine with this MAC.
func (c *config) overlayPath(mac net.HardwareAddr) string {
	return filepath.Join(c.Overlays, macName(mac)+".cow")
}
