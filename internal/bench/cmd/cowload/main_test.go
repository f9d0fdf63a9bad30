package main

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a device that remembers where it was written and read.
type recorder struct {
	mu            sync.Mutex
	writes, reads []int64
	fail          bool
}

func (r *recorder) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads = append(r.reads, off)
	return len(p), nil
}

func (r *recorder) WriteAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return 0, errors.New("disk on fire")
	}
	r.writes = append(r.writes, off)
	return len(p), nil
}

func TestRandomFirstWritesHitEachChunkOnce(t *testing.T) {
	const slots = 64
	off := int64(5 * chunk)
	var r recorder
	iops, failures := random(&r, off, slots*chunk, chunk, time.Minute, true)
	require.Zero(t, failures)
	assert.Greater(t, iops, 0.0)
	require.Len(t, r.writes, slots, "stops when every chunk has had its one write")
	seen := map[int64]bool{}
	for _, w := range r.writes {
		assert.Zero(t, w%4096, "4 KiB aligned")
		assert.GreaterOrEqual(t, w, off)
		assert.Less(t, w+4096, off+slots*chunk+1)
		c := (w - off) / chunk
		assert.False(t, seen[c], "chunk %d written twice", c)
		seen[c] = true
	}
}

func TestSequentialWritesStopAtTheEndUnlessWrapping(t *testing.T) {
	var r recorder
	_, failures := sequential(&r, 0, 8<<20, time.Minute, true, false)
	require.Zero(t, failures)
	assert.Len(t, r.writes, 8, "one pass over 8 MiB in 1 MiB writes")
	for i, w := range r.writes {
		assert.Equal(t, int64(i)<<20, w)
	}

	var wrap recorder
	sequential(&wrap, 0, 2<<20, 50*time.Millisecond, false, true)
	assert.Greater(t, len(wrap.reads), 2, "wraps around until the time is up")
	for _, o := range wrap.reads {
		assert.Less(t, o, int64(2<<20))
	}
}

func TestFailuresAreCounted(t *testing.T) {
	r := recorder{fail: true}
	mbps, failures := sequential(&r, 0, 4<<20, time.Minute, true, false)
	assert.Equal(t, 4, failures)
	assert.Zero(t, mbps)
	iops, failures := random(&r, 0, 4*chunk, chunk, time.Minute, true)
	assert.Equal(t, 4, failures)
	assert.Zero(t, iops)
}
