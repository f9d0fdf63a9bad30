package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/netbootkit/netboot/internal/netconf"
)

// config is what the flags say, with defaults resolved against the machine.
type config struct {
	netconf.BootFlags
	Print string // -print-config format, or ""
}

const usageText = `minimal: a lab network-boot server (DHCP + TFTP + HTTP) on built-in defaults.

Machines that PXE boot on the network get iPXE (undionly.kpxe for BIOS, ipxe.efi or
snponly.efi for UEFI) over TFTP, then an iPXE script over HTTP chosen per machine:
DIR/<mac>.ipxe (lower-case, colon-separated), else DIR/default.ipxe, else a built-in menu
that shows the machine's identity. Files under DIR are served over HTTP and TFTP.

Usage: minimal [flags]

`

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("minimal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	c.Register(fs, "directory of per-machine scripts (<mac>.ipxe, default.ipxe) and files served over HTTP and TFTP",
		"lab mode's lease file, kept crash-safe (default: DIR/leases when -dir is set, else leases live in memory only)")
	fs.StringVar(&c.Print, "print-config", "", "print the equivalent configuration for another DHCP server (dnsmasq, dhcpd or kea) and exit, for sites that keep theirs (run with -dhcp off)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	switch c.Print {
	case "", "dnsmasq", "dhcpd", "kea":
	default:
		return nil, fmt.Errorf("-print-config %q: want dnsmasq, dhcpd or kea", c.Print)
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	if c.DHCPMode == "lab" && c.Leases == "" && c.Dir != "" {
		c.Leases = filepath.Join(c.Dir, "leases")
	}
	return c, nil
}
