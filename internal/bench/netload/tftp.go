package netload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/netbootkit/netboot/internal/bench/harness"
)

// ErrChecksum is returned when a transfer's content differs from the file.
var ErrChecksum = errors.New("content mismatch")

// netEnv is what a TFTP or HTTP workload's Setup prepares: the two
// namespaces and the served directory with its files.
type netEnv struct {
	net   *harness.Net
	dir   string // scratch for this workload
	root  string // the served directory (world-readable)
	files []file
}

// setupNet creates the namespaces (with the given MTU on the link when
// non-zero) and writes the files into a served directory.
func setupNet(cfg harness.Config, env *netEnv, id string, mtu int, files []file) func(ctx context.Context) (func(), error) {
	return func(ctx context.Context) (func(), error) {
		n, err := harness.NewNet(ctx)
		if err != nil {
			return nil, err
		}
		fail := func(err error) (func(), error) { n.Close(); return nil, err }
		if mtu > 0 {
			for _, ns := range []string{n.Server, n.Client} {
				if out, err := exec.CommandContext(ctx, "ip", "-n", ns, "link", "set", n.Iface, "mtu", strconv.Itoa(mtu)).CombinedOutput(); err != nil {
					return fail(fmt.Errorf("set mtu %d: %w: %s", mtu, err, out))
				}
			}
		}
		env.net = n
		if env.dir, err = scratch(cfg.Dir, id); err != nil {
			return fail(err)
		}
		if env.root, err = publicDir(env.dir, "root"); err != nil {
			return fail(err)
		}
		env.files = env.files[:0]
		for i, f := range files {
			w, err := writeFile(env.root, f.name, f.size, uint64(i+1))
			if err != nil {
				return fail(err)
			}
			env.files = append(env.files, w)
		}
		return func() { n.Close(); os.RemoveAll(env.dir) }, nil
	}
}

func tftpSubjects(env *netEnv) []harness.Subject {
	return []harness.Subject{
		{Name: "netboot", Ours: true, Start: func(ctx context.Context) (*harness.Server, error) { return startMinimalFiles(ctx, env, 69) }},
		{Name: "tftpd-hpa", Check: func() error { return harness.Need("in.tftpd", "tftpd-hpa") }, Start: func(ctx context.Context) (*harness.Server, error) {
			// -L: foreground; -s: chroot to the root; it forks one child per
			// transfer (the process tree's memory is counted).
			return startUDP(ctx, "tftpd-hpa", env.net.Server, nil, 69, func() {}, "in.tftpd", "-L", "-s", env.root, "-a", env.net.ServerIP.String()+":69")
		}},
		{Name: "dnsmasq", Check: func() error { return harness.Need("dnsmasq", "dnsmasq") }, Start: func(ctx context.Context) (*harness.Server, error) {
			// TFTP only (--port=0 turns DNS off, no dhcp-range); the
			// default 50 concurrent transfers is raised for the storm.
			return startUDP(ctx, "dnsmasq", env.net.Server, nil, 69, func() {}, "dnsmasq", "-k", "--conf-file=/dev/null", "--port=0",
				"--enable-tftp", "--tftp-root="+env.root, "--listen-address="+env.net.ServerIP.String(), "--bind-interfaces",
				"--tftp-max=1000", "--quiet-tftp", "--user=root", "--log-facility=-", "--pid-file="+filepath.Join(env.dir, "dnsmasq.pid"))
		}},
		{Name: "atftpd", Check: func() error { _, err := atftpdPath(); return err }, Start: func(ctx context.Context) (*harness.Server, error) {
			// Standalone, not forking; one thread per transfer, up to 1000.
			bin, err := atftpdPath()
			if err != nil {
				return nil, err
			}
			return startUDP(ctx, "atftpd", env.net.Server, nil, 69, func() {}, bin, "--daemon", "--no-fork", "--user", "root.root",
				"--bind-address", env.net.ServerIP.String(), "--port", "69", "--logfile", "-", "--maxthread", "1000", env.root)
		}},
	}
}

// startMinimalFiles runs examples/minimal with DHCP off, serving the root
// directory over TFTP and HTTP (only the listener the workload uses
// matters; the other one idles).
func startMinimalFiles(ctx context.Context, env *netEnv, waitUDP int) (*harness.Server, error) {
	bin, err := harness.BuildOurs(ctx, minimalPkg)
	if err != nil {
		return nil, err
	}
	ip := env.net.ServerIP.String()
	args := []string{"-dhcp", "off", "-iface", env.net.Iface, "-addr", ip, "-dir", env.root,
		"-http", ip + ":80", "-tftp", ip + ":69"}
	if waitUDP > 0 {
		return startUDP(ctx, "netboot", env.net.Server, nil, waitUDP, func() {}, bin, args...)
	}
	return startTCP(ctx, "netboot", env, bin, args...)
}

func tftpWorkloads(cfg harness.Config, p params) []harness.Workload {
	var ws []harness.Workload
	for _, bs := range []int{512, 1468, 65464} {
		env := &netEnv{}
		mtu := 0
		if bs > 1468 {
			mtu = 65535 // a 65464-byte block needs 65496 bytes of IP packet
		}
		ws = append(ws, harness.Workload{
			ID: "tftp-" + strconv.Itoa(bs), Group: "TFTP",
			Title:    fmt.Sprintf("%s file, blksize %d (curl)", mib(p.big), bs),
			Metrics:  []harness.Metric{{Key: "rate", Unit: "MB/s", HigherIsBetter: true}, {Key: "seconds", Unit: "s"}},
			Setup:    setupNet(cfg, env, "tftp"+strconv.Itoa(bs), mtu, []file{{name: "big.bin", size: p.big}}),
			Subjects: tftpSubjects(env),
			Timeout:  15 * time.Minute,
			Run: func(ctx context.Context, subject string, srv *harness.Server) (harness.Sample, error) {
				url := "tftp://" + env.net.ServerIP.String() + "/" + env.files[0].name
				return fetchOne(ctx, env, env.files[0], "curl", "-sS", "--max-time", "600", "--tftp-blksize", strconv.Itoa(bs), "-o", "-", url)
			},
		})
	}
	// The windowed reference: atftp's client asks for windowsize 16 (RFC
	// 7440); servers without it (tftpd-hpa, dnsmasq, ours: pin/tftp only
	// has its own send-ahead) answer without the option and run lock-step.
	wenv := &netEnv{}
	ws = append(ws, harness.Workload{
		ID: "tftp-window16", Group: "TFTP",
		Title:    fmt.Sprintf("%s file, blksize 1468, windowsize 16 requested (atftp)", mib(p.big)),
		Metrics:  []harness.Metric{{Key: "rate", Unit: "MB/s", HigherIsBetter: true}, {Key: "seconds", Unit: "s"}},
		Setup:    setupNet(cfg, wenv, "tftpwin", 0, []file{{name: "big.bin", size: p.big}}),
		Subjects: withCheck(tftpSubjects(wenv), func() error { return harness.Need("atftp", "atftp") }),
		Timeout:  15 * time.Minute,
		Run: func(ctx context.Context, subject string, srv *harness.Server) (harness.Sample, error) {
			out := filepath.Join(wenv.dir, "atftp.out")
			defer os.Remove(out)
			f := wenv.files[0]
			start := time.Now()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			defer cancel()
			b, err := harness.Command(cctx, wenv.net.Client, "atftp", "--get", "-r", f.name, "-l", out,
				"--option", "blksize 1468", "--option", "windowsize 16", wenv.net.ServerIP.String(), "69").CombinedOutput()
			el := time.Since(start)
			if err != nil {
				return harness.Sample{}, fmt.Errorf("atftp: %w: %s", err, tail(string(b), 500))
			}
			if err := checkFile(out, f); err != nil {
				return harness.Sample{Failures: 1}, err
			}
			return harness.Sample{Values: map[string]float64{"rate": float64(f.size) / el.Seconds() / 1e6, "seconds": el.Seconds()}}, nil
		},
	})
	senv := &netEnv{}
	ws = append(ws, harness.Workload{
		ID: "tftp-storm", Group: "TFTP",
		Title: fmt.Sprintf("storm: %d clients at once, %s each, blksize 1468 (pin/tftp client)", p.clients, mib(p.storm)),
		Metrics: []harness.Metric{
			{Key: "seconds", Unit: "s (last done)"},
			{Key: "rate", Unit: "MB/s aggregate", HigherIsBetter: true},
		},
		Setup:    setupNet(cfg, senv, "tftpstorm", 0, []file{{name: "storm.bin", size: p.storm}}),
		Subjects: tftpSubjects(senv),
		Timeout:  15 * time.Minute,
		Run: func(ctx context.Context, subject string, srv *harness.Server) (harness.Sample, error) {
			return runStorm(ctx, senv, "tftp", "-addr", senv.net.ServerIP.String()+":69", "-blksize", "1468",
				"-clients", strconv.Itoa(p.clients), "-file", senv.files[0].name+"="+senv.files[0].sha256)
		},
	})
	return ws
}

// withCheck adds a requirement (the workload's client) to every subject.
func withCheck(ss []harness.Subject, need func() error) []harness.Subject {
	for i := range ss {
		check := ss[i].Check
		ss[i].Check = func() error {
			if err := need(); err != nil {
				return err
			}
			if check != nil {
				return check()
			}
			return nil
		}
	}
	return ss
}

// fetchOne runs one client process in the client namespace with the file
// on its stdout, hashing it as it arrives, and times it.
func fetchOne(ctx context.Context, env *netEnv, f file, prog string, args ...string) (harness.Sample, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := harness.Command(cctx, env.net.Client, prog, args...)
	h := sha256.New()
	cw := &counter{w: h}
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = cw, &stderr
	start := time.Now()
	err := cmd.Run()
	el := time.Since(start)
	if err != nil {
		return harness.Sample{}, fmt.Errorf("%s: %w: %s", prog, err, tail(stderr.String(), 500))
	}
	if got := hex.EncodeToString(h.Sum(nil)); cw.n != f.size || got != f.sha256 {
		return harness.Sample{Failures: 1}, fmt.Errorf("%w: %d of %d bytes", ErrChecksum, cw.n, f.size)
	}
	return harness.Sample{Values: map[string]float64{"rate": float64(f.size) / el.Seconds() / 1e6, "seconds": el.Seconds()}}, nil
}

func checkFile(path string, f file) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return err
	}
	if n != f.size || hex.EncodeToString(h.Sum(nil)) != f.sha256 {
		return fmt.Errorf("%w: %d of %d bytes", ErrChecksum, n, f.size)
	}
	return nil
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}

// stormResult is netloadclient's JSON line.
type stormResult struct {
	Clients    int     `json:"clients"`
	Seconds    float64 `json:"seconds"`
	Bytes      int64   `json:"bytes"`
	Failures   int     `json:"failures"`
	FirstError string  `json:"first_error"`
}

// parseStorm reads netloadclient's last output line.
func parseStorm(out []byte) (stormResult, error) {
	var r stormResult
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return r, fmt.Errorf("netloadclient output: %w", err)
	}
	if r.Clients <= 0 || r.Seconds <= 0 || r.Bytes < 0 || r.Failures < 0 || r.Failures > r.Clients {
		return r, fmt.Errorf("netloadclient output: implausible %+v", r)
	}
	return r, nil
}

// runStorm runs netloadclient in the client namespace.
func runStorm(ctx context.Context, env *netEnv, args ...string) (harness.Sample, error) {
	bin, err := harness.BuildOurs(ctx, clientPkg)
	if err != nil {
		return harness.Sample{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, 12*time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd := harness.Command(cctx, env.net.Client, bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return harness.Sample{}, fmt.Errorf("netloadclient: %w: %s", err, tail(stderr.String(), 500))
	}
	r, err := parseStorm(out)
	if err != nil {
		return harness.Sample{}, err
	}
	s := harness.Sample{
		Values:   map[string]float64{"seconds": r.Seconds, "rate": float64(r.Bytes) / r.Seconds / 1e6},
		Failures: r.Failures,
	}
	if r.FirstError != "" {
		s.Note = "first failure: " + r.FirstError
	}
	return s, nil
}

// atftpdCache is where atftpd is looked for (under the user's cache
// directory) when it is not on PATH: Debian's atftpd conflicts with
// tftpd-hpa, so a machine that has tftpd-hpa installed gets atftpd
// unpacked from its .deb instead (see the package documentation).
const atftpdCache = "netboot-bench/atftpd/usr/sbin/atftpd"

// atftpdPath finds atftpd: on PATH, else unpacked under the cache
// directory.
func atftpdPath() (string, error) {
	if p, err := exec.LookPath("atftpd"); err == nil {
		return p, nil
	}
	if c, err := os.UserCacheDir(); err == nil {
		p := filepath.Join(c, atftpdCache)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("atftpd %w (Debian package atftpd; it conflicts with tftpd-hpa, so unpack it: "+
		"apt-get download atftpd && dpkg-deb -x atftpd_*.deb ~/.cache/netboot-bench/atftpd)", harness.ErrMissing)
}
