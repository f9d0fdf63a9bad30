package cow

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestMemoryPerChangedChunk measures the chunk map: bytes of heap per
// changed chunk for dense, isolated and random changes. A dense array of one
// uint32 per base chunk would cost 4 bytes per *base* chunk instead.
func TestMemoryPerChangedChunk(t *testing.T) {
	const n = 200000
	patterns := []struct {
		name  string
		chunk func(i int, r *rand.Rand) uint64
		limit float64 // bytes per changed chunk
	}{
		{"dense", func(i int, _ *rand.Rand) uint64 { return uint64(i) }, 8},
		{"runs of 16", func(i int, _ *rand.Rand) uint64 { return uint64(i/16)*256 + uint64(i%16) }, 24},
		{"isolated", func(i int, _ *rand.Rand) uint64 { return uint64(i) * 64 }, 40},
		{"random in 2^32 chunks", func(_ int, r *rand.Rand) uint64 { return uint64(r.Uint32()) }, 40},
	}
	for _, p := range patterns {
		t.Run(p.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			before := heapInUse()
			var m chunkMap
			for i := range n {
				c := p.chunk(i, r)
				if _, ok := m.get(c); !ok {
					m.set(c, uint32(i))
				}
			}
			after := heapInUse()
			per := float64(after-before) / float64(m.len())
			t.Logf("%s: %.1f bytes per changed chunk (%d chunks)", p.name, per, m.len())
			assert.Less(t, per, p.limit)
			runtime.KeepAlive(&m)
		})
	}
}

// TestManyOverlaysOneBase runs 120 overlays (half persistent, half
// transient) on one Base opened once, writing concurrently, and checks that
// each sees only its own changes. It also measures the memory of an overlay
// with no changes.
func TestManyOverlaysOneBase(t *testing.T) {
	const cs = 4096
	const count = 120
	base, content, _ := fileBase(t, 4<<20, 61)
	dir := t.TempDir()
	before := heapInUse()
	overlays := make([]*Overlay, count)
	for i := range overlays {
		var err error
		if i%2 == 0 {
			overlays[i], err = Create(filepath.Join(dir, fmt.Sprintf("cow%d", i)), base, &Options{ChunkSize: cs})
		} else {
			overlays[i], err = CreateTransient(dir, base, &Options{ChunkSize: cs})
		}
		require.NoError(t, err)
	}
	idle := float64(heapInUse()-before) / count
	t.Logf("idle overlay: %.0f bytes of heap each", idle)
	assert.Less(t, idle, 16384.0)
	defer func() {
		for _, o := range overlays {
			o.Close()
		}
	}()

	offsets := func(i int) []int64 { // three places per overlay, some shared between overlays
		return []int64{int64(i%7) * cs, int64(i)*cs*8 + 100, 4<<20 - int64(i%5+1)*1000}
	}
	var wg sync.WaitGroup
	for i, o := range overlays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, off := range offsets(i) {
				if _, err := o.WriteAt(bytes.Repeat([]byte{byte(i)}, 300), off); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i, o := range overlays {
		want := append([]byte(nil), content...)
		for _, off := range offsets(i) {
			copy(want[off:], bytes.Repeat([]byte{byte(i)}, 300))
		}
		requireSameBytes(t, want, readAll(t, o), "overlay %d", i)
		assert.LessOrEqual(t, o.Stats().Chunks, 3)
	}
	requireSameBytes(t, content, readAllBase(t, base), "the shared base is untouched")
}
