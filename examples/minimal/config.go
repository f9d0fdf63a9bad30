package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
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
		if _, _, err := parseRange(c.Range); err != nil {
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

// parseRange reads FIRST-LAST into two IPv4 addresses in order.
func parseRange(s string) (first, last netip.Addr, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return first, last, fmt.Errorf("-range %q: want FIRST-LAST", s)
	}
	if first, err = netip.ParseAddr(strings.TrimSpace(a)); err != nil || !first.Is4() {
		return first, last, fmt.Errorf("-range %q: first address is not IPv4", s)
	}
	if last, err = netip.ParseAddr(strings.TrimSpace(b)); err != nil || !last.Is4() {
		return first, last, fmt.Errorf("-range %q: last address is not IPv4", s)
	}
	if last.Less(first) {
		return first, last, fmt.Errorf("-range %q: last address is before the first", s)
	}
	return first, last, nil
}

// defaultRouteIface reads /proc/net/route for the interface of the IPv4 default route.
func defaultRouteIface(procRoute io.Reader) (string, error) {
	sc := bufio.NewScanner(procRoute)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// Iface Destination Gateway Flags ... Mask
		if len(f) >= 8 && f[1] == "00000000" && f[7] == "00000000" {
			return f[0], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no IPv4 default route; name the boot interface with -iface")
}

// resolveNetwork fills in Iface and Addr from the machine when the flags left them empty.
func (c *config) resolveNetwork() (*net.Interface, netip.Addr, error) {
	if c.Iface == "" {
		f, err := os.Open("/proc/net/route")
		if err != nil {
			return nil, netip.Addr{}, fmt.Errorf("finding the default route: %w", err)
		}
		name, err := defaultRouteIface(f)
		f.Close()
		if err != nil {
			return nil, netip.Addr{}, err
		}
		c.Iface = name
	}
	ifc, err := net.InterfaceByName(c.Iface)
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("interface %q: %w (list them with `ip link`)", c.Iface, err)
	}
	if c.Addr != "" {
		a, err := netip.ParseAddr(c.Addr)
		if err != nil || !a.Is4() {
			return nil, netip.Addr{}, fmt.Errorf("-addr %q is not an IPv4 address", c.Addr)
		}
		return ifc, a, nil
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("addresses of %s: %w", c.Iface, err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			c.Addr = p.Addr().String()
			return ifc, p.Addr(), nil
		}
	}
	return nil, netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address; give one with -addr", c.Iface)
}
