package diskload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/internal/bench/harness"
)

// cowCase is one cowload workload.
type cowCase struct {
	id, title, work string
	dsyncPeer       bool // also compare with the raw file opened O_DSYNC
	memory          bool // report the map's bytes per changed chunk
}

var cowCases = []cowCase{
	{id: "cow-read-unchanged", title: "reads of unchanged data (fresh overlay)", work: "read"},
	{id: "cow-first-write", title: "first writes (chunk copy + commit)", work: "first", dsyncPeer: true, memory: true},
	{id: "cow-second-write", title: "second writes (chunk already copied)", work: "second"},
}

func cowWorkloads(s *shared) []harness.Workload {
	var ws []harness.Workload
	for _, c := range cowCases {
		ws = append(ws, cowWorkload(s, c))
	}
	return ws
}

var resultLine = regexp.MustCompile(`(?m)^RESULT (\{.*\})$`)

func cowWorkload(s *shared, c cowCase) harness.Workload {
	var (
		base, raw, copied string
		round             atomic.Int64 // numbers the fresh overlay files
		procs             sync.Map     // *harness.Server → *harness.Proc, for Run
	)
	metrics := []harness.Metric{
		{Key: "seq_mbps", Unit: "MB/s (1 MiB seq)", HigherIsBetter: true},
		{Key: "rand_iops", Unit: "IOPS (4 KiB random)", HigherIsBetter: true},
	}
	if c.memory {
		metrics = append(metrics,
			harness.Metric{Key: "map_bytes_per_chunk", Unit: "B heap per changed chunk"},
			harness.Metric{Key: "seq_wamp", Unit: "× written per byte (seq)"},
			harness.Metric{Key: "rand_wamp", Unit: "× written per byte (random)"})
	}
	// start runs one cowload process on the given device.
	start := func(ctx context.Context, device, file string, cleanup ...func()) (*harness.Server, error) {
		bin, err := harness.BuildOurs(ctx, cowloadPkg)
		if err != nil {
			return nil, err
		}
		if err := flush(raw, copied); err != nil {
			return nil, err
		}
		p, err := harness.StartProc("", nil, bin, "-device", device, "-work", c.work,
			"-base", base, "-file", file, "-seconds", strconv.FormatFloat(s.p.seconds, 'f', -1, 64))
		if err != nil {
			return nil, err
		}
		// No address: Run reads the result from the process's output.
		srv := p.Server("", cleanup...)
		procs.Store(srv, p)
		return srv, nil
	}
	subjects := []harness.Subject{
		{
			Name: "netboot cow overlay", Ours: true,
			Start: func(ctx context.Context) (*harness.Server, error) {
				if c.work == "second" {
					return start(ctx, "overlay", copied)
				}
				f := filepath.Join(s.cfg.Dir, fmt.Sprintf("%s-%d.cow", c.id, round.Add(1)))
				return start(ctx, "overlay", f, func() { os.Remove(f) })
			},
		},
		{
			Name: "raw file",
			Start: func(ctx context.Context) (*harness.Server, error) {
				return start(ctx, "raw", raw)
			},
		},
	}
	if c.dsyncPeer {
		subjects = append(subjects, harness.Subject{
			Name: "raw file, O_DSYNC",
			Start: func(ctx context.Context) (*harness.Server, error) {
				return start(ctx, "raw-dsync", raw)
			},
		})
	}
	return harness.Workload{
		ID:       c.id,
		Group:    "COW",
		Title:    c.title,
		Metrics:  metrics,
		Subjects: subjects,
		Timeout:  time.Duration(s.p.seconds)*time.Second + 2*time.Minute,
		Setup: func(ctx context.Context) (func(), error) {
			var err error
			if base, err = s.image(ctx, "cow-base.img"); err != nil {
				return nil, err
			}
			if raw, err = s.rawCopy(ctx, base); err != nil {
				return nil, err
			}
			if c.work == "second" {
				copied = filepath.Join(s.cfg.Dir, c.id+".cow")
				if err := copiedOverlay(ctx, copied, base); err != nil {
					return nil, err
				}
				return func() { os.Remove(copied) }, nil
			}
			return nil, nil
		},
		Run: func(ctx context.Context, _ string, srv *harness.Server) (harness.Sample, error) {
			v, ok := procs.LoadAndDelete(srv)
			if !ok {
				return harness.Sample{}, errors.New("cowload: server not started by this workload")
			}
			p := v.(*harness.Proc)
			if err := p.WaitOutput(ctx, resultLine); err != nil {
				return harness.Sample{}, err
			}
			return ParseCowload(p.Output())
		},
	}
}

// rawCopy returns a writable copy of base, made once per run: the raw
// image the COW peers read and write.
func (s *shared) rawCopy(ctx context.Context, base string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.raw != "" {
		return s.raw, nil
	}
	dst := filepath.Join(s.cfg.Dir, "cow-raw.img")
	if err := copyImage(base, dst); err != nil {
		return "", err
	}
	s.raw = dst
	return dst, nil
}

// copiedOverlay makes an overlay of base at path whose every chunk has its
// own copy (the state second writes start from).
func copiedOverlay(ctx context.Context, path, basePath string) error {
	base, err := cow.OpenBase(basePath)
	if err != nil {
		return err
	}
	defer base.Close()
	o, err := cow.Create(path, base, nil)
	if err != nil {
		return err
	}
	buf := make([]byte, 4<<20)
	for off := int64(0); off < base.Size(); off += int64(len(buf)) {
		if ctx.Err() != nil {
			o.Close()
			return ctx.Err()
		}
		n, err := base.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			o.Close()
			return err
		}
		if _, err := o.WriteAt(buf[:n], off); err != nil {
			o.Close()
			return err
		}
	}
	if err := o.Close(); err != nil {
		return err
	}
	return warm(path)
}

// ParseCowload parses the "RESULT {json}" line cowload prints.
func ParseCowload(out string) (harness.Sample, error) {
	m := resultLine.FindStringSubmatch(out)
	if m == nil {
		return harness.Sample{}, fmt.Errorf("%w: no RESULT line in %q", ErrBadOutput, out)
	}
	var r struct {
		Values   map[string]float64 `json:"values"`
		Failures int                `json:"failures"`
	}
	if err := json.Unmarshal([]byte(m[1]), &r); err != nil {
		return harness.Sample{}, fmt.Errorf("%w: %w", ErrBadOutput, err)
	}
	if r.Failures < 0 || len(r.Values) == 0 {
		return harness.Sample{}, fmt.Errorf("%w: %q", ErrBadOutput, m[1])
	}
	return harness.Sample{Values: r.Values, Failures: r.Failures}, nil
}
