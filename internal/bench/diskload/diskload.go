package diskload

import (
	"context"
	_ "embed"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"

	"github.com/netbootkit/netboot/internal/bench/harness"
)

// Full-size parameters; Config.Quick divides sizes by 16 and shortens the
// durations.
const (
	imageSize    = 1 << 30 // iSCSI LUN and COW base image
	runSeconds   = 10      // one loadgen run, one cowload run (two phases)
	quickSeconds = 1
)

// Our programs, built once per run by harness.BuildOurs (import paths, so
// they build from any working directory inside the module).
const (
	targetPkg  = "github.com/netbootkit/netboot/examples/target"
	cowloadPkg = "github.com/netbootkit/netboot/internal/bench/cmd/cowload"
)

//go:embed loadgen/loadgen.c
var loadgenSource []byte

// params are the sizes one run uses.
type params struct {
	image   int64
	seconds float64
}

func paramsFor(cfg harness.Config) params {
	if cfg.Quick {
		return params{image: imageSize / 16, seconds: quickSeconds}
	}
	return params{image: imageSize, seconds: runSeconds}
}

// Workloads returns the iSCSI and COW workloads.
func Workloads(cfg harness.Config) []harness.Workload {
	s := &shared{cfg: cfg, p: paramsFor(cfg)}
	if cfg.Host != nil {
		cfg.Host.PeerVersion("tgtd", "tgt")
		cfg.Host.PeerVersion("libiscsi (load client)", "libiscsi-dev")
	}
	return append(iscsiWorkloads(s), cowWorkloads(s)...)
}

// shared holds what several workloads of one run use, made on first need.
type shared struct {
	cfg harness.Config
	p   params

	mu      sync.Mutex
	images  map[string]string // name → path of a filled image
	loadgen string            // compiled load client
	raw     string            // writable copy of the COW base
}

// image returns the path of a file of p.image bytes in cfg.Dir filled with
// pseudo-random data (incompressible, no holes), written once per run,
// flushed to disk (so write-back of the setup does not disturb the first
// round) and read once so it sits in the page cache for every subject.
func (s *shared) image(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.images[name]; ok {
		return p, nil
	}
	path := filepath.Join(s.cfg.Dir, name)
	if err := fillImage(ctx, path, s.p.image, uint64(len(s.images))+1); err != nil {
		return "", err
	}
	if s.images == nil {
		s.images = map[string]string{}
	}
	s.images[name] = path
	return path, nil
}

func fillImage(ctx context.Context, path string, size int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rng := rand.NewChaCha8([32]byte{byte(seed)})
	buf := make([]byte, 4<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		_, _ = rng.Read(buf)
		n := min(int64(len(buf)), size-off)
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return fmt.Errorf("fill %s: %w", path, err)
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return warm(path)
}

// warm reads a file once so that it is in the page cache.
func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 4<<20)
	for off := int64(0); ; off += int64(len(buf)) {
		n, err := f.ReadAt(buf, off)
		if n < len(buf) || err != nil {
			return nil
		}
	}
}

// copyImage copies src to dst (a raw image the COW peers write to) and
// flushes and warms it like image.
func copyImage(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	buf := make([]byte, 4<<20)
	for off := int64(0); ; off += int64(len(buf)) {
		n, rerr := in.ReadAt(buf, off)
		if n > 0 {
			if _, err := out.WriteAt(buf[:n], off); err != nil {
				return err
			}
		}
		if rerr != nil || n < len(buf) {
			break
		}
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return warm(dst)
}

// flush writes the dirty pages of the files back to disk (fsync) before a
// subject starts, so no subject pays for the write-back of the one before
// it; the pages stay in the page cache.
func flush(paths ...string) error {
	for _, p := range paths {
		if p == "" {
			continue
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("flush %s: %w", p, err)
		}
	}
	return nil
}
