package cow

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// crashFile is an in-memory storage that remembers what a power cut could
// leave behind: the contents at the last Datasync, plus, for every 512-byte
// sector written since, each version it went through. A crash image picks,
// per sector, the durable version or any later one (disks reorder writes
// between flushes and only promise sector atomicity). Truncate is taken as
// immediately durable.
type crashFile struct {
	cur, durable []byte
	versions     map[int64][][]byte // sector -> versions since the last Datasync
	onOp         func()             // called after every write and sync
	plain        bool               // no crash tracking: a plain in-memory file
	limit        int64              // > 0: writes that would grow the file past it fail with ENOSPC
}

func newCrashFile(img []byte) *crashFile {
	return &crashFile{cur: slices.Clone(img), durable: slices.Clone(img), versions: map[int64][][]byte{}}
}

func (f *crashFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.cur)) {
		return 0, io.EOF
	}
	n := copy(p, f.cur[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	if f.limit > 0 && off+int64(len(p)) > f.limit && off+int64(len(p)) > int64(len(f.cur)) {
		return 0, &os.PathError{Op: "write", Path: "crashfile", Err: syscall.ENOSPC}
	}
	if end := off + int64(len(p)); end > int64(len(f.cur)) {
		f.cur = append(f.cur, make([]byte, end-int64(len(f.cur)))...)
	}
	copy(f.cur[off:], p)
	if f.plain {
		return len(p), nil
	}
	for s := off / 512; s*512 < off+int64(len(p)); s++ {
		end := min(s*512+512, int64(len(f.cur)))
		f.versions[s] = append(f.versions[s], slices.Clone(f.cur[s*512:end]))
	}
	if f.onOp != nil {
		f.onOp()
	}
	return len(p), nil
}

func (f *crashFile) Datasync() error {
	if f.plain {
		return nil
	}
	f.durable = slices.Clone(f.cur)
	clear(f.versions)
	if f.onOp != nil {
		f.onOp()
	}
	return nil
}

func (f *crashFile) Punch(off, n int64) error {
	_, err := f.WriteAt(make([]byte, n), off)
	return err
}

func (f *crashFile) Truncate(size int64) error {
	resize := func(b []byte) []byte {
		if int64(len(b)) >= size {
			return b[:size]
		}
		return append(b, make([]byte, size-int64(len(b)))...)
	}
	f.cur, f.durable = resize(f.cur), resize(f.durable)
	for s := range f.versions {
		if s*512 >= size {
			delete(f.versions, s)
		}
	}
	return nil
}

func (f *crashFile) Size() (int64, error) { return int64(len(f.cur)), nil }
func (f *crashFile) Close() error         { return nil }

// crash returns one possible disk image after a power cut now.
func (f *crashFile) crash(rng *rand.Rand) []byte {
	img := make([]byte, len(f.cur))
	copy(img, f.durable)
	sectors := make([]int64, 0, len(f.versions))
	for s := range f.versions {
		sectors = append(sectors, s)
	}
	slices.Sort(sectors)
	for _, s := range sectors {
		v := f.versions[s]
		if k := rng.IntN(len(v) + 1); k > 0 {
			copy(img[s*512:], v[k-1])
		}
	}
	return img
}

type laterWrite struct {
	off  int64
	data []byte
}

// crashPoint is a crash image with what the writer knew at that moment.
type crashPoint struct {
	img    []byte
	synced []byte       // device contents as of the last Sync that returned
	later  []laterWrite // writes started after it (the last may be in flight)
	desc   string
}

// TestPowerCut simulates power cuts at every storage operation of random
// workloads of writes and discards (formatting included) and checks each crash image: Open
// succeeds, every write acknowledged before the last completed Sync reads
// back, and every byte is either what it was at that Sync or what a later
// write put there — never zeros from an unwritten chunk, stale data or
// another chunk's data. This is the proof of the ordering "chunk data durable
// before the record that points at it" and of the area-boundary handling.
func TestPowerCut(t *testing.T) {
	// 512: an area is one sector, 32 records: many area boundaries.
	// 2048: an area spans 4 sectors, so a commit can tear inside an area.
	for _, cs := range []int64{512, 2048} {
		t.Run(fmt.Sprint(cs), func(t *testing.T) { testPowerCut(t, cs) })
	}
}

func testPowerCut(t *testing.T, cs int64) {
	const chunks = 120
	trials := 100
	if cs > 512 {
		trials = 40
	}
	if testing.Short() {
		trials = 10
	}
	base, content := memBase(int(chunks*cs-100), 41)
	size := int64(len(content))
	opts := &Options{ChunkSize: cs}
	images := 0
	for trial := range trials {
		rng := rand.New(rand.NewPCG(uint64(trial), 1))
		// Three generations: each restarts from one crash image of the
		// previous one, so stale records left by a crash are exercised.
		var start []byte // nil: create the store
		startContent := content
		for gen := range 3 {
			f := newCrashFile(start)
			synced := slices.Clone(startContent)
			cur := slices.Clone(startContent)
			var later []laterWrite
			var points []crashPoint
			stage := "open"
			f.onOp = func() {
				if rng.IntN(6) == 0 {
					points = append(points, crashPoint{img: f.crash(rng), synced: slices.Clone(synced), later: slices.Clone(later), desc: stage})
				}
			}
			o, err := openStorage(f, base, *opts, start == nil)
			require.NoError(t, err)
			for op := range 40 {
				if rng.IntN(5) == 0 {
					stage = fmt.Sprintf("sync after op %d", op)
					require.NoError(t, o.Sync())
					synced = slices.Clone(cur)
					later = nil
					continue
				}
				n := 1 + rng.IntN(int(8*cs))
				off := rng.Int64N(size - int64(n) + 1)
				if rng.IntN(8) == 0 {
					p := make([]byte, n)
					later = append(later, laterWrite{off, p})
					stage = fmt.Sprintf("discard %d@%d (op %d)", n, off, op)
					require.NoError(t, o.Discard(off, int64(n)))
					copy(cur[off:], p)
					continue
				}
				p := randomBytes(n, rng.Uint64())
				later = append(later, laterWrite{off, p})
				stage = fmt.Sprintf("write %d@%d (op %d)", n, off, op)
				_, err := o.WriteAt(p, off)
				require.NoError(t, err)
				copy(cur[off:], p)
			}
			f.onOp = nil
			points = append(points, crashPoint{img: f.crash(rng), synced: slices.Clone(synced), later: slices.Clone(later), desc: "end"})
			var gots [][]byte
			for _, cp := range points {
				images++
				o, err := openStorage(newCrashFile(cp.img), base, *opts, false)
				require.NoError(t, err, "trial %d gen %d crash during %s", trial, gen, cp.desc)
				got := readAll(t, o)
				gots = append(gots, got)
				for b := range got {
					if got[b] == cp.synced[b] {
						continue
					}
					ok := false
					for _, w := range cp.later {
						if int64(b) >= w.off && int64(b) < w.off+int64(len(w.data)) && w.data[int64(b)-w.off] == got[b] {
							ok = true
							break
						}
					}
					if !ok {
						require.Failf(t, "bad byte after power cut", "trial %d gen %d crash during %s: byte %d = %#x, synced %#x, no later write explains it", trial, gen, cp.desc, b, got[b], cp.synced[b])
					}
				}
			}
			k := rng.IntN(len(points))
			start, startContent = points[k].img, gots[k]
		}
	}
	t.Logf("%d crash images verified", images)
}

// crashKeeping returns the image where every sector has its newest version
// except those for which durable reports true, which keep their durable one.
func (f *crashFile) crashKeeping(durable func(sector int64) bool) []byte {
	img := make([]byte, len(f.cur))
	copy(img, f.durable)
	for s, v := range f.versions {
		if !durable(s) {
			copy(img[s*512:], v[len(v)-1])
		}
	}
	return img
}

// A crash can leave records in the next area while the current one is not
// full on disk (the records of a commit that crossed an area boundary). They
// are invisible after reopening, and the chunks they name are handed out
// again. When the current area later fills, the next area must be rewritten
// and made durable before the full area is written, or a second crash could
// revive those stale records. This builds exactly that sequence with the
// area-boundary commits of a 512-byte chunk store (32 records per area:
// area 0 = chunk 1, data 2..33, area 1 = chunk 34).
func TestPowerCutStaleNextArea(t *testing.T) {
	const cs = 512
	base, content := memBase(100*cs, 42)
	opts := Options{ChunkSize: cs}
	f := newCrashFile(nil)
	o, err := openStorage(f, base, opts, true)
	require.NoError(t, err)
	chunk := func(v byte) []byte { return bytes.Repeat([]byte{v}, cs) }
	want := slices.Clone(content)
	for c := range 30 {
		_, err := o.WriteAt(chunk(byte(c+1)), int64(c)*cs)
		require.NoError(t, err)
		copy(want[c*cs:], chunk(byte(c+1)))
	}
	area0Before := slices.Clone(f.cur[1*cs : 2*cs])
	// One commit of three records: slots 30 and 31 of area 0, slot 0 of area 1.
	_, err = o.WriteAt(bytes.Repeat([]byte{0xEE}, 3*cs), 30*cs)
	require.NoError(t, err)
	require.Equal(t, entry{old: 32, new: 35}, getEntry(f.cur[34*cs:]), "layout assumption")
	// Crash with area 1 on disk but area 0 still holding 30 records.
	img := slices.Clone(f.cur)
	copy(img[1*cs:], area0Before)

	f = newCrashFile(img)
	o, err = openStorage(f, base, opts, false)
	require.NoError(t, err)
	requireSameBytes(t, want, readAll(t, o), "the unacknowledged write is lost, nothing else")
	area1 := func(s int64) bool { return s == 34 }
	var images [][]byte
	f.onOp = func() { images = append(images, f.crashKeeping(area1)) }
	for i, c := range []int64{40, 41, 42} { // fills area 0, then continues in area 1
		_, err := o.WriteAt(chunk(byte(0xA0+i)), c*cs)
		require.NoError(t, err)
	}
	f.onOp = nil
	for i, img := range images {
		o, err := openStorage(newCrashFile(img), base, opts, false)
		require.NoError(t, err, "image %d", i)
		got := readAll(t, o)
		requireSameBytes(t, want[:40*cs], got[:40*cs], "image %d: a stale record revived a lost write", i)
	}
	require.NotEmpty(t, images)
}

// A commit whose records span two sectors of an area can be torn: the
// second sector durable, the first not. The records in the second sector
// are then invisible (the table ends at the first zero record) but still on
// disk; the first commit after reopening must rewrite the whole area, or the
// stale records come back as soon as the gap before them is filled.
// (2048-byte chunks: an area is 4 sectors of 32 records; area 0 = chunk 1.)
func TestPowerCutTornArea(t *testing.T) {
	const cs = 2048
	base, content := memBase(100*cs, 43)
	opts := Options{ChunkSize: cs}
	f := newCrashFile(nil)
	o, err := openStorage(f, base, opts, true)
	require.NoError(t, err)
	chunk := func(v byte) []byte { return bytes.Repeat([]byte{v}, cs) }
	want := slices.Clone(content)
	for c := range 30 {
		_, err := o.WriteAt(chunk(byte(c+1)), int64(c)*cs)
		require.NoError(t, err)
		copy(want[c*cs:], chunk(byte(c+1)))
	}
	sector0Before := slices.Clone(f.cur[cs : cs+512])
	_, err = o.WriteAt(bytes.Repeat([]byte{0xEE}, 4*cs), 30*cs) // records in slots 30..33
	require.NoError(t, err)
	require.Equal(t, uint64(33), getEntry(f.cur[cs+33*16:]).old, "layout assumption")
	img := slices.Clone(f.cur)
	copy(img[cs:], sector0Before) // torn: sector 1 of the area durable, sector 0 not

	f = newCrashFile(img)
	o, err = openStorage(f, base, opts, false)
	require.NoError(t, err)
	requireSameBytes(t, want, readAll(t, o), "the unacknowledged write is lost, nothing else")
	for i, c := range []int64{50, 51} { // slots 30 and 31 again
		_, err := o.WriteAt(chunk(byte(0xA0+i)), c*cs)
		require.NoError(t, err)
		copy(want[c*cs:], chunk(byte(0xA0+i)))
	}
	o, err = openStorage(newCrashFile(f.crashKeeping(func(int64) bool { return false })), base, opts, false)
	require.NoError(t, err)
	requireSameBytes(t, want, readAll(t, o), "a stale record revived a lost write")
}
