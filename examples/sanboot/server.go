package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/dhcpboot"
	"github.com/netbootkit/netboot/internal/netconf"
	"github.com/netbootkit/netboot/ipxescript"
	"github.com/netbootkit/netboot/iscsi"
	"github.com/netbootkit/netboot/tftpserve"
)

// nbps are the iPXE binaries the Chainload policy hands out, looked for in -ipxe.
var nbps = []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"}

// server is one running sanboot server: DHCP (proxy, lab or none), TFTP, HTTP and iSCSI.
type server struct {
	cfg  *config
	log  *slog.Logger
	addr netip.Addr // advertised address
	ifc  *net.Interface

	dir  fs.FS    // -dir, or nil
	root *os.Root // owner of dir
	ipxe fs.FS    // -ipxe (os.DirFS: Debian's ipxe.efi is a symlink out of the directory)

	base      *cow.Base
	fleet     *fleet
	iscsiPort uint16
	httpURL   string // "http://addr[:port]"
}

// newServer opens the base, the directories and checks what the servers need, so
// that a mistake is reported before anything listens.
func newServer(cfg *config, log *slog.Logger, ifc *net.Interface, addr netip.Addr) (*server, error) {
	s := &server{cfg: cfg, log: log, ifc: ifc, addr: addr}
	if cfg.Dir != "" {
		r, err := os.OpenRoot(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("-dir: %w", err)
		}
		s.root, s.dir = r, r.FS()
	}
	s.ipxe = os.DirFS(cfg.IPXEDir)
	found := 0
	for _, n := range nbps {
		if _, err := fs.Stat(s.ipxe, n); err == nil {
			found++
		} else {
			log.Warn("iPXE binary missing: clients that need it will fail", "file", filepath.Join(cfg.IPXEDir, n))
		}
	}
	if found == 0 {
		s.Close()
		return nil, fmt.Errorf("-ipxe %s holds none of %v (install Debian's ipxe package)", cfg.IPXEDir, nbps)
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
		Script:     s.httpURL + "/bootstrap.ipxe",
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

// tftpHandler serves the iPXE binaries under their own names and everything else from -dir.
func (s *server) tftpHandler() tftpserve.Handler {
	mux := tftpserve.NewServeMux()
	ipxeFiles := tftpserve.FileServer(s.ipxe)
	for _, n := range nbps {
		mux.Handle(n, ipxeFiles)
	}
	if s.dir != nil {
		mux.Handle("/", tftpserve.FileServer(s.dir))
	}
	return mux
}

// renderer gives every machine its sanboot script.
type renderer struct{ s *server }

// RenderScript implements ipxescript.Renderer.
func (r renderer) RenderScript(_ context.Context, m *ipxescript.Machine) (*ipxescript.Script, error) {
	r.s.log.Info("script", "mac", m.MAC.String(), "target", targetName(m.MAC), "remote", m.RemoteAddr)
	return machineScript(m.MAC, r.s.addr.String(), r.s.iscsiPort, r.s.cfg.CHAP), nil
}

// httpHandler serves /bootstrap.ipxe, /boot.ipxe (each machine's sanboot script),
// /ipxe/ (the iPXE binaries, for UEFI HTTP Boot) and the files of -dir.
func (s *server) httpHandler() (http.Handler, error) {
	boot := ipxescript.Bootstrap{URL: s.httpURL + "/boot.ipxe"}.Script()
	if err := boot.Err(); err != nil {
		return nil, err
	}
	bootText := boot.String()
	mux := http.NewServeMux()
	mux.HandleFunc("/bootstrap.ipxe", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, bootText)
	})
	mux.Handle("/boot.ipxe", &ipxescript.Handler{Renderer: renderer{s}, Logger: s.log})
	ipxeFiles := http.FileServer(http.FS(s.ipxe))
	for _, n := range nbps {
		mux.Handle("/ipxe/"+n, http.StripPrefix("/ipxe/", ipxeFiles))
	}
	if s.dir != nil {
		mux.Handle("/", http.FileServer(http.FS(s.dir)))
	}
	return netconf.LogHTTP(s.log, mux), nil
}

// asRoot is how the server is run with the privileges it needs.
const asRoot = "go run -exec sudo ./examples/sanboot -base IMG -overlays DIR"

// iscsiServer is the target: every machine's disk through fleet.lookup.
func (s *server) iscsiServer() *iscsi.Server {
	return &iscsi.Server{
		Lookup:   s.fleet.lookup,
		Discover: s.fleet.discover,
		Logger:   s.log,
	}
}

// run starts every server and blocks until ctx is done or one of them fails, then
// shuts the others down.
func (s *server) run(ctx context.Context) error {
	hh, err := s.httpHandler()
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
	tftpSrv := &tftpserve.Server{Handler: s.tftpHandler(), Logger: s.log}
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
		first, last, err := netconf.ParseRange(s.cfg.Range)
		d := &dhcpboot.Server{
			Interface: s.ifc.Name, Addr: s.addr, Subnet: netconf.Subnet(s.ifc, s.addr),
			RangeStart: first, RangeEnd: last, Policy: s.policy(), Logger: s.log,
			LeaseFile: s.cfg.Leases,
		}
		switch {
		case err != nil:
			g.Fail(err)
		case !d.Subnet.Contains(first) || !d.Subnet.Contains(last):
			g.Fail(fmt.Errorf("-range %s is outside %s's subnet %s", s.cfg.Range, s.ifc.Name, d.Subnet))
		default:
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
