package netconf

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
)

// BootFlags are the flags every boot server under examples/ shares. Embed it in a
// program's config, Register it on the flag set, and Check it after parsing.
type BootFlags struct {
	Iface    string // -iface: boot network interface
	DHCPMode string // -dhcp: proxy, lab or off
	Range    string // -range: lab mode's pool, FIRST-LAST
	Dir      string // -dir: files served over HTTP and TFTP
	IPXEDir  string // -ipxe: iPXE binaries
	Addr     string // -addr: address advertised to clients
	HTTP     string // -http: HTTP listen address
	TFTP     string // -tftp: TFTP listen address
	Leases   string // -leases: lab mode's lease file
	Verbose  bool   // -v: debug logging
}

// Register defines the flags on fs with their defaults; dirHelp and leasesHelp say
// what -dir holds and where -leases defaults to in this program.
func (b *BootFlags) Register(fs *flag.FlagSet, dirHelp, leasesHelp string) {
	fs.StringVar(&b.Iface, "iface", "", "boot network interface (default: the interface of the default route)")
	fs.StringVar(&b.DHCPMode, "dhcp", "proxy", "DHCP mode: proxy (answer PXE clients only, never hand out addresses), lab (hand out addresses from -range), off")
	fs.StringVar(&b.Range, "range", "", "lab mode's address pool, FIRST-LAST (e.g. 192.168.50.100-192.168.50.200)")
	fs.StringVar(&b.Dir, "dir", "", dirHelp)
	fs.StringVar(&b.IPXEDir, "ipxe", "/usr/lib/ipxe", "directory holding the iPXE binaries (Debian package ipxe)")
	fs.StringVar(&b.Addr, "addr", "", "IPv4 address advertised to clients (default: the interface's first IPv4 address)")
	fs.StringVar(&b.HTTP, "http", ":80", "HTTP listen address")
	fs.StringVar(&b.TFTP, "tftp", ":69", "TFTP listen address")
	fs.StringVar(&b.Leases, "leases", "", leasesHelp)
	fs.BoolVar(&b.Verbose, "v", false, "log debug detail (every DHCP answer, refused requests)")
}

// Check validates -dhcp and, in lab mode, -range.
func (b *BootFlags) Check() error {
	switch b.DHCPMode {
	case "proxy", "off":
		return nil
	case "lab":
		if b.Range == "" {
			return errors.New("-dhcp lab needs -range FIRST-LAST")
		}
		_, _, err := ParseRange(b.Range)
		return err
	default:
		return fmt.Errorf("-dhcp %q: want proxy, lab or off", b.DHCPMode)
	}
}

// ResolveNetwork finds the boot interface and advertised address (see Resolve) and
// records what it chose in Iface and Addr.
func (b *BootFlags) ResolveNetwork() (*net.Interface, netip.Addr, error) {
	ifc, addr, err := Resolve(b.Iface, b.Addr)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	b.Iface, b.Addr = ifc.Name, addr.String()
	return ifc, addr, nil
}
