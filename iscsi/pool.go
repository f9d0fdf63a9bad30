package iscsi

import (
	"math/bits"
	"sync"
)

// bufPool hands out byte slices in power-of-two size classes from 4 KiB to
// 32 MiB so the data path does not allocate per command.
type bufPool struct {
	classes [14]sync.Pool
}

const minPoolShift = 12

func (p *bufPool) class(n int) int {
	if n <= 1<<minPoolShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minPoolShift
}

// get returns a buffer of length n. Buffers larger than the largest class are
// allocated and not pooled.
func (p *bufPool) get(n int) *[]byte {
	c := p.class(n)
	if c >= len(p.classes) {
		b := make([]byte, n)
		return &b
	}
	if v := p.classes[c].Get(); v != nil {
		b := v.(*[]byte)
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(c+minPoolShift))
	return &b
}

// put returns b to its class.
func (p *bufPool) put(b *[]byte) {
	if b == nil {
		return
	}
	c := bits.Len(uint(cap(*b)-1)) - minPoolShift
	if cap(*b) < 1<<minPoolShift || c >= len(p.classes) || cap(*b) != 1<<(c+minPoolShift) {
		return
	}
	p.classes[c].Put(b)
}
