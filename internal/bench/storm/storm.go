package storm

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/netbootkit/netboot/internal/bench/harness"
)

// Sizes and counts of the full-size run (the issue's) and of -quick.
const (
	kernelSize      = 48 << 20
	initrdSize      = 16 << 20
	quickDivisor    = 16
	rangeFirst      = "10.99.1.0"
	rangeLast       = "10.99.16.255" // 4096 addresses: every client of the 1000 storm twice over
	nbpDir          = "/usr/lib/ipxe"
	nbpName         = "undionly.kpxe"
	stormGroup      = "Boot storm"
	leaseTime       = "1h"
	clientRunLimit  = 25 * time.Minute
	serverReadyWait = 30 * time.Second
)

// Workloads returns the boot-storm workloads: storm-50, storm-200 and
// storm-1000 (quick: storm-10 and storm-30), each against our
// examples/minimal in lab mode and against dnsmasq + nginx.
func Workloads(cfg harness.Config) []harness.Workload {
	counts := []int{50, 200, 1000}
	if cfg.Quick {
		counts = []int{10, 30}
	}
	fs := &files{dir: filepath.Join(cfg.Dir, "storm"), quick: cfg.Quick}
	var ws []harness.Workload
	for _, n := range counts {
		ws = append(ws, workload(cfg, fs, n))
	}
	return ws
}

// Metrics of every storm workload; "last" is the headline.
var metrics = []harness.Metric{
	{Key: "last", Unit: "s"},
	{Key: "p50", Unit: "s"},
	{Key: "p95", Unit: "s"},
	{Key: "goodput", Unit: "MB/s", HigherIsBetter: true},
	{Key: "ok", Unit: "clients", HigherIsBetter: true},
	{Key: "dhcp-pxe_p95", Unit: "s"},
	{Key: "tftp_p95", Unit: "s"},
	{Key: "dhcp-ipxe_p95", Unit: "s"},
	{Key: "http_p95", Unit: "s"},
	{Key: "resent", Unit: "packets"},
	{Key: "naks", Unit: "restarts"},
	{Key: "srv_drops", Unit: "datagrams"},
}

// files are the boot files every subject serves, made once per run.
type files struct {
	dir   string
	quick bool

	once sync.Once
	err  error
	// want maps HTTP paths (/vmlinuz, /initrd.img) to their contents' checks.
	want map[string]want
	nbp  want
}

// make writes kernel and initrd (random bytes, so nothing compresses or
// dedups them), the peer's boot.ipxe and our default.ipxe, and checks the
// NBP.
func (f *files) make() error {
	f.once.Do(func() { f.err = f.build() })
	return f.err
}

func (f *files) build() error {
	www := filepath.Join(f.dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return err
	}
	div := int64(1)
	if f.quick {
		div = quickDivisor
	}
	f.want = map[string]want{}
	for name, size := range map[string]int64{"vmlinuz": kernelSize / div, "initrd.img": initrdSize / div} {
		p := filepath.Join(www, name)
		if err := writeRandom(p, size); err != nil {
			return err
		}
		w, err := fileWant(p)
		if err != nil {
			return err
		}
		f.want["/"+name] = w
	}
	script := "#!ipxe\nkernel http://" + serverIP.String() + "/vmlinuz console=ttyS0\ninitrd http://" + serverIP.String() + "/initrd.img\nboot\n"
	// Ours renders default.ipxe for every machine; the peer's DHCP names
	// boot.ipxe directly.
	for _, name := range []string{"default.ipxe", "boot.ipxe"} {
		if err := os.WriteFile(filepath.Join(www, name), []byte(script), 0o644); err != nil {
			return err
		}
	}
	nbp, err := fileWant(filepath.Join(nbpDir, nbpName))
	if err != nil {
		return err
	}
	f.nbp = nbp
	return nil
}

func writeRandom(path string, size int64) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = io.CopyN(out, rand.Reader, size)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// serverIP is the server namespace's address (harness.NewNet).
var serverIP = netip.MustParseAddr("10.99.0.1")

// storm is one workload's state between Setup and teardown.
type storm struct {
	cfg   harness.Config
	files *files
	n     int
	net   *harness.Net
	seq   int // Start calls, for fresh state directories
	// logFile is the running server's log, scanned for warnings after a run.
	logFile string
}

func workload(cfg harness.Config, fs *files, n int) harness.Workload {
	s := &storm{cfg: cfg, files: fs, n: n}
	kib := (kernelSize + initrdSize) >> 20
	if cfg.Quick {
		kib /= quickDivisor
	}
	timeout := 10 * time.Minute
	if n >= 1000 {
		timeout = 30 * time.Minute
	}
	return harness.Workload{
		ID:      fmt.Sprintf("storm-%d", n),
		Group:   stormGroup,
		Title:   fmt.Sprintf("%d clients: DHCP, TFTP %s, iPXE DHCP, HTTP script, %d MiB kernel+initrd", n, nbpName, kib),
		Metrics: metrics,
		Setup:   s.setup,
		Subjects: []harness.Subject{
			{Name: "netboot minimal", Ours: true, Check: checkOurs, Start: s.startOurs},
			{Name: "dnsmasq+nginx", Check: checkPeer, Start: s.startPeer},
		},
		Run:     s.run,
		Timeout: timeout,
	}
}

func checkNBP() error {
	if _, err := os.Stat(filepath.Join(nbpDir, nbpName)); err != nil {
		return fmt.Errorf("%s %w (Debian package ipxe)", filepath.Join(nbpDir, nbpName), harness.ErrMissing)
	}
	return nil
}

func checkOurs() error { return checkNBP() }

func checkPeer() error {
	if err := checkNBP(); err != nil {
		return err
	}
	if err := harness.Need("dnsmasq", "dnsmasq"); err != nil {
		return err
	}
	return harness.Need("nginx", "nginx-light")
}

func (s *storm) setup(ctx context.Context) (func(), error) {
	if err := s.files.make(); err != nil {
		return nil, fmt.Errorf("boot files: %w", err)
	}
	n, err := harness.NewNet(ctx)
	if err != nil {
		return nil, err
	}
	if n.ServerIP != serverIP {
		n.Close()
		return nil, fmt.Errorf("server namespace address %s, want %s", n.ServerIP, serverIP)
	}
	s.net = n
	if h := s.cfg.Host; h != nil {
		h.PeerVersion("dnsmasq", "dnsmasq-base")
		h.PeerVersion("nginx", "nginx-common")
		h.PeerVersion("ipxe", "ipxe")
	}
	return n.Close, nil
}

// stateDir returns a fresh directory for one server start (leases, logs,
// configs): every round starts with no leases.
func (s *storm) stateDir(name string) (string, error) {
	s.seq++
	d := filepath.Join(s.files.dir, fmt.Sprintf("%s-%d-%d", name, s.n, s.seq))
	if err := os.RemoveAll(d); err != nil {
		return "", err
	}
	return d, os.MkdirAll(d, 0o755)
}

// startOurs runs examples/minimal in lab mode: DHCP with a 4096-address
// range, TFTP of Debian's iPXE binaries, HTTP of -dir (default.ipxe,
// vmlinuz, initrd.img), with its crash-safe lease file.
func (s *storm) startOurs(ctx context.Context) (*harness.Server, error) {
	bin, err := harness.BuildOurs(ctx, "github.com/netbootkit/netboot/examples/minimal")
	if err != nil {
		return nil, err
	}
	st, err := s.stateDir("ours")
	if err != nil {
		return nil, err
	}
	// Its log (a line per DHCP answer, TFTP transfer and HTTP request) goes
	// to a file, as dnsmasq's and nginx's do: a pipe to this busy benchmark
	// process would stall the server whenever the pipe is full. exec keeps
	// the PID the server's.
	logFile := filepath.Join(st, "minimal.log")
	args := shellQuote([]string{bin,
		"-dhcp", "lab", "-iface", s.net.Iface, "-addr", serverIP.String(),
		"-range", rangeFirst + "-" + rangeLast, "-dir", filepath.Join(s.files.dir, "www"),
		"-ipxe", nbpDir, "-leases", filepath.Join(st, "leases"), "-http", ":80", "-tftp", ":69"})
	p, err := harness.StartProc(s.net.Server, nil, "sh", "-c", "exec "+args+" 2>"+shellQuote([]string{logFile}))
	if err != nil {
		return nil, err
	}
	s.logFile = logFile
	if err := s.ready(ctx, p); err != nil {
		p.Stop()
		b, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("minimal: %w\n%s", err, b)
	}
	return p.Server(serverIP.String(), func() { os.RemoveAll(st) }), nil
}

// startPeer runs the classic stack under one shell, so the harness samples
// both process trees as one: dnsmasq for DHCP and TFTP with the usual iPXE
// chainload configuration, nginx for HTTP.
func (s *storm) startPeer(ctx context.Context) (*harness.Server, error) {
	st, err := s.stateDir("peer")
	if err != nil {
		return nil, err
	}
	www := filepath.Join(s.files.dir, "www")
	dnsmasq := []string{"dnsmasq", "-k", "--conf-file=/dev/null", "--port=0", "--user=root", "--group=root",
		"--interface=" + s.net.Iface, "--bind-interfaces",
		"--dhcp-range=" + rangeFirst + "," + rangeLast + ",255.255.0.0," + leaseTime,
		"--dhcp-leasefile=" + filepath.Join(st, "dnsmasq.leases"), "--pid-file=",
		"--log-facility=" + filepath.Join(st, "dnsmasq.log"),
		// What a site expecting a storm sets: dnsmasq's defaults are 1000
		// leases and 50 TFTP transfers, and its ping before every offer
		// (our lab server does none) waits up to 3 s per address.
		"--dhcp-lease-max=65536", "--tftp-max=2048", "--no-ping",
		"--enable-tftp", "--tftp-root=" + nbpDir,
		// The iPXE chainload: PXE ROMs get undionly.kpxe over TFTP, iPXE
		// (user class "iPXE" or option 175) the HTTP script.
		"--dhcp-userclass=set:ipxe,iPXE", "--dhcp-match=set:ipxe,175",
		"--dhcp-boot=tag:!ipxe," + nbpName,
		"--dhcp-boot=tag:ipxe,http://" + serverIP.String() + "/boot.ipxe",
	}
	conf := filepath.Join(st, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(st, www)), 0o644); err != nil {
		return nil, err
	}
	sh := shellQuote(dnsmasq) + " & nginx -e " + shellQuote([]string{filepath.Join(st, "error.log")}) +
		" -c " + shellQuote([]string{conf}) + ` -g 'daemon off;' & wait`
	p, err := harness.StartProc(s.net.Server, nil, "sh", "-c", sh)
	if err != nil {
		return nil, err
	}
	s.logFile = ""
	if err := s.ready(ctx, p); err != nil {
		p.Stop()
		b, _ := os.ReadFile(filepath.Join(st, "error.log"))
		return nil, fmt.Errorf("dnsmasq+nginx: %w\n%s", err, b)
	}
	return p.Server(serverIP.String(), func() { os.RemoveAll(st) }), nil
}

// nginxConf is nginx serving www the way a boot server is set up: sendfile,
// two workers (one per CPU), connections for the storm.
func nginxConf(state, www string) string {
	return `user root root;
worker_processes auto;
worker_rlimit_nofile 16384;
pid ` + filepath.Join(state, "nginx.pid") + `;
events { worker_connections 8192; }
http {
	default_type application/octet-stream;
	access_log ` + filepath.Join(state, "access.log") + `;
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 65;
	client_body_temp_path ` + filepath.Join(state, "body") + `;
	proxy_temp_path ` + filepath.Join(state, "proxy") + `;
	fastcgi_temp_path ` + filepath.Join(state, "fastcgi") + `;
	uwsgi_temp_path ` + filepath.Join(state, "uwsgi") + `;
	scgi_temp_path ` + filepath.Join(state, "scgi") + `;
	server {
		listen ` + serverIP.String() + `:80 backlog=4096;
		root ` + www + `;
	}
}
`
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// ready waits until the server answers on HTTP and has bound DHCP and TFTP.
func (s *storm) ready(ctx context.Context, p *harness.Proc) error {
	ctx, cancel := context.WithTimeout(ctx, serverReadyWait)
	defer cancel()
	if err := p.WaitTCP(ctx, s.net.Client, serverIP.String()+":80"); err != nil {
		return err
	}
	if err := p.WaitUDPBound(ctx, 67); err != nil {
		return err
	}
	return p.WaitUDPBound(ctx, 69)
}

// result is one client's outcome.
type result struct {
	dur   time.Duration
	stage [len(stages)]time.Duration
	bytes int64
	err   error
}

// run starts n clients at once and waits for all of them.
func (s *storm) run(ctx context.Context, subject string, srv *harness.Server) (harness.Sample, error) {
	r, err := newRelay(s.net.Client, netip.AddrPortFrom(s.net.ClientIP, 67), netip.AddrPortFrom(serverIP, 67), harness.InNetns)
	if err != nil {
		return harness.Sample{}, err
	}
	defer r.Close()
	b := &boot{ns: s.net.Client, inNetns: harness.InNetns, local: s.net.ClientIP, relay: r,
		tftpPort: 69, nbp: s.files.nbp, files: s.files.want}
	ctx, cancel := context.WithTimeout(ctx, clientRunLimit)
	defer cancel()
	srvDrops0 := udpDrops(fmt.Sprintf("/proc/%d/net/snmp", srv.PID))
	cliDrops0 := s.clientDrops()
	res := make([]result, s.n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range s.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			var st [len(stages)]time.Duration
			n, err := b.run(ctx, newMachine(i), &st)
			res[i] = result{dur: time.Since(t0), stage: st, bytes: n, err: err}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	sample := summarize(res, wall)
	sample.Values["resent"] = float64(r.resent.Load() + b.TFTPResent.Load())
	sample.Values["naks"] = float64(r.restarts.Load())
	// Datagrams the kernel dropped because a socket's buffer was full: in
	// the server namespace (DHCP and TFTP requests the server never saw)
	// and, as a check on the clients, in the client namespace.
	sample.Values["srv_drops"] = float64(udpDrops(fmt.Sprintf("/proc/%d/net/snmp", srv.PID)) - srvDrops0)
	if d := s.clientDrops() - cliDrops0; d > 0 {
		sample.Note = strings.TrimPrefix(sample.Note+fmt.Sprintf("; %d datagrams dropped by client sockets", d), "; ")
	}
	r.mu.Lock()
	if r.stray > 0 {
		sample.Note = strings.TrimPrefix(sample.Note+fmt.Sprintf("; %d stray DHCP replies", r.stray), "; ")
	}
	r.mu.Unlock()
	if s.logFile != "" {
		if w := warnings(s.logFile); w != "" {
			sample.Note = strings.TrimPrefix(sample.Note+"; server: "+w, "; ")
		}
	}
	if sample.Note != "" && s.cfg.Logger != nil {
		s.cfg.Logger.Info("storm", "workload", fmt.Sprintf("storm-%d", s.n), "subject", subject, "note", sample.Note)
	}
	if ok := sample.Values["ok"]; ok == 0 {
		return sample, fmt.Errorf("%w: %s", errNoClients, sample.Note)
	}
	return sample, nil
}

// udpDrops reads a namespace's UDP RcvbufErrors counter from a
// /proc/…/net/snmp file (0 when unreadable).
func udpDrops(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return parseUDPDrops(string(b))
}

// parseUDPDrops finds Udp: RcvbufErrors in the text of /proc/net/snmp: a
// header line of names and a line of values, both starting "Udp:".
func parseUDPDrops(snmp string) int64 {
	var names []string
	for _, l := range strings.Split(snmp, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				var v int64
				if _, err := fmt.Sscan(f[i], &v); err == nil {
					return v
				}
			}
		}
		return 0
	}
	return 0
}

// clientDrops is udpDrops of the client namespace.
func (s *storm) clientDrops() int64 {
	var n int64
	_ = harness.InNetns(s.net.Client, func() error {
		n = udpDrops("/proc/thread-self/net/snmp")
		return nil
	})
	return n
}

// warnings counts the WARN and ERROR lines of our server's log and returns
// them with the first of each, or "".
func warnings(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	count := map[string]int{}
	first := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		for _, lv := range []string{"level=WARN", "level=ERROR"} {
			if strings.Contains(l, lv) {
				if count[lv]++; count[lv] == 1 {
					first[lv] = l
				}
			}
		}
	}
	var out []string
	for _, lv := range []string{"level=ERROR", "level=WARN"} {
		if count[lv] > 0 {
			l := first[lv]
			if len(l) > 200 {
				l = l[:200] + "…"
			}
			out = append(out, fmt.Sprintf("%d × %s (first: %s)", count[lv], lv, l))
		}
	}
	return strings.Join(out, "; ")
}

// summarize turns client results into a sample: time to the last finish,
// median and 95th percentile per-client times (of the clients that
// booted), goodput, and failures counted by reason in the note.
func summarize(res []result, wall time.Duration) harness.Sample {
	var durs []float64
	var stageDurs [len(stages)][]float64
	var bytes int64
	reasons := map[string]int{}
	var last time.Duration
	for _, r := range res {
		bytes += r.bytes
		last = max(last, r.dur)
		if r.err != nil {
			reasons[reason(r.err)]++
			continue
		}
		durs = append(durs, r.dur.Seconds())
		for i, d := range r.stage {
			stageDurs[i] = append(stageDurs[i], d.Seconds())
		}
	}
	last = min(last, wall)
	if last == 0 {
		last = wall
	}
	s := harness.Sample{Values: map[string]float64{
		"last":    last.Seconds(),
		"goodput": float64(bytes) / 1e6 / math.Max(wall.Seconds(), 1e-9),
		"ok":      float64(len(durs)),
	}}
	if len(durs) > 0 {
		s.Values["p50"] = percentile(durs, 50)
		s.Values["p95"] = percentile(durs, 95)
		for i, name := range stages {
			s.Values[name+"_p95"] = percentile(stageDurs[i], 95)
		}
	}
	for _, n := range reasons {
		s.Failures += n
	}
	var notes []string
	for _, k := range slices.Sorted(maps.Keys(reasons)) {
		notes = append(notes, fmt.Sprintf("%s=%d", k, reasons[k]))
	}
	if len(notes) > 0 {
		var example error
		for _, r := range res {
			if r.err != nil {
				example = r.err
				break
			}
		}
		s.Note = "failures " + strings.Join(notes, " ") + " (first: " + firstLine(example) + ")"
	}
	return s
}

func firstLine(err error) string {
	if err == nil {
		return ""
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// percentile returns the p-th percentile of vs (nearest rank), 0 for none.
func percentile(vs []float64, p float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// errNoClients is returned by run when not one client booted.
var errNoClients = errors.New("storm: no client booted")
