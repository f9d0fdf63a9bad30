package cow

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The chunk map against a plain Go map, over patterns that exercise
// singles, promotion to leaves, replacement and sparse keys.
func TestChunkMapMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var m chunkMap
	ref := map[uint64]uint32{}
	for i := range 200000 {
		var c uint64
		switch r.IntN(3) {
		case 0:
			c = r.Uint64N(4096) // dense
		case 1:
			c = r.Uint64N(1<<20) * 64 // isolated
		default:
			c = r.Uint64() >> r.IntN(64) // anywhere
		}
		v := uint32(i)
		m.set(c, v)
		ref[c] = v
		if i%1000 == 0 {
			q := r.Uint64N(8192)
			got, ok := m.get(q)
			want, wok := ref[q]
			require.Equal(t, wok, ok)
			require.Equal(t, want, got)
		}
	}
	require.Equal(t, len(ref), m.len())
	for c, v := range ref {
		got, ok := m.get(c)
		require.True(t, ok)
		require.Equal(t, v, got)
		if _, ok := ref[c^1]; !ok {
			_, ok := m.get(c ^ 1)
			require.False(t, ok, "chunk %d", c^1)
		}
	}
	m.reset()
	_, ok := m.get(5)
	require.False(t, ok)
	require.Zero(t, m.len())
}
