package cow

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks compare an overlay with the raw base file in the same run.
// Run: go test -run '^$' -bench . -benchtime 2s ./cow
//
// Targets: "raw" reads/writes the image file directly; "fresh" is an
// overlay with no copied chunks (reads come from the base; every write
// copies a chunk); "copied" is an overlay whose every chunk has been copied
// (reads and writes go to the overlay file in place). wamp is the write
// amplification: bytes written to the overlay file (data + metadata) per
// byte written by the caller.

const benchBaseSize = 64 << 20

type benchEnv struct {
	dir      string
	basePath string
	base     *Base
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	dir := b.TempDir()
	e := &benchEnv{dir: dir, basePath: filepath.Join(dir, "base.img")}
	f, err := os.Create(e.basePath)
	if err != nil {
		b.Fatal(err)
	}
	chunk := randomBytes(1<<20, 1)
	for off := int64(0); off < benchBaseSize; off += 1 << 20 {
		chunk[0] = byte(off >> 20)
		if _, err := f.WriteAt(chunk, off); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	if e.base, err = OpenBase(e.basePath); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.base.Close() })
	return e
}

// overlay returns a persistent overlay, fully copied if copied is set.
func (e *benchEnv) overlay(b *testing.B, cs int64, copied bool) *Overlay {
	o, err := Create(filepath.Join(e.dir, fmt.Sprintf("cow-%d-%v", cs, copied)), e.base, &Options{ChunkSize: cs})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { o.Close() })
	if copied {
		buf := make([]byte, 4<<20)
		for off := int64(0); off < benchBaseSize; off += int64(len(buf)) {
			if _, err := e.base.ReadAt(buf, off); err != nil && err != io.EOF {
				b.Fatal(err)
			}
			if _, err := o.WriteAt(buf, off); err != nil {
				b.Fatal(err)
			}
		}
		if err := o.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	return o
}

// rawFile returns a writable copy of the base image.
func (e *benchEnv) rawFile(b *testing.B) *os.File {
	src, err := os.ReadFile(e.basePath)
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(e.dir, "raw.img")
	if err := os.WriteFile(p, src, 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

type pattern struct {
	name string
	size int
	next func(r *rand.Rand, i int) int64
}

var patterns = []pattern{
	{"seq1M", 1 << 20, func(_ *rand.Rand, i int) int64 { return int64(i) << 20 % benchBaseSize }},
	{"rand4K", 4096, func(r *rand.Rand, _ int) int64 { return r.Int64N(benchBaseSize/4096) * 4096 }},
}

func BenchmarkRead(b *testing.B) {
	e := newBenchEnv(b)
	targets := []struct {
		name string
		r    func(b *testing.B) io.ReaderAt
	}{
		{"raw", func(b *testing.B) io.ReaderAt { return e.rawFile(b) }},
		{"fresh", func(b *testing.B) io.ReaderAt { return e.overlay(b, DefaultChunkSize, false) }},
		{"copied", func(b *testing.B) io.ReaderAt { return e.overlay(b, DefaultChunkSize, true) }},
	}
	for _, tg := range targets {
		r := tg.r(b)
		for _, p := range patterns {
			b.Run(tg.name+"/"+p.name, func(b *testing.B) {
				buf := make([]byte, p.size)
				rng := rand.New(rand.NewPCG(1, 1))
				// warm the page cache like a long-running server would have it
				for i := 0; i < benchBaseSize/p.size && i < 64; i++ {
					r.ReadAt(buf, p.next(rng, i))
				}
				b.SetBytes(int64(p.size))
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if _, err := r.ReadAt(buf, p.next(rng, i)); err != nil && err != io.EOF {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	e := newBenchEnv(b)
	raw := e.rawFile(b)
	for _, p := range patterns {
		b.Run("raw/"+p.name, func(b *testing.B) {
			buf := randomBytes(p.size, 2)
			rng := rand.New(rand.NewPCG(1, 1))
			b.SetBytes(int64(p.size))
			for i := 0; b.Loop(); i++ {
				if _, err := raw.WriteAt(buf, p.next(rng, i)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("raw+fdatasync/"+p.name, func(b *testing.B) {
			buf := randomBytes(p.size, 2)
			rng := rand.New(rand.NewPCG(1, 1))
			b.SetBytes(int64(p.size))
			for i := 0; b.Loop(); i++ {
				if _, err := raw.WriteAt(buf, p.next(rng, i)); err != nil {
					b.Fatal(err)
				}
				if err := (osFile{raw}).Datasync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, copied := range []bool{false, true} {
		name := map[bool]string{false: "fresh", true: "copied"}[copied]
		for _, p := range patterns {
			b.Run(name+"/"+p.name, func(b *testing.B) {
				benchOverlayWrite(b, e, DefaultChunkSize, copied, p)
			})
		}
	}
}

// benchOverlayWrite writes with pattern p; for a fresh overlay every write
// lands in a chunk not copied yet (the overlay is reset, untimed, when the
// base is used up).
func benchOverlayWrite(b *testing.B, e *benchEnv, cs int64, copied bool, p pattern) {
	o := e.overlay(b, cs, copied)
	buf := randomBytes(p.size, 2)
	rng := rand.New(rand.NewPCG(1, 1))
	chunks := benchBaseSize / cs
	perm := rng.Perm(int(chunks))
	k := 0
	next := func(i int) int64 {
		if copied || p.size >= int(cs) {
			return p.next(rng, i)
		}
		if k == len(perm) {
			b.StopTimer()
			if err := o.Reset(); err != nil {
				b.Fatal(err)
			}
			k = 0
			b.StartTimer()
		}
		c := int64(perm[k])
		k++
		return c*cs + rng.Int64N(cs/int64(p.size))*int64(p.size)
	}
	if !copied && p.size >= int(cs) {
		next = func(i int) int64 {
			off := p.next(rng, i)
			if off == 0 && i > 0 {
				b.StopTimer()
				if err := o.Reset(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			return off
		}
	}
	s0 := o.Stats()
	b.SetBytes(int64(p.size))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := o.WriteAt(buf, next(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	s := o.Stats()
	if n := s.BytesWritten - s0.BytesWritten; n > 0 {
		b.ReportMetric(float64(s.DataBytesWritten-s0.DataBytesWritten+s.MetadataBytesWritten-s0.MetadataBytesWritten)/float64(n), "wamp")
		b.ReportMetric(float64(s.Commits-s0.Commits)/float64(b.N), "commits/op")
	}
}

// BenchmarkChunkSize is the measurement behind DefaultChunkSize: the cost
// of first writes (random 4 KiB and sequential 1 MiB) and of sequential
// reads from a fully copied overlay, per chunk size.
func BenchmarkChunkSize(b *testing.B) {
	e := newBenchEnv(b)
	for _, cs := range []int64{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		for _, p := range patterns {
			b.Run(fmt.Sprintf("%dK/fresh-write-%s", cs>>10, p.name), func(b *testing.B) {
				benchOverlayWrite(b, e, cs, false, p)
			})
		}
		b.Run(fmt.Sprintf("%dK/copied-read-seq1M", cs>>10), func(b *testing.B) {
			o := e.overlay(b, cs, true)
			buf := make([]byte, 1<<20)
			b.SetBytes(1 << 20)
			for i := 0; b.Loop(); i++ {
				if _, err := o.ReadAt(buf, int64(i)<<20%benchBaseSize); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// BenchmarkReadVsRaw alternates the same read on the raw image and on an
// overlay in every iteration, so both see the same machine load, and
// reports their throughputs and the ratio overlay/raw (the goal for
// unchanged data is >= 0.9).
func BenchmarkReadVsRaw(b *testing.B) {
	e := newBenchEnv(b)
	raw := e.rawFile(b)
	for _, copied := range []bool{false, true} {
		o := e.overlay(b, DefaultChunkSize, copied)
		name := map[bool]string{false: "fresh", true: "copied"}[copied]
		for _, p := range patterns {
			b.Run(name+"/"+p.name, func(b *testing.B) {
				buf := make([]byte, p.size)
				rng := rand.New(rand.NewPCG(1, 1))
				var tRaw, tOv []time.Duration
				for i := 0; b.Loop(); i++ {
					off := p.next(rng, i)
					t0 := time.Now()
					if _, err := raw.ReadAt(buf, off); err != nil && err != io.EOF {
						b.Fatal(err)
					}
					t1 := time.Now()
					if _, err := o.ReadAt(buf, off); err != nil && err != io.EOF {
						b.Fatal(err)
					}
					t2 := time.Now()
					tRaw = append(tRaw, t1.Sub(t0))
					tOv = append(tOv, t2.Sub(t1))
				}
				// Medians: a loaded machine preempts single reads at random.
				mRaw, mOv := median(tRaw), median(tOv)
				mb := float64(p.size) / 1e6
				b.ReportMetric(mb/mRaw.Seconds(), "raw-MB/s")
				b.ReportMetric(mb/mOv.Seconds(), "overlay-MB/s")
				b.ReportMetric(mRaw.Seconds()/mOv.Seconds(), "ratio")
			})
		}
	}
}

// BenchmarkWriteParallel issues first writes (random 4 KiB into chunks not
// copied yet) from many goroutines, as an iSCSI initiator with a deep queue
// does: group commit lets one metadata write and two fdatasyncs cover many
// allocations (commits/op < 1).
func BenchmarkWriteParallel(b *testing.B) {
	// A sparse 4 GiB base: 65536 chunks, enough for every write to be a first one.
	dir := b.TempDir()
	const size = 4 << 30
	f, err := os.Create(filepath.Join(dir, "sparse.img"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	o, err := Create(filepath.Join(dir, "cow"), NewBase(f, size), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	cs := int64(DefaultChunkSize)
	perm := rand.New(rand.NewPCG(1, 1)).Perm(int(size / cs))
	var next atomic.Int64
	buf := randomBytes(4096, 3)
	s0 := o.Stats()
	b.SetBytes(4096)
	b.SetParallelism(16) // 32 writers on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := next.Add(1) - 1
			off := int64(perm[k%int64(len(perm))])*cs + (k/int64(len(perm))%16)*4096
			if _, err := o.WriteAt(buf, off); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	s := o.Stats()
	b.ReportMetric(float64(s.Commits-s0.Commits)/float64(b.N), "commits/op")
	b.ReportMetric(float64(s.Chunks-s0.Chunks)/float64(b.N), "first-writes/op")
}

// BenchmarkChunkLookup measures the overlay's chunk lookup, the step every
// ReadAt and WriteAt takes per chunk, on maps shaped like real overlays of
// a 64 GiB base in 64 KiB chunks (1 Mi chunks): empty (a fresh overlay),
// 16 Ki changed chunks in one dense run (a file written sequentially), and
// 16 Ki changed chunks scattered one per group of 64 (random writes). Half
// of the lookups hit a changed chunk where there are any. No allocations.
//
//	go test -run '^$' -bench ChunkLookup -benchmem ./cow
func BenchmarkChunkLookup(b *testing.B) {
	const space, changed = 1 << 20, 16 << 10
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := []struct {
		name string
		fill func(m *chunkMap) []uint64 // returns the changed chunks
	}{
		{"empty", func(*chunkMap) []uint64 { return nil }},
		{"dense", func(m *chunkMap) []uint64 {
			var cs []uint64
			for c := uint64(0); c < changed; c++ {
				m.set(c, uint32(c+2))
				cs = append(cs, c)
			}
			return cs
		}},
		{"scattered", func(m *chunkMap) []uint64 {
			var cs []uint64
			for g := range uint64(changed) {
				c := g*64 + rng.Uint64N(64)
				m.set(c, uint32(g+2))
				cs = append(cs, c)
			}
			return cs
		}},
	}
	for _, s := range shapes {
		var m chunkMap
		cs := s.fill(&m)
		// A fixed mix of lookups: hits from cs, misses anywhere.
		probes := make([]uint64, 4096)
		for i := range probes {
			if len(cs) > 0 && i%2 == 0 {
				probes[i] = cs[rng.IntN(len(cs))]
			} else {
				probes[i] = rng.Uint64N(space)
			}
		}
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			hits := 0
			for i := 0; b.Loop(); i++ {
				if _, ok := m.get(probes[i&(len(probes)-1)]); ok {
					hits++
				}
			}
			if len(cs) > 0 && hits == 0 {
				b.Fatal("no lookup hit a changed chunk")
			}
		})
	}
}
