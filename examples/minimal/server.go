package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/netbootkit/netboot/dhcpboot"
	"github.com/netbootkit/netboot/internal/bootfiles"
	"github.com/netbootkit/netboot/internal/netconf"
	"github.com/netbootkit/netboot/ipxescript"
	"github.com/netbootkit/netboot/tftpserve"
)

// bootServer is one running minimal server: DHCP (proxy, lab or none), TFTP and HTTP.
type bootServer struct {
	cfg  *config
	log  *slog.Logger
	addr netip.Addr // advertised address
	ifc  *net.Interface

	root *os.Root // owner of site.Dir
	site bootfiles.Site

	httpURL string // "http://addr[:port]"
}

// newLab opens the directories and checks what the servers will need, so that a
// mistake is reported before anything listens.
func newLab(cfg *config, log *slog.Logger, ifc *net.Interface, addr netip.Addr) (*bootServer, error) {
	l := &bootServer{cfg: cfg, log: log, ifc: ifc, addr: addr}
	dir, root, err := openDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	l.root = root
	// -ipxe through os.DirFS: Debian's ipxe.efi links out of the directory.
	ipxe := os.DirFS(cfg.IPXEDir)
	if err := bootfiles.CheckIPXE(ipxe, cfg.IPXEDir, log); err != nil {
		// Machines whose NIC ROM is iPXE still boot; PXE ROMs cannot be chainloaded.
		log.Warn("serving without iPXE binaries: only clients that already run iPXE can boot", "err", err)
	}
	_, port, err := net.SplitHostPort(cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("-http %q: %w", cfg.HTTP, err)
	}
	l.httpURL = "http://" + addr.String()
	if port != "80" {
		l.httpURL = "http://" + net.JoinHostPort(addr.String(), port)
	}
	again, err := ipxescript.IdentityURL(l.httpURL + "/boot.ipxe")
	if err != nil {
		return nil, err
	}
	l.site = bootfiles.Site{
		IPXE: ipxe, Dir: dir, URL: l.httpURL, Log: log,
		Scripts: &scripts{files: &ipxescript.FSRenderer{FS: dir, Logger: log}, log: log, server: l.httpURL, again: again},
	}
	return l, nil
}

func (l *bootServer) Close() {
	if l.root != nil {
		l.root.Close()
	}
}

// policy is the classic chainload: PXE ROMs get iPXE over TFTP, UEFI HTTP Boot gets it
// over HTTP, iPXE gets the short URL of the first-stage script (/bootstrap.ipxe), which
// chains to /boot.ipxe with the machine's identity in the query. The identity URL
// itself is longer than the 255 bytes a DHCP option can carry, so it cannot be the
// DHCP boot file name.
func (l *bootServer) policy() (dhcpboot.Policy, error) {
	cl := l.chainload()
	return dhcpboot.PolicyFunc(func(ctx context.Context, c *dhcpboot.Client) (dhcpboot.Boot, error) {
		b, err := cl.Boot(ctx, c)
		if err == nil && !b.Ignore && b.File != "" {
			l.log.Info("dhcp", "mac", c.MAC.String(), "stage", c.Stage.String(), "arch", c.Arch.String(),
				"msg", c.MessageType.String(), "file", b.File)
		}
		return b, err
	}), nil
}

// chainload is the policy's configuration, shared with -print-config.
func (l *bootServer) chainload() *dhcpboot.Chainload {
	return &dhcpboot.Chainload{
		TFTPServer: l.addr,
		HTTPBase:   l.httpURL + "/ipxe/",
		Script:     l.site.BootstrapURL(),
		Logger:     l.log,
	}
}

// printConfig writes the configuration that makes dnsmasq, ISC dhcpd or Kea answer as
// this server would, for sites that keep their own DHCP server (-dhcp off). With
// -range it is a full server's configuration; without, boot options only.
func (l *bootServer) printConfig(w io.Writer, format string) error {
	o := dhcpboot.ExportOptions{Format: dhcpboot.ConfigFormat(format), Subnet: netconf.Subnet(l.ifc, l.addr)}
	if l.ifc != nil {
		o.Interface = l.ifc.Name
	}
	if l.cfg.Range != "" {
		first, last, err := netconf.ParseRange(l.cfg.Range)
		if err != nil {
			return err
		}
		o.RangeStart, o.RangeEnd = first, last
	}
	return dhcpboot.WriteConfig(w, l.chainload(), o)
}

// asRoot is how the README runs this server with the privileges it needs.
const asRoot = "go run -exec sudo ./examples/minimal"

// run starts every server and blocks until ctx is done or one of them fails, then
// shuts the others down.
func (l *bootServer) run(ctx context.Context) error {
	pol, err := l.policy()
	if err != nil {
		return err
	}
	hh, err := l.site.HTTP()
	if err != nil {
		return err
	}

	hl, err := net.Listen("tcp", l.cfg.HTTP)
	if err != nil {
		return netconf.BindError("HTTP", l.cfg.HTTP, asRoot, err)
	}
	httpSrv := &http.Server{Handler: hh, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(l.log.Handler(), slog.LevelWarn)}

	tc, err := tftpserve.ListenPacket("udp4", l.cfg.TFTP)
	if err != nil {
		hl.Close()
		return netconf.BindError("TFTP", l.cfg.TFTP, asRoot, err)
	}
	tftpSrv := &tftpserve.Server{
		Handler: l.site.TFTP(), // logs one line per transfer and per refusal
		Logger:  l.log,
	}

	var g netconf.Group
	g.Go("HTTP", httpSrv, func() error { return httpSrv.Serve(hl) })
	g.Go("TFTP", tftpSrv, func() error { return tftpSrv.Serve(tc) })

	switch l.cfg.DHCPMode {
	case "proxy":
		p := &dhcpboot.ProxyServer{Interface: l.ifc.Name, Addr: l.addr, Policy: pol, Logger: l.log}
		g.Go("proxyDHCP", p, func() error { return dhcpErr(l.ifc.Name, p.ListenAndServe()) })
	case "lab":
		s, err := netconf.LabDHCP(l.ifc, l.addr, l.cfg.Range, l.cfg.Leases, pol, l.log)
		if err != nil {
			g.Fail(err)
		} else {
			g.Go("DHCP", s, func() error { return dhcpErr(l.ifc.Name, s.ListenAndServe()) })
		}
	}

	l.log.Info("serving", "iface", l.ifc.Name, "addr", l.addr.String(), "dhcp", l.cfg.DHCPMode,
		"http", l.cfg.HTTP, "tftp", l.cfg.TFTP, "dir", l.cfg.Dir, "ipxe", l.cfg.IPXEDir,
		"script", l.httpURL+"/boot.ipxe")
	return g.Wait(ctx, 5*time.Second)
}

// dhcpErr adds the likely cause to a DHCP bind failure.
func dhcpErr(iface string, err error) error {
	if err == nil {
		return nil
	}
	return netconf.BindError("DHCP", iface, asRoot, err)
}
