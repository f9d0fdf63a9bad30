package cow

import "math/bits"

// chunkMap maps changed base chunks to their chunk in the overlay file.
// Memory grows with the number of changed chunks, not with the base: a
// hash map of 64-chunk leaves, each a presence bitmap plus a packed slice
// of the present values (about 5 bytes per chunk when changes are dense,
// about 60 when every changed chunk is alone in its 64-chunk group).
type chunkMap struct {
	leaves map[uint64]*leaf
	n      int
}

const leafShift = 6

type leaf struct {
	bits uint64
	vals []uint32
}

func (m *chunkMap) get(c uint64) (uint32, bool) {
	l := m.leaves[c>>leafShift]
	if l == nil {
		return 0, false
	}
	b := uint64(1) << (c & 63)
	if l.bits&b == 0 {
		return 0, false
	}
	return l.vals[bits.OnesCount64(l.bits&(b-1))], true
}

// set records c -> v; c must not be present yet.
func (m *chunkMap) set(c uint64, v uint32) {
	if m.leaves == nil {
		m.leaves = make(map[uint64]*leaf)
	}
	l := m.leaves[c>>leafShift]
	if l == nil {
		l = &leaf{}
		m.leaves[c>>leafShift] = l
	}
	b := uint64(1) << (c & 63)
	i := bits.OnesCount64(l.bits & (b - 1))
	if l.bits&b != 0 {
		l.vals[i] = v
		return
	}
	l.bits |= b
	l.vals = append(l.vals, 0)
	copy(l.vals[i+1:], l.vals[i:])
	l.vals[i] = v
	m.n++
}

func (m *chunkMap) len() int { return m.n }

func (m *chunkMap) reset() { m.leaves, m.n = nil, 0 }
