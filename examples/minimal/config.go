package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/netbootkit/netboot/internal/netconf"
)

// config is what the flags say, with defaults resolved against the machine.
type config struct {
	Iface    string // boot network interface
	DHCPMode string // proxy, lab or off
	Range    string // lab mode's pool, FIRST-LAST
	Dir      string // per-machine scripts and served files
	IPXEDir  string // iPXE binaries
	Addr     string // address advertised to clients
	HTTP     string // HTTP listen address
	TFTP     string // TFTP listen address
	Leases   string // lab mode's lease file
	Verbose  bool   // debug logging
	Print    string // -print-config format, or ""
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
	fs.StringVar(&c.Iface, "iface", "", "boot network interface (default: the interface of the default route)")
	fs.StringVar(&c.DHCPMode, "dhcp", "proxy", "DHCP mode: proxy (answer PXE clients only, never hand out addresses), lab (hand out addresses from -range), off")
	fs.StringVar(&c.Range, "range", "", "lab mode's address pool, FIRST-LAST (e.g. 192.168.50.100-192.168.50.200)")
	fs.StringVar(&c.Dir, "dir", "", "directory of per-machine scripts (<mac>.ipxe, default.ipxe) and files served over HTTP and TFTP")
	fs.StringVar(&c.IPXEDir, "ipxe", "/usr/lib/ipxe", "directory holding the iPXE binaries (Debian package ipxe)")
	fs.StringVar(&c.Addr, "addr", "", "IPv4 address advertised to clients (default: the interface's first IPv4 address)")
	fs.StringVar(&c.HTTP, "http", ":80", "HTTP listen address")
	fs.StringVar(&c.TFTP, "tftp", ":69", "TFTP listen address")
	fs.StringVar(&c.Leases, "leases", "", "lab mode's lease file, kept crash-safe (default: DIR/leases when -dir is set, else leases live in memory only)")
	fs.StringVar(&c.Print, "print-config", "", "print the equivalent configuration for another DHCP server (dnsmasq, dhcpd or kea) and exit, for sites that keep theirs (run with -dhcp off)")
	fs.BoolVar(&c.Verbose, "v", false, "log debug detail (every DHCP answer, refused requests)")
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
	switch c.DHCPMode {
	case "proxy", "off":
	case "lab":
		if c.Range == "" {
			return nil, errors.New("-dhcp lab needs -range FIRST-LAST")
		}
		if _, _, err := netconf.ParseRange(c.Range); err != nil {
			return nil, err
		}
		if c.Leases == "" && c.Dir != "" {
			c.Leases = filepath.Join(c.Dir, "leases")
		}
	default:
		return nil, fmt.Errorf("-dhcp %q: want proxy, lab or off", c.DHCPMode)
	}
	return c, nil
}

// resolveNetwork fills in Iface and Addr from the machine when the flags left them empty.
func (c *config) resolveNetwork() (*net.Interface, netip.Addr, error) {
	ifc, addr, err := netconf.Resolve(c.Iface, c.Addr)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	c.Iface, c.Addr = ifc.Name, addr.String()
	return ifc, addr, nil
}
