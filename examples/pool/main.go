package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netbootkit/netboot/dhcpboot"
	"github.com/netbootkit/netboot/internal/netconf"
	"github.com/netbootkit/netboot/internal/sanfleet"
	"github.com/netbootkit/netboot/ipxescript"
	"github.com/netbootkit/netboot/iscsi"
	"github.com/netbootkit/netboot/tftpserve"
)

// nbps are the iPXE binaries the Chainload policy hands out, looked for in -ipxe.
var nbps = []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"}

// deadPeerTimeout is how long an iSCSI connection may leave data unacknowledged
// before it is dropped (see sanfleet.DeadPeerListener).
const deadPeerTimeout = 45 * time.Second

// minPassword is the shortest admin password accepted.
const minPassword = 12

// config is what the flags say.
type config struct {
	State        string // state file
	Images       string // images directory
	HTTP         string // HTTP listen address
	URL          string // external base URL
	PasswordFile string
	DHCP         string // off or proxy
	Iface        string
	Addr         string
	IPXEDir      string
	TFTP         string
	Verbose      bool
	MaxMachines  int
	Wait         time.Duration // waiting screen's delay

	ISCSI      string // iSCSI listen address, or "off"
	ISCSIHost  string // host machines reach the target at
	Overlays   string // overlays directory
	CHAPFile   string // file holding USER:SECRET
	MaxOverlay string // -max-overlay: each overlay's size cap, e.g. 8G
	SAN        SANConfig
}

const usageText = `pool: a network-boot server for a pool of diskless machines, with a web page
where an administrator picks which image each machine boots.

Machines join the pool by network booting once; until an image is assigned they
show a waiting screen and ask again. The admin page (http://HOST/admin/) needs the
password read from -password-file.

Usage: pool -images DIR -password-file FILE -url http://HOST:PORT [flags]

`

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("pool", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.State, "state", "pool.json", "state file (machines, names, assignments), rewritten atomically on every change")
	fs.StringVar(&c.Images, "images", "", "images directory: NAME.json descriptions, NAME/ kernels and initrds (required)")
	fs.StringVar(&c.HTTP, "http", ":8080", "HTTP listen address (boot scripts, image files, admin page)")
	fs.StringVar(&c.URL, "url", "", "external base URL machines and browsers use, e.g. http://192.0.2.1:8080 (required)")
	fs.StringVar(&c.PasswordFile, "password-file", "", "file holding the admin password (required; at least 12 characters; there is no default)")
	fs.StringVar(&c.DHCP, "dhcp", "off", "DHCP mode: off (your DHCP server hands out URL/bootstrap.ipxe to iPXE) or proxy (answer PXE clients beside your DHCP server; needs root, -iface, -addr)")
	fs.StringVar(&c.Iface, "iface", "", "boot network interface (-dhcp proxy)")
	fs.StringVar(&c.Addr, "addr", "", "this server's IPv4 address on -iface (-dhcp proxy)")
	fs.StringVar(&c.IPXEDir, "ipxe", "/usr/lib/ipxe", "directory holding the iPXE binaries served over TFTP (-dhcp proxy; Debian package ipxe)")
	fs.StringVar(&c.TFTP, "tftp", ":69", "TFTP listen address (-dhcp proxy)")
	fs.IntVar(&c.MaxMachines, "max-machines", DefaultMaxMachines, "most machines the pool records; new MACs beyond it get an error script")
	fs.StringVar(&c.ISCSI, "iscsi", ":3260", `iSCSI listen address of the disks the pool serves ("base" images), or "off"`)
	fs.StringVar(&c.ISCSIHost, "iscsi-host", "", "host (address or name) machines reach the iSCSI target at (default: the host of -url)")
	fs.StringVar(&c.Overlays, "overlays", "overlays", "directory of the machines' copy-on-write overlays of base images, OVERLAYS/IMAGE/MAC.cow (never deleted by the pool)")
	fs.StringVar(&c.CHAPFile, "chap-file", "", "file holding USER:SECRET that every machine must prove with CHAP to reach its disk (the secret 12 to 16 bytes; default: no CHAP)")
	fs.StringVar(&c.MaxOverlay, "max-overlay", "0", "cap on each machine's overlay file, in bytes or with K, M, G, T (powers of 1024), e.g. 8G; a machine whose overlay is full gets write errors, reads keep working (0: no cap)")
	fs.DurationVar(&c.Wait, "wait", waitDelay, "how long a machine without an image waits before asking again (1s to 10m)")
	fs.BoolVar(&c.Verbose, "v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	if c.Images == "" {
		return nil, errors.New("-images DIR is required")
	}
	if c.PasswordFile == "" {
		return nil, errors.New("-password-file is required: the admin page has no default password")
	}
	u, err := url.Parse(c.URL)
	if c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("-url %q: want the external base URL, e.g. http://192.0.2.1:8080", c.URL)
	}
	c.URL = strings.TrimSuffix(c.URL, "/")
	if c.Wait < time.Second || c.Wait > 10*time.Minute {
		return nil, fmt.Errorf("-wait %s: want 1s to 10m", c.Wait)
	}
	if err := c.sanFlags(u); err != nil {
		return nil, err
	}
	switch c.DHCP {
	case "off":
	case "proxy":
		if c.Iface == "" {
			return nil, errors.New("-dhcp proxy needs -iface")
		}
		if a, err := netip.ParseAddr(c.Addr); err != nil || !a.Is4() {
			return nil, fmt.Errorf("-dhcp proxy needs -addr, this server's IPv4 address (got %q)", c.Addr)
		}
	default:
		return nil, fmt.Errorf("-dhcp %q: want off or proxy", c.DHCP)
	}
	return c, nil
}

// sanFlags resolves -iscsi, -iscsi-host and -overlays into c.SAN (-chap-file
// is read later, with the password).
func (c *config) sanFlags(u *url.URL) error {
	if c.ISCSI == "off" {
		return nil
	}
	_, port, err := net.SplitHostPort(c.ISCSI)
	p, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || perr != nil || p == 0 {
		return fmt.Errorf("-iscsi %q: want HOST:PORT, :PORT or off", c.ISCSI)
	}
	host := c.ISCSIHost
	if host == "" {
		host = u.Hostname()
	}
	if strings.ContainsAny(host, ":[]") {
		// iPXE's iscsi: root path takes an IPv6 literal in brackets, but the
		// RFC 4173 form is ambiguous for many initiators: ask for a name or
		// IPv4 address.
		return fmt.Errorf("-iscsi-host %q: want an IPv4 address or a host name", host)
	}
	if c.Overlays == "" {
		return errors.New("-overlays: want a directory (or -iscsi off)")
	}
	max, err := parseSize(c.MaxOverlay)
	if err != nil {
		return fmt.Errorf("-max-overlay %q: %w", c.MaxOverlay, err)
	}
	c.SAN = SANConfig{Overlays: c.Overlays, Host: host, Port: uint16(p), MaxOverlay: max}
	return nil
}

// parseSize reads a byte count: digits with an optional K, M, G or T suffix
// (powers of 1024, an optional trailing B or iB).
func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	shift := 0
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGT", t[n-1]); i >= 0 {
			shift, t = 10*(i+1), t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || (shift > 0 && v > math.MaxInt64>>shift) {
		return 0, errors.New("want a byte count such as 8G, 512M or 0")
	}
	return v << shift, nil
}

// readCHAP reads -chap-file: one line USER:SECRET.
func readCHAP(path string) (*iscsi.CHAP, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-chap-file: %w", err)
	}
	user, secret, ok := strings.Cut(strings.TrimRight(string(data), "\r\n"), ":")
	if !ok || user == "" {
		return nil, fmt.Errorf("-chap-file %s: want one line USER:SECRET", path)
	}
	ch := &iscsi.CHAP{User: user, Secret: secret}
	if err := ch.Validate(); err != nil {
		return nil, fmt.Errorf("-chap-file %s: %w", path, err)
	}
	// The credentials go into each machine's script: refuse what it cannot
	// carry literally.
	if err := ipxescript.New().Set("username", user).Set("password", secret).Err(); err != nil {
		return nil, fmt.Errorf("-chap-file %s: %w", path, err)
	}
	return ch, nil
}

// readPassword reads the admin password file: one line, trailing newline removed.
func readPassword(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("-password-file: %w", err)
	}
	pw := strings.TrimRight(string(data), "\r\n")
	if len(pw) < minPassword {
		return "", fmt.Errorf("-password-file %s: the password must have at least %d characters", path, minPassword)
	}
	return pw, nil
}

// Pool is the whole server: store, images, boot endpoints and admin pages.
type Pool struct {
	Store  *Store
	Images *Catalog
	boot   *bootSide
	admin  *adminSide
	san    *sanSide // nil until EnableSAN
	log    *slog.Logger
}

// EnableSAN turns on the pool's own iSCSI target for "base" images; serve it
// with ISCSIServer. Call it before serving.
func (p *Pool) EnableSAN(cfg SANConfig) error {
	s, err := newSANSide(cfg, p.Images, p.Store, p.log)
	if err != nil {
		return err
	}
	p.san, p.boot.san, p.admin.san = s, s, s
	return nil
}

// ISCSIServer returns the iSCSI server of the pool's served disks (EnableSAN
// first; nil without).
func (p *Pool) ISCSIServer() *iscsi.Server {
	if p.san == nil {
		return nil
	}
	return p.san.server()
}

// NewPool opens the state file and images directory and builds the HTTP side.
// base is the external URL; password must not be empty.
func NewPool(statePath, imagesDir, base, password string, log *slog.Logger) (*Pool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(password) < minPassword {
		return nil, fmt.Errorf("admin password: at least %d characters", minPassword)
	}
	st, err := OpenStore(statePath)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(imagesDir)
	if err != nil {
		return nil, fmt.Errorf("-images: %w", err)
	}
	cat := &Catalog{Root: root}
	b, err := newBootSide(st, cat, base, log)
	if err != nil {
		root.Close()
		return nil, err
	}
	a, err := newAdminSide(st, cat, b, password, log)
	if err != nil {
		root.Close()
		return nil, err
	}
	return &Pool{Store: st, Images: cat, boot: b, admin: a, log: log}, nil
}

// Close closes the served disks (overlays, then bases) and the images directory.
func (p *Pool) Close() error {
	var err error
	if p.san != nil {
		err = p.san.Close()
	}
	return errors.Join(err, p.Images.Root.Close())
}

// Handler returns the HTTP side: boot endpoints (GET only, no login) and the
// admin pages (login, CSRF).
func (p *Pool) Handler() http.Handler {
	mux := http.NewServeMux()
	p.boot.register(mux)
	admin := http.NewServeMux()
	p.admin.register(admin)
	mux.Handle("/", securityHeaders(admin))
	return mux
}

// DHCPPolicy is the chainload policy that also records every PXE/iPXE request as
// a sighting at stage "dhcp", so a machine appears as soon as it asks.
func (p *Pool) DHCPPolicy(tftp netip.Addr) dhcpboot.Policy {
	cl := &dhcpboot.Chainload{TFTPServer: tftp, HTTPBase: p.boot.base + "/ipxe/", Script: p.boot.base + "/bootstrap.ipxe", Logger: p.log}
	return dhcpboot.PolicyFunc(func(ctx context.Context, c *dhcpboot.Client) (dhcpboot.Boot, error) {
		b, err := cl.Boot(ctx, c)
		if err == nil && !b.Ignore && len(c.MAC) == 6 {
			sg := Sighting{MAC: c.MAC.String(), Stage: StageDHCP}
			if len(c.Archs) > 0 {
				sg.Arch = c.Arch.String()
			}
			if _, err := p.Store.Seen(sg); err != nil {
				p.log.Warn("recording machine", "mac", sg.MAC, "err", err)
			}
		}
		return b, err
	})
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "pool:", err)
		return 2
	}
	level := slog.LevelInfo
	if c.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	pw, err := readPassword(c.PasswordFile)
	if err != nil {
		fmt.Fprintln(stderr, "pool:", err)
		return 1
	}
	p, err := NewPool(c.State, c.Images, c.URL, pw, log)
	if err != nil {
		fmt.Fprintln(stderr, "pool:", err)
		return 1
	}
	defer p.Close()
	p.Store.MaxMachines = c.MaxMachines
	p.boot.wait = c.Wait
	if c.ISCSI != "off" {
		if c.CHAPFile != "" {
			if c.SAN.CHAP, err = readCHAP(c.CHAPFile); err != nil {
				fmt.Fprintln(stderr, "pool:", err)
				return 1
			}
		}
		if err := p.EnableSAN(c.SAN); err != nil {
			fmt.Fprintln(stderr, "pool: -overlays:", err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := p.serve(ctx, c); err != nil {
		fmt.Fprintln(stderr, "pool:", err)
		return 1
	}
	return 0
}

// serve runs HTTP, and with -dhcp proxy also proxyDHCP and TFTP, until ctx ends
// or one fails.
func (p *Pool) serve(ctx context.Context, c *config) error {
	hl, err := net.Listen("tcp", c.HTTP)
	if err != nil {
		return netconf.BindError("HTTP", c.HTTP, asRoot, err)
	}
	h := p.Handler()
	if c.DHCP == "proxy" {
		ipxe := http.FileServer(http.Dir(c.IPXEDir))
		mux := http.NewServeMux()
		for _, n := range nbps {
			mux.Handle("GET /ipxe/"+n, http.StripPrefix("/ipxe/", ipxe))
		}
		mux.Handle("/", h)
		h = mux
	}
	httpSrv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelWarn)}
	var g netconf.Group
	if c.DHCP == "proxy" {
		addr := netip.MustParseAddr(c.Addr)
		tc, err := tftpserve.ListenPacket("udp4", c.TFTP)
		if err != nil {
			hl.Close()
			return netconf.BindError("TFTP", c.TFTP, asRoot, err)
		}
		mux := tftpserve.NewServeMux()
		files := tftpserve.FileServer(os.DirFS(c.IPXEDir))
		for _, n := range nbps {
			mux.Handle(n, files)
		}
		tftpSrv := &tftpserve.Server{Handler: mux, Logger: p.log}
		proxy := &dhcpboot.ProxyServer{Interface: c.Iface, Addr: addr, Policy: p.DHCPPolicy(addr), Logger: p.log}
		g.Go("TFTP", tftpSrv, func() error { return tftpSrv.Serve(tc) })
		g.Go("proxyDHCP", proxy, func() error {
			if err := proxy.ListenAndServe(); err != nil {
				return netconf.BindError("DHCP", c.Iface, asRoot, err)
			}
			return nil
		})
	}
	if srv := p.ISCSIServer(); srv != nil {
		il, err := net.Listen("tcp", c.ISCSI)
		if err != nil {
			g.Fail(netconf.BindError("iSCSI", c.ISCSI, asRoot, err))
		} else {
			// A machine powered off never closes its sessions: drop them
			// about a minute later, so its disk can be reset.
			il = sanfleet.DeadPeerListener(il, deadPeerTimeout)
			g.Go("iSCSI", srv, func() error { return srv.Serve(il) })
		}
	}
	g.Go("HTTP", httpSrv, func() error { return httpSrv.Serve(hl) })
	p.log.Info("serving", "url", c.URL, "http", c.HTTP, "dhcp", c.DHCP, "state", c.State, "images", c.Images,
		"iscsi", c.ISCSI, "overlays", c.SAN.Overlays, "chap", c.SAN.CHAP != nil,
		"bootstrap", c.URL+"/bootstrap.ipxe", "admin", c.URL+"/admin/")
	return g.Wait(ctx, 5*time.Second)
}

// asRoot is how the pool runs with the privileges -dhcp proxy needs.
const asRoot = "go run -exec sudo . -dhcp proxy …, from examples/pool"
