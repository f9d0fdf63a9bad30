package main

import (
	"fmt"
	"net"

	"github.com/netbootkit/netboot/iscsi"
)

// The script a machine gets from /boot.ipxe: its initiator name (which iPXE
// puts in the iBFT for the booted system), the fleet's CHAP credentials, and a
// sanboot of its own target, retried while it fails.
func Example_machineScript() {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	fmt.Print(machineScript(mac, "10.0.0.1", 3260, &iscsi.CHAP{User: "fleet", Secret: "twelvebytes+"}, false))
	// Output:
	// #!ipxe
	// # netboot examples/sanboot: boot this machine's own copy-on-write disk
	// echo sanboot: 52-54-00-12-34-56 boots iqn.2026-11.org.netbootkit:sanboot:52-54-00-12-34-56
	// set initiator-iqn iqn.2026-11.org.netbootkit:sanboot:client:52-54-00-12-34-56
	// set username fleet
	// set password twelvebytes+
	// :boot
	// sanboot iscsi:10.0.0.1::::iqn.2026-11.org.netbootkit:sanboot:52-54-00-12-34-56 || goto failed
	// :failed
	// echo sanboot: booting iqn.2026-11.org.netbootkit:sanboot:52-54-00-12-34-56 failed; retrying in 10 s
	// sleep 10
	// goto boot
}
