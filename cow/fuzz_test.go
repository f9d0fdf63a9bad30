package cow

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

// fuzzBaseSize is the base the fuzzed stores are opened on (32 chunks of 512 bytes).
const fuzzBaseSize = 16 << 10

// FuzzOpen feeds arbitrary bytes to Open as an overlay file. Open must
// return an overlay or an error, never panic; an overlay it accepts must
// read every byte of the device, take writes and give them back after a
// reopen.
func FuzzOpen(f *testing.F) {
	base, _ := memBase(fuzzBaseSize, 51)
	// Seeds: stores made by this package (with records in two areas), a
	// Linux-made store, and near misses.
	for _, cs := range []int64{512, 1024} {
		st := newCrashFile(nil)
		o, err := openStorage(st, base, Options{ChunkSize: cs}, true)
		if err != nil {
			f.Fatal(err)
		}
		for i := range 3 {
			if _, err := o.WriteAt(bytes.Repeat([]byte{byte(i)}, 700), int64(i*1300)); err != nil {
				f.Fatal(err)
			}
		}
		f.Add(st.cur)
	}
	ls := newLinuxStore(512, 5)
	ls.record(0, 0, 5, 2)
	ls.record(0, 1, 7, 3)
	f.Add(ls.buf)
	f.Add([]byte{})
	f.Add(make([]byte, 1024))
	f.Add([]byte("SnAp\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00"))
	f.Add(append([]byte("SnAp\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00"), make([]byte, 1024)...))

	f.Fuzz(func(t *testing.T, data []byte) { fuzzOpen(t, base, data) })
}

func fuzzOpen(t *testing.T, base *Base, data []byte) {
	if len(data) > 1<<20 {
		return
	}
	st := &crashFile{cur: bytes.Clone(data), plain: true}
	o, err := openStorage(st, base, Options{ChunkSize: 512}, false)
	if err != nil {
		var ce *CorruptError
		if !errors.Is(err, ErrNotOverlay) && !errors.Is(err, ErrInvalidated) && !errors.Is(err, ErrBaseMismatch) && !errors.As(err, &ce) {
			t.Fatalf("untyped error from Open: %v", err)
		}
		return
	}
	if o.ChunkSize() > 64<<10 {
		return // valid, but too slow to exercise writes with here
	}
	buf := make([]byte, fuzzBaseSize)
	if n, err := o.ReadAt(buf, 0); err != nil || n != len(buf) {
		t.Fatalf("read of an accepted store: %d, %v", n, err)
	}
	p := bytes.Repeat([]byte{0x5C}, 3000)
	if _, err := o.WriteAt(p, 1000); err != nil {
		if errors.Is(err, ErrFull) {
			return // new chunk numbers would not fit in 32 bits
		}
		t.Fatalf("write to an accepted store: %v", err)
	}
	want := append([]byte(nil), buf...)
	copy(want[1000:], p)
	o2, err := openStorage(&crashFile{cur: st.cur, plain: true}, base, Options{}, false)
	if err != nil {
		t.Fatalf("reopen after a write: %v", err)
	}
	if _, err := o2.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, want) {
		t.Fatal("reopened store differs from what was written")
	}
}

// Open on a real file goes through the same parser; one smoke check that
// garbage on disk is refused with a typed error.
func TestOpenGarbageFile(t *testing.T) {
	base, _ := memBase(fuzzBaseSize, 51)
	path := filepath.Join(t.TempDir(), "garbage")
	ls := newLinuxStore(512, 10)
	ls.record(0, 0, 1, 9999)
	if err := writeFile(path, ls.buf); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, base, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("want ErrCorrupt, got %v", err)
	}
}
