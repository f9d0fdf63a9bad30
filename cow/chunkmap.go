package cow

import "math/bits"

// chunkMap maps changed base chunks to their chunk in the overlay file.
// Memory grows with the number of changed chunks, not with the base.
//
// Chunks are grouped by 64. A group with one changed chunk is a single
// packed uint64 in a hash map (about 20-30 bytes per changed chunk); a
// group with more is a leaf: a presence bitmap plus the packed overlay
// chunk numbers of the present chunks (about 5 bytes per chunk when dense).
type chunkMap struct {
	groups map[uint64]uint64 // group -> single (singleFlag|idx<<32|value) or leaf index+1
	leaves []leaf
	n      int
}

const (
	leafShift  = 6
	singleFlag = 1 << 63
)

type leaf struct {
	bits uint64
	vals []uint32
}

func (l *leaf) get(i uint64) (uint32, bool) {
	b := uint64(1) << i
	if l.bits&b == 0 {
		return 0, false
	}
	return l.vals[bits.OnesCount64(l.bits&(b-1))], true
}

// set inserts or replaces; it reports whether i was new.
func (l *leaf) set(i uint64, v uint32) bool {
	b := uint64(1) << i
	k := bits.OnesCount64(l.bits & (b - 1))
	if l.bits&b != 0 {
		l.vals[k] = v
		return false
	}
	l.bits |= b
	l.vals = append(l.vals, 0)
	copy(l.vals[k+1:], l.vals[k:])
	l.vals[k] = v
	return true
}

func (m *chunkMap) get(c uint64) (uint32, bool) {
	g, ok := m.groups[c>>leafShift]
	if !ok {
		return 0, false
	}
	if g&singleFlag != 0 {
		if (g>>32)&63 == c&63 {
			return uint32(g), true
		}
		return 0, false
	}
	return m.leaves[g-1].get(c & 63)
}

// set records c -> v, replacing any previous value.
func (m *chunkMap) set(c uint64, v uint32) {
	if m.groups == nil {
		m.groups = make(map[uint64]uint64)
	}
	key, i := c>>leafShift, c&63
	g, ok := m.groups[key]
	switch {
	case !ok:
		m.groups[key] = singleFlag | i<<32 | uint64(v)
		m.n++
	case g&singleFlag != 0:
		if (g>>32)&63 == i {
			m.groups[key] = singleFlag | i<<32 | uint64(v)
			return
		}
		m.leaves = append(m.leaves, leaf{})
		l := &m.leaves[len(m.leaves)-1]
		l.set((g>>32)&63, uint32(g))
		l.set(i, v)
		m.groups[key] = uint64(len(m.leaves))
		m.n++
	default:
		if m.leaves[g-1].set(i, v) {
			m.n++
		}
	}
}

func (m *chunkMap) len() int { return m.n }

func (m *chunkMap) reset() { m.groups, m.leaves, m.n = nil, nil, 0 }
