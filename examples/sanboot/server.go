package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/dhcpboot"
	"github.com/netbootkit/netboot/internal/bootfiles"
	"github.com/netbootkit/netboot/internal/netconf"
	"github.com/netbootkit/netboot/internal/sanfleet"
	"github.com/netbootkit/netboot/ipxescript"
	"github.com/netbootkit/netboot/iscsi"
	"github.com/netbootkit/netboot/tftpserve"
)

// server is one running sanboot server: DHCP (proxy, lab or none), TFTP, HTTP and iSCSI.
type server struct {
	cfg  *config
	log  *slog.Logger
	addr netip.Addr // advertised address
	ifc  *net.Interface

	root *os.Root // owner of site.Dir
	site bootfiles.Site

	base      *cow.Base
	fleet     *sanfleet.Fleet
	iscsiPort uint16
	httpURL   string // "http://addr[:port]"
}

// newServer opens the base, the directories and checks what the servers need, so
// that a mistake is reported before anything listens.
func newServer(cfg *config, log *slog.Logger, ifc *net.Interface, addr netip.Addr) (*server, error) {
	s := &server{cfg: cfg, log: log, ifc: ifc, addr: addr}
	var dir fs.FS
	if cfg.Dir != "" {
		r, err := os.OpenRoot(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("-dir: %w", err)
		}
		s.root, dir = r, r.FS()
	}
	// -ipxe through os.DirFS: Debian's ipxe.efi links out of the directory.
	ipxe := os.DirFS(cfg.IPXEDir)
	if err := bootfiles.CheckIPXE(ipxe, cfg.IPXEDir, log); err != nil {
		s.Close()
		return nil, err
	}
	_, port, err := net.SplitHostPort(cfg.HTTP)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("-http %q: %w", cfg.HTTP, err)
	}
	s.httpURL = "http://" + addr.String()
	if port != "80" {
		s.httpURL = "http://" + net.JoinHostPort(addr.String(), port)
	}
	_, port, _ = net.SplitHostPort(cfg.ISCSI)
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		s.Close()
		return nil, fmt.Errorf("-iscsi %q: bad port", cfg.ISCSI)
	}
	s.iscsiPort = uint16(p)
	if err := os.MkdirAll(cfg.Overlays, 0o700); err != nil {
		s.Close()
		return nil, fmt.Errorf("-overlays: %w", err)
	}
	if s.base, err = cow.OpenBase(cfg.Base); err != nil {
		s.Close()
		return nil, fmt.Errorf("-base: %w", err)
	}
	if s.base.Size() == 0 || s.base.Size()%512 != 0 {
		s.Close()
		return nil, fmt.Errorf("-base %s: size %d is not a positive multiple of 512 bytes", cfg.Base, s.base.Size())
	}
	if s.base.Size() < 255*63*512 {
		// BIOS INT 13h reads by cylinder: iPXE cannot read the MBR of a disk
		// smaller than one 255×63 cylinder.
		log.Warn("base image is smaller than one 255x63 cylinder (7.8 MiB): BIOS machines cannot boot it", "size", s.base.Size())
	}
	s.fleet = newFleet(cfg, s.base, log)
	s.site = bootfiles.Site{IPXE: ipxe, Dir: dir, URL: s.httpURL, Scripts: renderer{s}, Log: log}
	return s, nil
}

// Close closes the overlays, then the base and the directory.
func (s *server) Close() {
	if s.fleet != nil {
		if err := s.fleet.Close(); err != nil {
			s.log.Error("closing overlays", "err", err)
		}
	}
	if s.base != nil {
		s.base.Close()
	}
	if s.root != nil {
		s.root.Close()
	}
}

// chainload is the DHCP policy: PXE ROMs get iPXE over TFTP, UEFI HTTP Boot over
// HTTP, and iPXE the first-stage script, which chains to /boot.ipxe with the
// machine's identity.
func (s *server) chainload() *dhcpboot.Chainload {
	return &dhcpboot.Chainload{
		TFTPServer: s.addr,
		HTTPBase:   s.httpURL + "/ipxe/",
		Script:     s.site.BootstrapURL(),
		Logger:     s.log,
	}
}

func (s *server) policy() dhcpboot.Policy {
	cl := s.chainload()
	return dhcpboot.PolicyFunc(func(ctx context.Context, c *dhcpboot.Client) (dhcpboot.Boot, error) {
		b, err := cl.Boot(ctx, c)
		if err == nil && !b.Ignore && b.File != "" {
			s.log.Info("dhcp", "mac", c.MAC.String(), "stage", c.Stage.String(), "arch", c.Arch.String(),
				"msg", c.MessageType.String(), "file", b.File)
		}
		return b, err
	})
}

// renderer gives every machine its sanboot script.
type renderer struct{ s *server }

// RenderScript implements ipxescript.Renderer.
func (r renderer) RenderScript(_ context.Context, m *ipxescript.Machine) (*ipxescript.Script, error) {
	r.s.log.Info("script", "mac", m.MAC.String(), "target", targetName(m.MAC), "remote", m.RemoteAddr)
	return machineScript(m.MAC, r.s.addr.String(), r.s.iscsiPort, r.s.cfg.CHAP, m.UEFI()), nil
}

// asRoot is how the server is run with the privileges it needs.
const asRoot = "go run -exec sudo ./examples/sanboot -base IMG -overlays DIR"

// iscsiServer is the target: every machine's disk through fleet.lookup.
func (s *server) iscsiServer() *iscsi.Server {
	srv := &iscsi.Server{Logger: s.log}
	s.fleet.Hook(srv)
	return srv
}

// run starts every server and blocks until ctx is done or one of them fails, then
// shuts the others down.
func (s *server) run(ctx context.Context) error {
	hh, err := s.site.HTTP()
	if err != nil {
		return err
	}
	il, err := net.Listen("tcp", s.cfg.ISCSI)
	if err != nil {
		return netconf.BindError("iSCSI", s.cfg.ISCSI, asRoot, err)
	}
	hl, err := net.Listen("tcp", s.cfg.HTTP)
	if err != nil {
		il.Close()
		return netconf.BindError("HTTP", s.cfg.HTTP, asRoot, err)
	}
	tc, err := tftpserve.ListenPacket("udp4", s.cfg.TFTP)
	if err != nil {
		il.Close()
		hl.Close()
		return netconf.BindError("TFTP", s.cfg.TFTP, asRoot, err)
	}
	httpSrv := &http.Server{Handler: hh, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	tftpSrv := &tftpserve.Server{Handler: s.site.TFTP(), Logger: s.log}
	iscsiSrv := s.iscsiServer()

	var g netconf.Group
	g.Go("iSCSI", iscsiSrv, func() error { return iscsiSrv.Serve(il) })
	g.Go("HTTP", httpSrv, func() error { return httpSrv.Serve(hl) })
	g.Go("TFTP", tftpSrv, func() error { return tftpSrv.Serve(tc) })

	switch s.cfg.DHCPMode {
	case "proxy":
		p := &dhcpboot.ProxyServer{Interface: s.ifc.Name, Addr: s.addr, Policy: s.policy(), Logger: s.log}
		g.Go("proxyDHCP", p, func() error { return dhcpErr(s.ifc.Name, p.ListenAndServe()) })
	case "lab":
		d, err := netconf.LabDHCP(s.ifc, s.addr, s.cfg.Range, s.cfg.Leases, s.policy(), s.log)
		if err != nil {
			g.Fail(err)
		} else {
			g.Go("DHCP", d, func() error { return dhcpErr(s.ifc.Name, d.ListenAndServe()) })
		}
	}

	s.log.Info("serving", "iface", s.ifc.Name, "addr", s.addr.String(), "dhcp", s.cfg.DHCPMode,
		"http", s.cfg.HTTP, "tftp", s.cfg.TFTP, "iscsi", s.cfg.ISCSI, "base", s.cfg.Base,
		"overlays", s.cfg.Overlays, "chap", s.cfg.CHAP != nil, "script", s.httpURL+"/boot.ipxe")
	return g.Wait(ctx, 5*time.Second)
}

// dhcpErr adds the likely cause to a DHCP bind failure.
func dhcpErr(iface string, err error) error {
	if err == nil {
		return nil
	}
	return netconf.BindError("DHCP", iface, asRoot, err)
}
