package cow

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each constructor, so behaviour tests run on both store types.
var kinds = []struct {
	name string
	make func(t *testing.T, base *Base, opts *Options) *Overlay
}{
	{"persistent", func(t *testing.T, base *Base, opts *Options) *Overlay {
		o, err := Create(filepath.Join(t.TempDir(), "cow"), base, opts)
		require.NoError(t, err)
		return o
	}},
	{"transient", func(t *testing.T, base *Base, opts *Options) *Overlay {
		o, err := CreateTransient(t.TempDir(), base, opts)
		require.NoError(t, err)
		return o
	}},
}

func TestReadWriteSemantics(t *testing.T) {
	const cs = 4096
	// A base whose size is not a multiple of the chunk size: the last chunk is partial.
	const size = 10*cs + 1536
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			base, content := memBase(size, 10)
			o := k.make(t, base, &Options{ChunkSize: cs})
			defer o.Close()
			want := append([]byte(nil), content...)
			assert.Equal(t, int64(size), o.Size())
			requireSameBytes(t, want, readAll(t, o), "fresh overlay reads the base")

			writes := []struct {
				off int64
				n   int
			}{
				{0, 1},               // partial first write: rest copied from base
				{cs - 3, 7},          // straddles chunks 0 and 1
				{2 * cs, cs},         // whole chunk: no copy
				{3*cs + 100, 3 * cs}, // spans 4 chunks, two partial
				{10 * cs, 1536},      // the partial last chunk, to the end
				{2*cs + 10, 20},      // in place in a copied chunk
			}
			for i, w := range writes {
				d := randomBytes(w.n, uint64(100+i))
				n, err := o.WriteAt(d, w.off)
				require.NoError(t, err)
				require.Equal(t, w.n, n)
				copy(want[w.off:], d)
				requireSameBytes(t, want, readAll(t, o), "after write %d", i)
			}
			requireSameBytes(t, content, readAllBase(t, base), "base never written")
			st := o.Stats()
			assert.Equal(t, 8, st.Chunks) // chunks 0,1,2,3,4,5,6,10
			assert.Equal(t, uint64(4*cs+1536), st.BaseBytesCopied, "chunks 0,1,3,6 partially written; chunk 10 is 1536 bytes")

			// io.ReaderAt semantics at the end.
			buf := make([]byte, 100)
			n, err := o.ReadAt(buf, size-40)
			assert.Equal(t, 40, n)
			assert.ErrorIs(t, err, io.EOF)
			assert.Equal(t, want[size-40:], buf[:40])
			n, err = o.ReadAt(buf, size)
			assert.Equal(t, 0, n)
			assert.ErrorIs(t, err, io.EOF)
			_, err = o.ReadAt(buf, -1)
			assert.ErrorIs(t, err, ErrOutOfRange)
			_, err = o.WriteAt(buf, size-50)
			assert.ErrorIs(t, err, ErrOutOfRange)
			_, err = o.WriteAt(buf, -1)
			assert.ErrorIs(t, err, ErrOutOfRange)
			n, err = o.WriteAt(nil, size)
			assert.NoError(t, err)
			assert.Zero(t, n)
			assert.NoError(t, o.Sync())
		})
	}
}

func readAllBase(t *testing.T, b *Base) []byte {
	buf := make([]byte, b.Size())
	n, err := b.ReadAt(buf, 0)
	require.True(t, err == nil || errors.Is(err, io.EOF))
	return buf[:n]
}

// A full overlay refuses only the writes that need a new chunk, keeps
// reading and writing copied chunks, is never invalidated, and reopens intact.
func TestFullOverlayKeepsWorking(t *testing.T) {
	const cs = 4096
	base, content := memBase(64*cs, 11)
	path := filepath.Join(t.TempDir(), "cow")
	// header + area 0 + 4 data chunks
	o, err := Create(path, base, &Options{ChunkSize: cs, MaxSize: 6 * cs})
	require.NoError(t, err)
	want := append([]byte(nil), content...)
	for c := range 4 {
		d := bytes.Repeat([]byte{byte(c + 1)}, 100)
		_, err := o.WriteAt(d, int64(c)*cs+50)
		require.NoError(t, err)
		copy(want[c*cs+50:], d)
	}
	// A write spanning a copied chunk (3) and a new one (4) fails whole.
	_, err = o.WriteAt(bytes.Repeat([]byte{0xEE}, 200), 5*cs-100)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrFull)
	assert.ErrorIs(t, err, syscall.ENOSPC)
	requireSameBytes(t, want, readAll(t, o), "nothing written by the failed write, reads work")

	// Copied chunks still take writes.
	d := bytes.Repeat([]byte{0x5A}, cs)
	_, err = o.WriteAt(d, 2*cs)
	require.NoError(t, err)
	copy(want[2*cs:], d)
	require.NoError(t, o.Sync())
	assert.Equal(t, 4, o.Stats().Chunks)
	require.NoError(t, o.Close())

	o, err = Open(path, base, &Options{MaxSize: 6 * cs})
	require.NoError(t, err)
	requireSameBytes(t, want, readAll(t, o))
	_, err = o.WriteAt([]byte{1}, 9*cs)
	assert.ErrorIs(t, err, syscall.ENOSPC)
	require.NoError(t, o.Close())

	// Without the quota the same store grows again.
	o, err = Open(path, base, nil)
	require.NoError(t, err)
	_, err = o.WriteAt([]byte{1}, 9*cs)
	assert.NoError(t, err)
	require.NoError(t, o.Close())
}

// The quota counts the next metadata area: when the last data chunk of an
// area would leave no room for the next area, it is refused.
func TestQuotaReservesNextArea(t *testing.T) {
	const cs = 512 // 32 records per area: area 0 = chunk 1, data 2..33, area 1 = 34
	base, _ := memBase(100*cs, 12)
	o, err := Create(filepath.Join(t.TempDir(), "cow"), base, &Options{ChunkSize: cs, MaxSize: 34 * cs})
	require.NoError(t, err)
	defer o.Close()
	for c := range 31 {
		_, err := o.WriteAt([]byte{1}, int64(c)*cs)
		require.NoError(t, err, "chunk %d", c)
	}
	_, err = o.WriteAt([]byte{1}, 31*cs)
	assert.ErrorIs(t, err, ErrFull, "chunk 33 would need area 1 at chunk 34, beyond the quota")
}

func TestReadOnlyOpen(t *testing.T) {
	base, content := memBase(1<<20, 13)
	path := filepath.Join(t.TempDir(), "cow")
	o, err := Create(path, base, nil)
	require.NoError(t, err)
	_, err = o.WriteAt([]byte("hello"), 1000)
	require.NoError(t, err)
	require.NoError(t, o.Close())
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	o, err = Open(path, base, &Options{ReadOnly: true})
	require.NoError(t, err)
	assert.True(t, o.ReadOnly())
	want := append([]byte(nil), content...)
	copy(want[1000:], "hello")
	requireSameBytes(t, want, readAll(t, o))
	_, err = o.WriteAt([]byte("x"), 0)
	assert.ErrorIs(t, err, os.ErrPermission)
	assert.ErrorIs(t, o.Discard(0, 65536), ErrReadOnly)
	assert.ErrorIs(t, o.Reset(), ErrReadOnly)
	assert.NoError(t, o.Sync())
	require.NoError(t, o.Close())
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "read-only open changed the file")

	_, err = Create(path, base, &Options{ReadOnly: true})
	assert.ErrorIs(t, err, ErrReadOnly)
}

func TestTransientVanishes(t *testing.T) {
	dir := t.TempDir()
	base, content := memBase(1<<20, 14)
	o, err := CreateTransient(dir, base, nil)
	require.NoError(t, err)
	_, err = o.WriteAt(bytes.Repeat([]byte{7}, 300000), 5)
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "the transient file is unlinked from the start")
	st := o.Stats()
	assert.False(t, st.Persistent)
	assert.Zero(t, st.MetadataChunks)
	assert.Zero(t, st.MetadataBytesWritten)
	require.NoError(t, o.Close())

	o, err = CreateTransient(dir, base, nil)
	require.NoError(t, err)
	defer o.Close()
	requireSameBytes(t, content, readAll(t, o), "a new transient overlay starts from the base")
}

func TestResetThrowsChangesAway(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			base, content := memBase(1<<20, 15)
			o := k.make(t, base, &Options{ChunkSize: 4096})
			defer o.Close()
			_, err := o.WriteAt(bytes.Repeat([]byte{9}, 500000), 12345)
			require.NoError(t, err)
			require.NotZero(t, o.Stats().Chunks)
			require.NoError(t, o.Reset())
			assert.Zero(t, o.Stats().Chunks)
			requireSameBytes(t, content, readAll(t, o))
			_, err = o.WriteAt([]byte{1, 2, 3}, 4095)
			require.NoError(t, err)
			want := append([]byte(nil), content...)
			copy(want[4095:], []byte{1, 2, 3})
			requireSameBytes(t, want, readAll(t, o))
		})
	}
	t.Run("persistent reopen", func(t *testing.T) {
		base, content := memBase(1<<20, 16)
		path := filepath.Join(t.TempDir(), "cow")
		o, err := Create(path, base, nil)
		require.NoError(t, err)
		_, err = o.WriteAt(bytes.Repeat([]byte{9}, 500000), 0)
		require.NoError(t, err)
		require.NoError(t, o.Reset())
		require.NoError(t, o.Close())
		o, err = Open(path, base, nil)
		require.NoError(t, err)
		defer o.Close()
		requireSameBytes(t, content, readAll(t, o))
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, int64(2*DefaultChunkSize), fi.Size(), "header and area 0 only")
	})
}

func TestDiscardReadsZeros(t *testing.T) {
	const cs = 4096
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			base, content := memBase(16*cs, 17)
			copy(content[10*cs:12*cs], make([]byte, 2*cs)) // a zero region in the base
			base = NewBase(bytes.NewReader(content), int64(len(content)))
			o := k.make(t, base, &Options{ChunkSize: cs})
			defer o.Close()
			_, err := o.WriteAt(bytes.Repeat([]byte{0xCC}, 4*cs), 2*cs) // chunks 2..5 copied
			require.NoError(t, err)
			want := append([]byte(nil), content...)
			copy(want[2*cs:], bytes.Repeat([]byte{0xCC}, 4*cs))
			// Chunk 2 partly, 3 and 4 whole (copied), 5 all but its last byte,
			// 6 and 7 whole (never copied), 8 partly (never copied).
			require.NoError(t, o.Discard(2*cs+1, 6*cs+100-1))
			copy(want[2*cs+1:8*cs+100], make([]byte, 6*cs+99))
			requireSameBytes(t, want, readAll(t, o))
			assert.Equal(t, 7, o.Stats().Chunks, "chunks 2..8 have records")

			// Zero base chunks need no record.
			require.NoError(t, o.Discard(10*cs, 2*cs))
			assert.Equal(t, 7, o.Stats().Chunks)
			// The partial last chunk and the whole device.
			require.NoError(t, o.Discard(0, 16*cs))
			requireSameBytes(t, make([]byte, 16*cs), readAll(t, o))

			assert.ErrorIs(t, o.Discard(0, 17*cs), ErrOutOfRange)
			assert.ErrorIs(t, o.Discard(-1, 1), ErrOutOfRange)
			// Writes after a discard land normally.
			_, err = o.WriteAt([]byte{1}, 3*cs+7)
			require.NoError(t, err)
			got := readAll(t, o)
			assert.Equal(t, byte(1), got[3*cs+7])
			assert.Equal(t, byte(0), got[3*cs+8])
		})
	}
	t.Run("persistent reopen", func(t *testing.T) {
		base, _ := memBase(64*cs, 18)
		path := filepath.Join(t.TempDir(), "cow")
		o, err := Create(path, base, &Options{ChunkSize: cs})
		require.NoError(t, err)
		require.NoError(t, o.Discard(5*cs, 3*cs))
		require.NoError(t, o.Close())
		o, err = Open(path, base, nil)
		require.NoError(t, err, "records of discarded chunks point inside the file")
		defer o.Close()
		got := readAll(t, o)
		requireSameBytes(t, make([]byte, 3*cs), got[5*cs:8*cs])
	})
}

func TestClosedOverlay(t *testing.T) {
	base, _ := memBase(1<<16, 18)
	o, err := Create(filepath.Join(t.TempDir(), "cow"), base, nil)
	require.NoError(t, err)
	require.NoError(t, o.Close())
	_, err = o.ReadAt(make([]byte, 1), 0)
	assert.ErrorIs(t, err, os.ErrClosed)
	_, err = o.WriteAt(make([]byte, 1), 0)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, o.Sync(), ErrClosed)
	assert.ErrorIs(t, o.Discard(0, 1), ErrClosed)
	assert.ErrorIs(t, o.Reset(), ErrClosed)
	assert.ErrorIs(t, o.Close(), ErrClosed)
}

func TestOptionsValidation(t *testing.T) {
	base, _ := memBase(1<<16, 19)
	dir := t.TempDir()
	for _, cs := range []int64{-1, 1, 256, 3000, 4097, MaxChunkSize * 2} {
		_, err := Create(filepath.Join(dir, "x"), base, &Options{ChunkSize: cs})
		assert.Error(t, err, "chunk size %d", cs)
	}
	_, err := Create(filepath.Join(dir, "x"), base, &Options{MaxSize: -1})
	assert.Error(t, err)
	_, err = Create(filepath.Join(dir, "x"), nil, nil)
	assert.Error(t, err)
	_, err = Open(filepath.Join(dir, "missing"), base, nil)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// The contract the iscsi package declares (DESIGN.md "Block devices"),
// restated here so a change to the method set fails to compile.
var (
	_ interface {
		ReadAt(p []byte, off int64) (int, error)
		WriteAt(p []byte, off int64) (int, error)
		Size() int64
	} = (*Overlay)(nil)
	_ interface{ Sync() error }                = (*Overlay)(nil)
	_ interface{ Discard(off, n int64) error } = (*Overlay)(nil)
	_ interface{ ReadOnly() bool }             = (*Overlay)(nil)
)

func TestFlatten(t *testing.T) {
	base, content := memBase(3<<20+512, 19)
	o, err := CreateTransient(t.TempDir(), base, nil)
	require.NoError(t, err)
	defer o.Close()
	_, err = o.WriteAt(bytes.Repeat([]byte{0xAA}, 100000), 1<<20-50000)
	require.NoError(t, err)
	want := append([]byte(nil), content...)
	copy(want[1<<20-50000:], bytes.Repeat([]byte{0xAA}, 100000))
	var out bytes.Buffer
	n, err := o.Flatten(&out)
	require.NoError(t, err)
	assert.Equal(t, int64(len(want)), n)
	requireSameBytes(t, want, out.Bytes())
}

// A full file system (ENOSPC from the file, not the quota) at any point of
// a write, data or metadata: the write fails with ErrFull, nothing else
// changes, reads and in-place writes go on, and once space is back writes
// succeed and everything survives a reopen.
func TestFileSystemFull(t *testing.T) {
	const cs = 512
	base, content := memBase(200*cs, 23)
	for limit := int64(3 * cs); limit < 80*cs; limit += 7*cs + 100 {
		f := newCrashFile(nil)
		f.plain = true
		o, err := openStorage(f, base, Options{ChunkSize: cs}, true)
		require.NoError(t, err)
		f.limit = limit
		want := append([]byte(nil), content...)
		r := rand.New(rand.NewPCG(uint64(limit), 3))
		full := 0
		for i := range 120 {
			n := 1 + r.IntN(4*cs)
			off := r.Int64N(int64(len(want) - n))
			p := randomBytes(n, uint64(i))
			_, err := o.WriteAt(p, off)
			if err != nil {
				require.ErrorIs(t, err, syscall.ENOSPC, "limit %d write %d", limit, i)
				require.ErrorIs(t, err, ErrFull)
				full++
				continue
			}
			copy(want[off:], p)
		}
		require.Positive(t, full, "limit %d never reached", limit)
		requireSameBytes(t, want, readAll(t, o), "limit %d", limit)
		require.NoError(t, o.Sync(), "a full file system does not break the overlay")
		f.limit = 0
		_, err = o.WriteAt(bytes.Repeat([]byte{0x42}, 3*cs), 150*cs+10)
		require.NoError(t, err, "space is back")
		copy(want[150*cs+10:], bytes.Repeat([]byte{0x42}, 3*cs))
		o2, err := openStorage(&crashFile{cur: f.cur, plain: true}, base, Options{}, false)
		require.NoError(t, err)
		requireSameBytes(t, want, readAll(t, o2), "reopened, limit %d", limit)
	}
}

func TestOpenLocksTheFile(t *testing.T) {
	base, _ := memBase(1<<20, 24)
	path := filepath.Join(t.TempDir(), "cow")
	o, err := Create(path, base, nil)
	require.NoError(t, err)
	_, err = Open(path, base, nil)
	assert.ErrorIs(t, err, ErrInUse)
	_, err = Open(path, base, &Options{ReadOnly: true})
	assert.ErrorIs(t, err, ErrInUse)
	_, err = Create(path, base, nil)
	assert.ErrorIs(t, err, ErrInUse, "Create must not truncate a file in use")
	require.NoError(t, o.Close())

	r1, err := Open(path, base, &Options{ReadOnly: true})
	require.NoError(t, err)
	r2, err := Open(path, base, &Options{ReadOnly: true})
	require.NoError(t, err, "readers share")
	_, err = Open(path, base, nil)
	assert.ErrorIs(t, err, ErrInUse)
	require.NoError(t, r1.Close())
	require.NoError(t, r2.Close())
	o, err = Open(path, base, nil)
	require.NoError(t, err)
	require.NoError(t, o.Close())
}
