package cow

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// refDisk is the in-memory reference disk.
type refDisk struct{ b []byte }

func (r *refDisk) write(p []byte, off int64) { copy(r.b[off:], p) }

func (r *refDisk) check(t *testing.T, got []byte, off int64, what string) {
	t.Helper()
	for i, g := range got {
		j := off + int64(i)
		if g != r.b[j] {
			require.Failf(t, "overlay differs from the reference", "%s: byte %d: got %#x, want %#x", what, j, g, r.b[j])
		}
	}
}

// TestModelRandomized drives an overlay and a reference disk with the same
// random reads, writes (aligned and not, spanning chunks), discards, syncs,
// reopenings and resets, and compares them after every read.
func TestModelRandomized(t *testing.T) {
	configs := []struct {
		name       string
		persistent bool
		cs         int64
		chunks     int64
		maxSize    int64
	}{
		{"persistent-512", true, 512, 300, 0},
		{"persistent-4k-quota", true, 4096, 120, 60 * 4096},
		{"persistent-64k", true, 65536, 24, 0},
		{"transient-1k", false, 1024, 200, 0},
		{"transient-1k-quota", false, 1024, 200, 30 * 1024},
	}
	ops := 1000
	if testing.Short() {
		ops = 300
	}
	for _, cfg := range configs {
		for seed := uint64(1); seed <= 2; seed++ {
			t.Run(fmt.Sprintf("%s/seed%d", cfg.name, seed), func(t *testing.T) {
				size := cfg.cs*cfg.chunks - 700 // a partial last chunk
				base, content := memBase(int(size), seed*7)
				ref := &refDisk{b: append([]byte(nil), content...)}
				opts := &Options{ChunkSize: cfg.cs, MaxSize: cfg.maxSize}
				path := filepath.Join(t.TempDir(), "cow")
				open := func() *Overlay {
					var o *Overlay
					var err error
					if cfg.persistent {
						o, err = Open(path, base, opts)
					} else {
						o, err = CreateTransient(t.TempDir(), base, opts)
					}
					require.NoError(t, err)
					return o
				}
				var o *Overlay
				var err error
				if cfg.persistent {
					o, err = Create(path, base, opts)
					require.NoError(t, err)
				} else {
					o = open()
				}
				defer func() { o.Close() }()
				rng := rand.New(rand.NewPCG(seed, 42))
				randRange := func() (int64, int) {
					n := 1 + rng.IntN(int(min(3*cfg.cs, size)))
					if rng.IntN(2) == 0 { // sector aligned, as a SCSI initiator does
						n = max(512, n/512*512)
						return rng.Int64N((size-int64(n))/512+1) * 512, n
					}
					return rng.Int64N(size - int64(n) + 1), n
				}
				fullErrs := 0
				for i := range ops {
					switch r := rng.IntN(100); {
					case r < 45:
						off, n := randRange()
						p := randomBytes(n, rng.Uint64())
						k, err := o.WriteAt(p, off)
						if cfg.maxSize > 0 && errors.Is(err, ErrFull) {
							fullErrs++
							require.Zero(t, k)
							continue // nothing written
						}
						require.NoError(t, err, "op %d write %d@%d", i, n, off)
						ref.write(p, off)
					case r < 85:
						off, n := randRange()
						got := make([]byte, n)
						k, err := o.ReadAt(got, off)
						require.NoError(t, err)
						require.Equal(t, n, k)
						ref.check(t, got, off, fmt.Sprintf("op %d read %d@%d", i, n, off))
					case r < 90:
						off, n := randRange()
						err := o.Discard(off, int64(n))
						if cfg.maxSize > 0 && errors.Is(err, ErrFull) {
							fullErrs++
							continue // nothing discarded
						}
						require.NoError(t, err, "op %d discard %d@%d", i, n, off)
						ref.write(make([]byte, n), off)
					case r < 95:
						require.NoError(t, o.Sync())
					case r < 99:
						require.NoError(t, o.Close())
						if !cfg.persistent {
							ref.b = append(ref.b[:0], content...)
						}
						o = open()
					default:
						require.NoError(t, o.Reset())
						ref.b = append(ref.b[:0], content...)
					}
				}
				ref.check(t, readAll(t, o), 0, "final")
				if cfg.maxSize > 0 {
					t.Logf("%d writes refused with ErrFull", fullErrs)
				}
			})
		}
	}
}
