package cow

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// memBase returns a Base over random content held in memory.
func memBase(size int, seed uint64) (*Base, []byte) {
	b := randomBytes(size, seed)
	return NewBase(bytes.NewReader(b), int64(size)), b
}

// fileBase writes random content to a file and opens it with OpenBase.
func fileBase(t testing.TB, size int, seed uint64) (*Base, []byte, string) {
	t.Helper()
	b := randomBytes(size, seed)
	path := filepath.Join(t.TempDir(), "base.img")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	base, err := OpenBase(path)
	require.NoError(t, err)
	t.Cleanup(func() { base.Close() })
	return base, b, path
}

func readAll(t testing.TB, o *Overlay) []byte {
	t.Helper()
	b := make([]byte, o.Size())
	n, err := o.ReadAt(b, 0)
	require.NoError(t, err)
	require.Equal(t, len(b), n)
	return b
}

// requireSameBytes compares without dumping megabytes: it reports the first difference.
func requireSameBytes(t testing.TB, want, got []byte, msgAndArgs ...any) {
	t.Helper()
	if bytes.Equal(want, got) {
		return
	}
	if len(want) != len(got) {
		require.Failf(t, "length differs", "want %d bytes, got %d", len(want), len(got))
	}
	for i := range want {
		if want[i] != got[i] {
			end := min(i+16, len(want))
			require.Failf(t, "bytes differ", "first difference at byte %d: want % x, got % x; %v", i, want[i:end], got[i:end], msgAndArgs)
		}
	}
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }
