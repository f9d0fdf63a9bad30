package diskload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/netbootkit/netboot/internal/bench/harness"
)

// IQNs of the two targets; tgtd serves the file as LUN 1 (LUN 0 is its
// controller), ours as LUN 0.
const (
	ourIQN    = "iqn.2026-01.org.netboot:bench"
	tgtdIQN   = "iqn.2026-01.org.netboot:bench-tgtd"
	iscsiPort = 3260
)

// iscsiCase is one loadgen workload.
type iscsiCase struct {
	id, title string
	mode      string // loadgen MODE
	bs, qd    int
}

var iscsiCases = []iscsiCase{
	{"iscsi-seq-read", "sequential 1 MiB read, QD1", "seqread", 1 << 20, 1},
	{"iscsi-seq-write", "sequential 1 MiB write, QD1", "seqwrite", 1 << 20, 1},
	{"iscsi-rand-read-qd1", "random 4 KiB read, QD1", "randread", 4096, 1},
	{"iscsi-rand-write-qd1", "random 4 KiB write, QD1", "randwrite", 4096, 1},
	{"iscsi-rand-read-qd32", "random 4 KiB read, QD32", "randread", 4096, 32},
	{"iscsi-rand-write-qd32", "random 4 KiB write, QD32", "randwrite", 4096, 32},
}

// needLoadgen says why the load client cannot be built here, or nil.
func needLoadgen() error {
	if err := harness.Need("gcc", "gcc"); err != nil {
		return err
	}
	if _, err := os.Stat("/usr/include/iscsi/iscsi.h"); err != nil {
		return fmt.Errorf("libiscsi headers %w (Debian package libiscsi-dev)", harness.ErrMissing)
	}
	return nil
}

// buildLoadgen compiles the embedded load client once per run.
func (s *shared) buildLoadgen(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadgen != "" {
		return s.loadgen, nil
	}
	src := filepath.Join(s.cfg.Dir, "loadgen.c")
	if err := os.WriteFile(src, loadgenSource, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(s.cfg.Dir, "loadgen")
	if out, err := exec.CommandContext(ctx, "gcc", "-O2", "-o", bin, src, "-liscsi").CombinedOutput(); err != nil {
		return "", fmt.Errorf("gcc loadgen: %w\n%s", err, out)
	}
	s.loadgen = bin
	return bin, nil
}

func iscsiWorkloads(s *shared) []harness.Workload {
	var ws []harness.Workload
	for _, c := range iscsiCases {
		ws = append(ws, iscsiWorkload(s, c))
	}
	return ws
}

func iscsiWorkload(s *shared, c iscsiCase) harness.Workload {
	var (
		net     *harness.Net
		img     string
		loadgen string
	)
	metrics := []harness.Metric{
		{Key: "MB/s", Unit: "MB/s", HigherIsBetter: true},
		{Key: "IOPS", Unit: "IOPS", HigherIsBetter: true},
		{Key: "lat_avg", Unit: "µs"},
		{Key: "lat_p99", Unit: "µs"},
	}
	if c.bs == 4096 {
		metrics[0], metrics[1] = metrics[1], metrics[0]
	}
	check := func(progs ...[2]string) func() error {
		return func() error {
			if err := needLoadgen(); err != nil {
				return err
			}
			for _, p := range progs {
				if err := harness.Need(p[0], p[1]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return harness.Workload{
		ID:      c.id,
		Group:   "iSCSI",
		Title:   c.title,
		Metrics: metrics,
		Timeout: time.Duration(s.p.seconds)*time.Second + 2*time.Minute,
		Setup: func(ctx context.Context) (func(), error) {
			var err error
			if loadgen, err = s.buildLoadgen(ctx); err != nil {
				return nil, err
			}
			if img, err = s.image(ctx, "lun.img"); err != nil {
				return nil, err
			}
			if net, err = harness.NewNet(ctx); err != nil {
				return nil, err
			}
			return net.Close, nil
		},
		Subjects: []harness.Subject{
			{
				Name: "netboot", Ours: true, Check: check(),
				Start: func(ctx context.Context) (*harness.Server, error) {
					if err := flush(img); err != nil {
						return nil, err
					}
					return startOurTarget(ctx, net, img)
				},
			},
			{
				Name: "tgtd", Check: check([2]string{"tgtd", "tgt"}, [2]string{"tgtadm", "tgt"}),
				Start: func(ctx context.Context) (*harness.Server, error) {
					if err := flush(img); err != nil {
						return nil, err
					}
					return startTgtd(ctx, net, img)
				},
			},
		},
		Run: func(ctx context.Context, _ string, srv *harness.Server) (harness.Sample, error) {
			cmd := harness.Command(ctx, net.Client, loadgen, srv.Addr, c.mode,
				strconv.Itoa(c.bs), strconv.Itoa(c.qd), "0", strconv.FormatFloat(s.p.seconds, 'f', -1, 64))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			runErr := cmd.Run()
			r, perr := ParseLoadgen(stdout.String())
			if perr != nil {
				return harness.Sample{}, fmt.Errorf("loadgen: %v: %w: %s", runErr, perr, strings.TrimSpace(stderr.String()))
			}
			sample := r.Sample(c.bs)
			if r.Errors > 0 {
				sample.Note = strings.TrimSpace(stderr.String())
			}
			return sample, nil
		},
	}
}

// startOurTarget runs examples/target in the server namespace, serving img.
func startOurTarget(ctx context.Context, net *harness.Net, img string) (*harness.Server, error) {
	bin, err := harness.BuildOurs(ctx, targetPkg)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("%s:%d", net.ServerIP, iscsiPort)
	p, err := harness.StartProc(net.Server, nil, bin, "-name", ourIQN, "-lun", img, "-listen", addr)
	if err != nil {
		return nil, err
	}
	if err := p.WaitTCP(ctx, net.Client, addr); err != nil {
		p.Stop()
		return nil, err
	}
	return p.Server(fmt.Sprintf("iscsi://%s/%s/0", addr, ourIQN)), nil
}

// startTgtd runs tgtd in the foreground in the server namespace with its
// own control port (its management socket is an abstract Unix socket, so
// tgtadm runs in the same namespace) and configures one target with img as
// LUN 1, the rdwr backing store (buffered pread/pwrite, like ours) and its
// default write cache.
func startTgtd(ctx context.Context, net *harness.Net, img string) (*harness.Server, error) {
	addr := fmt.Sprintf("%s:%d", net.ServerIP, iscsiPort)
	ctl := strconv.Itoa(20000 + rand.IntN(10000))
	p, err := harness.StartProc(net.Server, nil, "tgtd", "-f", "-C", ctl, "--iscsi", "portal="+addr)
	if err != nil {
		return nil, err
	}
	adm := func(ctx context.Context, args ...string) error {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		out, err := harness.Command(ctx, net.Server, "tgtadm", append([]string{"-C", ctl, "--lld", "iscsi"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("tgtadm %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	stop := func() error {
		// tgtd ignores SIGTERM while it has targets: remove them first.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = adm(ctx, "--op", "delete", "--mode", "target", "--tid", "1", "--force")
		if !p.Exited() {
			_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
		}
		return p.Stop()
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for adm(wctx, "--op", "show", "--mode", "target") != nil {
		if p.Exited() || wctx.Err() != nil {
			stop()
			return nil, fmt.Errorf("tgtd did not start: %s", p.Output())
		}
		select {
		case <-wctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, args := range [][]string{
		{"--op", "new", "--mode", "target", "--tid", "1", "-T", tgtdIQN},
		{"--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", img},
		{"--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"},
	} {
		if err := adm(ctx, args...); err != nil {
			stop()
			return nil, err
		}
	}
	if err := p.WaitTCP(ctx, net.Client, addr); err != nil {
		stop()
		return nil, err
	}
	return &harness.Server{PID: p.PID(), Addr: fmt.Sprintf("iscsi://%s/%s/1", addr, tgtdIQN), Stop: stop}, nil
}

// LoadgenResult is one line of the load client's output.
type LoadgenResult struct {
	Ops     int64   // commands completed
	Seconds float64 // wall time, first submission to last completion
	AvgUS   float64 // mean latency, µs
	P99US   float64 // 99th percentile latency, µs
	Errors  int64   // commands that did not end GOOD
}

// ErrBadOutput reports load client output that cannot be parsed.
var ErrBadOutput = errors.New("diskload: unparsable load client output")

// ParseLoadgen parses the last non-empty line of the load client's output,
// "ops seconds lat_avg_us lat_p99_us errors".
func ParseLoadgen(out string) (LoadgenResult, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) != 5 {
		return LoadgenResult{}, fmt.Errorf("%w: %q", ErrBadOutput, out)
	}
	var r LoadgenResult
	var errs [5]error
	r.Ops, errs[0] = strconv.ParseInt(f[0], 10, 64)
	r.Seconds, errs[1] = strconv.ParseFloat(f[1], 64)
	r.AvgUS, errs[2] = strconv.ParseFloat(f[2], 64)
	r.P99US, errs[3] = strconv.ParseFloat(f[3], 64)
	r.Errors, errs[4] = strconv.ParseInt(f[4], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return LoadgenResult{}, fmt.Errorf("%w: %q: %w", ErrBadOutput, out, err)
	}
	if r.Ops < 0 || r.Errors < 0 || r.Errors > r.Ops || !finite(r.Seconds) || r.Seconds <= 0 ||
		!finite(r.AvgUS) || r.AvgUS < 0 || !finite(r.P99US) || r.P99US < 0 {
		return LoadgenResult{}, fmt.Errorf("%w: %q: values out of range", ErrBadOutput, out)
	}
	return r, nil
}

// Sample turns a result into harness values for commands of bs bytes:
// IOPS, MB/s (10^6 bytes), latency average and p99 in µs; failed commands
// are failures and are not counted as throughput.
func (r LoadgenResult) Sample(bs int) harness.Sample {
	good := float64(r.Ops - r.Errors)
	return harness.Sample{
		Values: map[string]float64{
			"IOPS":    good / r.Seconds,
			"MB/s":    good * float64(bs) / 1e6 / r.Seconds,
			"lat_avg": r.AvgUS,
			"lat_p99": r.P99US,
		},
		Failures: int(r.Errors),
	}
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
