package lab

import (
	"fmt"
	"testing"
)

// DnsmasqArgs returns arguments for a DHCP-only dnsmasq (DNS off) serving
// the LAN from the server host: a pool of .100–.199, no 3 s ping before
// offers, no lease file, logging every DHCP exchange to its output, and
// iPXE's option 175.176 (no-pxedhcp) = 1 so iPXE does not wait ~2–3 s for
// ProxyDHCP offers. Append dnsmasq options for the boot file, e.g.
// "--dhcp-boot=http://10.77.0.1/boot.ipxe" or TFTP settings.
func (n *Net) DnsmasqArgs(extra ...string) []string {
	b := n.Subnet.Addr().As4()
	return append([]string{
		"--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
		"--interface=" + n.Server.Iface, "--bind-interfaces",
		fmt.Sprintf("--dhcp-range=%d.%d.%d.100,%d.%d.%d.199,1h", b[0], b[1], b[2], b[0], b[1], b[2]),
		"--dhcp-authoritative", "--no-ping", "--leasefile-ro", "--pid-file=",
		"--dhcp-option=encap:175,176,1b",
		"--log-dhcp", "--log-facility=-", "--user=root",
	}, extra...)
}

// StartDnsmasq starts dnsmasq with DnsmasqArgs(extra...) in the server
// namespace (stopped in t.Cleanup). It is a reference DHCP/TFTP server for
// end-to-end tests; it skips when dnsmasq is not installed.
func (n *Net) StartDnsmasq(t testing.TB, extra ...string) *Process {
	t.Helper()
	return n.Server.Start(t, "dnsmasq", n.DnsmasqArgs(extra...)...)
}
