// Package harness runs the benchmark workloads of internal/bench: each
// workload against our server and against the peers a site would otherwise
// run, alternated round by round on the same machine in the same run, with
// the peak memory of every server process tree sampled while it works.
//
// A Workload names its metrics and its subjects (one per server
// implementation). For every round the harness visits the subjects in
// order (A B C, A B C, …): it starts the subject's server, samples the
// server's process tree for resident memory, drives the workload's clients
// against it (Workload.Run), stops the server and keeps the sample. The
// report gives, per workload and subject, the median of every metric over
// the rounds, the peak RSS, the failures, and the ratio ours/peer of the
// headline metric (the first one).
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"time"
)

// Metric describes one measured quantity. The first metric of a workload is
// its headline: the one the ours/peer ratio is computed on.
type Metric struct {
	// Key names the value in Sample.Values ("rate", "p50", "seconds").
	Key string `json:"key"`
	// Unit is shown in the report ("DORA/s", "ms", "MB/s", "s").
	Unit string `json:"unit"`
	// HigherIsBetter says which way is good (rates yes, times no).
	HigherIsBetter bool `json:"higher_is_better"`
}

// Sample is what one run of a workload against one subject measured.
type Sample struct {
	// Values holds a number per Metric.Key; absent keys are "not measured".
	Values map[string]float64 `json:"values"`
	// Failures counts client operations that failed (drops, timeouts,
	// checksum mismatches, error replies).
	Failures int `json:"failures"`
	// Note is free text kept with the sample (e.g. a peer's summary line).
	Note string `json:"note,omitempty"`
}

// Server is one started server under test. PID is the root of the process
// tree whose memory is sampled; 0 means nothing to sample (an in-process
// measurement).
type Server struct {
	// PID of the server process (its children are included in RSS).
	PID int
	// Addr is whatever the workload's clients need to reach the server.
	Addr string
	// Stop stops the server and releases what Start created. It must be
	// safe to call once, and must not return before the process is gone.
	Stop func() error
}

// Subject is one server implementation a workload runs against.
type Subject struct {
	// Name as shown in the report ("netboot", "tftpd-hpa", "kea").
	Name string
	// Ours marks this project's implementation; ratios are ours/peer.
	Ours bool
	// Check returns why the subject cannot run here (a missing binary, with
	// the Debian package to install), or nil.
	Check func() error
	// Start starts the server for one round.
	Start func(ctx context.Context) (*Server, error)
}

// Workload is one benchmark: clients driven against each subject in turn.
type Workload struct {
	// ID is a short stable identifier for -only and JSON ("tftp-512").
	ID string `json:"id"`
	// Group is the table section ("DHCP", "TFTP", "HTTP", "iSCSI", "COW",
	// "Boot storm").
	Group string `json:"group"`
	// Title says what is measured, for the report.
	Title string `json:"title"`
	// Metrics; the first is the headline.
	Metrics []Metric `json:"metrics"`
	// Setup, if set, runs once before the rounds (build files, create
	// namespaces); the returned teardown runs after them.
	Setup func(ctx context.Context) (teardown func(), err error) `json:"-"`
	// Subjects in the order they are alternated.
	Subjects []Subject `json:"-"`
	// Run drives the clients against a started server and measures.
	Run func(ctx context.Context, subject string, srv *Server) (Sample, error) `json:"-"`
	// Timeout bounds one run (start, clients, stop); 0 means 10 minutes.
	Timeout time.Duration `json:"-"`
}

// Result is the outcome of a workload for one subject over all rounds.
type Result struct {
	Workload string `json:"workload"`
	Subject  string `json:"subject"`
	Ours     bool   `json:"ours"`
	// Skipped says why the subject did not run (Check failed).
	Skipped string `json:"skipped,omitempty"`
	// Samples in round order; Errors holds the rounds that failed outright.
	Samples []Sample `json:"samples"`
	Errors  []string `json:"errors,omitempty"`
	// Median of every metric over the successful rounds.
	Median map[string]float64 `json:"median"`
	// PeakRSS is the largest resident memory of the server's process tree
	// seen in any round, in bytes (0: not sampled).
	PeakRSS int64 `json:"peak_rss_bytes"`
	// Failures summed over the rounds.
	Failures int `json:"failures"`
	// Ratio is ours/peer of the headline metric's medians (for the peers;
	// 0 for ours or when either side is missing).
	Ratio float64 `json:"ratio_ours_over_peer,omitempty"`
}

// Options control a run.
type Options struct {
	// Rounds per workload (at least 1; the issue asks for 3 or more).
	Rounds int
	// Logger receives progress; nil is silent.
	Logger *slog.Logger
}

// Report is everything one run measured.
type Report struct {
	Started   time.Time  `json:"started"`
	Host      HostInfo   `json:"host"`
	Rounds    int        `json:"rounds"`
	Workloads []Workload `json:"workloads"`
	Results   []Result   `json:"results"`
	Command   string     `json:"command"`
}

// Run runs every workload for opts.Rounds rounds, alternating subjects, and
// returns the report. A failing round is recorded, not fatal; ctx ends the
// run early (what was measured is kept).
func Run(ctx context.Context, ws []Workload, opts Options) *Report {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rounds := max(opts.Rounds, 1)
	rep := &Report{Started: time.Now().UTC(), Host: Host(), Rounds: rounds, Workloads: ws}
	for _, w := range ws {
		if ctx.Err() != nil {
			break
		}
		rep.Results = append(rep.Results, runWorkload(ctx, w, rounds, log)...)
	}
	return rep
}

func runWorkload(ctx context.Context, w Workload, rounds int, log *slog.Logger) []Result {
	res := make([]Result, len(w.Subjects))
	var runnable []int
	for i, s := range w.Subjects {
		res[i] = Result{Workload: w.ID, Subject: s.Name, Ours: s.Ours}
		if s.Check != nil {
			if err := s.Check(); err != nil {
				res[i].Skipped = err.Error()
				log.Warn("subject skipped", "workload", w.ID, "subject", s.Name, "why", err)
				continue
			}
		}
		runnable = append(runnable, i)
	}
	if w.Setup != nil {
		teardown, err := w.Setup(ctx)
		if err != nil {
			for i := range res {
				if res[i].Skipped == "" {
					res[i].Errors = append(res[i].Errors, "setup: "+err.Error())
				}
			}
			log.Error("workload setup failed", "workload", w.ID, "err", err)
			return res
		}
		if teardown != nil {
			defer teardown()
		}
	}
	for r := range rounds {
		for _, i := range runnable {
			if ctx.Err() != nil {
				break
			}
			s := w.Subjects[i]
			log.Info("run", "workload", w.ID, "subject", s.Name, "round", r+1, "of", rounds)
			sample, peak, err := runOnce(ctx, w, s)
			res[i].PeakRSS = max(res[i].PeakRSS, peak)
			if err != nil {
				res[i].Errors = append(res[i].Errors, fmt.Sprintf("round %d: %v", r+1, err))
				log.Error("run failed", "workload", w.ID, "subject", s.Name, "round", r+1, "err", err)
				continue
			}
			res[i].Samples = append(res[i].Samples, sample)
			res[i].Failures += sample.Failures
			log.Info("measured", "workload", w.ID, "subject", s.Name, "round", r+1,
				"values", sample.Values, "failures", sample.Failures, "peak_rss_mib", float64(peak)/(1<<20))
		}
	}
	for i := range res {
		res[i].Median = medians(res[i].Samples)
	}
	if len(w.Metrics) > 0 {
		key := w.Metrics[0].Key
		var ours float64
		for _, r := range res {
			if r.Ours {
				ours = r.Median[key]
			}
		}
		for i := range res {
			if p := res[i].Median[key]; !res[i].Ours && ours > 0 && p > 0 {
				res[i].Ratio = ours / p
			}
		}
	}
	return res
}

// runOnce starts the subject, samples its memory while the workload runs,
// and stops it.
func runOnce(ctx context.Context, w Workload, s Subject) (Sample, int64, error) {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	srv, err := s.Start(ctx)
	if err != nil {
		return Sample{}, 0, fmt.Errorf("start %s: %w", s.Name, err)
	}
	var mon *Monitor
	if srv.PID > 0 {
		mon = Watch(srv.PID, 50*time.Millisecond)
	}
	sample, runErr := w.Run(ctx, s.Name, srv)
	var peak int64
	if mon != nil {
		peak = mon.Stop()
	}
	stopErr := srv.Stop()
	if runErr != nil {
		return sample, peak, runErr
	}
	if stopErr != nil {
		return sample, peak, fmt.Errorf("stop %s: %w", s.Name, stopErr)
	}
	return sample, peak, nil
}

func medians(ss []Sample) map[string]float64 {
	keys := map[string][]float64{}
	for _, s := range ss {
		for k, v := range s.Values {
			keys[k] = append(keys[k], v)
		}
	}
	out := make(map[string]float64, len(keys))
	for k, vs := range keys {
		out[k] = Median(vs)
	}
	return out
}

// Median returns the median of vs (the mean of the middle two for an even
// count), or 0 for none.
func Median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ErrMissing is wrapped by Check errors for a peer that is not installed.
var ErrMissing = errors.New("not installed")

// Config is what the runner passes to every workload package.
type Config struct {
	// Quick shrinks sizes and client counts (a smoke run of every
	// workload in a few minutes); the published table uses full sizes.
	Quick bool
	// Dir is a scratch directory for files, configs and leases; the runner
	// removes it at the end.
	Dir string
	// Host collects peer versions for the report.
	Host *HostInfo
	// Logger for progress; never nil.
	Logger *slog.Logger
}
