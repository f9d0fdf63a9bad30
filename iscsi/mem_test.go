package iscsi

import (
	"io"
	"sync"
)

// memDevice is an in-memory Device with Sync and Discard for tests.
type memDevice struct {
	mu    sync.RWMutex
	b     []byte
	syncs int
	ro    bool
}

func (m *memDevice) ReadAt(p []byte, off int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if off < 0 || off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memDevice) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, io.ErrShortWrite
	}
	return copy(m.b[off:], p), nil
}

func (m *memDevice) Size() int64    { return int64(len(m.b)) }
func (m *memDevice) ReadOnly() bool { return m.ro }
func (m *memDevice) Sync() error {
	m.mu.Lock()
	m.syncs++
	m.mu.Unlock()
	return nil
}
func (m *memDevice) Discard(off, n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.b[off : off+n])
	return nil
}
