// Command minimal is a lab network-boot server: DHCP (proxy or lab), TFTP for the iPXE
// binaries and HTTP for per-machine iPXE scripts, kernels and initrds, wired from the
// netboot packages and working on built-in defaults.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	c, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "minimal:", err)
		os.Exit(2)
	}
	ifc, addr, err := c.resolveNetwork()
	if err != nil {
		fmt.Fprintln(os.Stderr, "minimal:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "minimal: would serve on %s (%s), dhcp=%s; the servers are not wired in yet (issue 4)\n", ifc.Name, addr, c.DHCPMode)
	os.Exit(1)
}
