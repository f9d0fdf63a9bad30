package netconf

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/netbootkit/netboot/dhcpboot"
)

// LabDHCP builds the lab-mode DHCP server of a reference server from its
// flags: rng is -range (FIRST-LAST, both inside the subnet of addr on ifc),
// leases the -leases file ("" keeps leases in memory), p the boot policy.
func LabDHCP(ifc *net.Interface, addr netip.Addr, rng, leases string, p dhcpboot.Policy, log *slog.Logger) (*dhcpboot.Server, error) {
	first, last, err := ParseRange(rng)
	if err != nil {
		return nil, err
	}
	s := &dhcpboot.Server{
		Interface: ifc.Name, Addr: addr, Subnet: Subnet(ifc, addr),
		RangeStart: first, RangeEnd: last, Policy: p, Logger: log,
		LeaseFile: leases,
	}
	if !s.Subnet.Contains(first) || !s.Subnet.Contains(last) {
		return nil, fmt.Errorf("-range %s is outside %s's subnet %s", rng, ifc.Name, s.Subnet)
	}
	return s, nil
}
