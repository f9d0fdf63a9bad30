// Command minimal is a lab network-boot server: DHCP (proxy or lab), TFTP for the iPXE
// binaries and HTTP for per-machine iPXE scripts, kernels and initrds, wired from the
// netboot packages and working on built-in defaults.
//
// With no flags it serves the interface of the default route as a proxyDHCP server
// (answering only PXE and iPXE clients, never handing out addresses), TFTP on :69
// with Debian's iPXE binaries from /usr/lib/ipxe, and HTTP on :80 with a built-in
// menu that shows each machine's identity. Per-machine scripts go in -dir as
// <mac>.ipxe (lower-case, colon-separated) or <uuid>.ipxe, with default.ipxe for
// everyone else; every other file in -dir is served over HTTP and TFTP.
//
//	go run -exec sudo ./examples/minimal
//	go run -exec sudo ./examples/minimal -dir /srv/netboot -dhcp lab -range 10.0.0.100-10.0.0.200
//	go run ./examples/minimal -dhcp off -print-config dnsmasq   # keep your DHCP server
//
// Each machine's boot shows up as a log line per stage: the DHCP answer, the iPXE
// binary over TFTP, iPXE's own DHCP, the script, then every kernel and initrd fetched.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "minimal:", err)
		return 2
	}
	level := slog.LevelInfo
	if c.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ifc, addr, err := c.ResolveNetwork()
	if err != nil {
		fmt.Fprintln(stderr, "minimal:", err)
		return 1
	}
	l, err := newLab(c, log, ifc, addr)
	if err != nil {
		fmt.Fprintln(stderr, "minimal:", err)
		return 1
	}
	defer l.Close()
	if c.Print != "" {
		if err := l.printConfig(stdout, c.Print); err != nil {
			fmt.Fprintln(stderr, "minimal:", err)
			return 1
		}
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := l.run(ctx); err != nil {
		fmt.Fprintln(stderr, "minimal:", err)
		return 1
	}
	return 0
}
