package cow

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Many goroutines write their own sectors, interleaved so that every chunk
// is shared by all of them: concurrent first writes to one chunk must not
// lose each other's sectors (the copy-from-base of one must not overwrite
// the data of another). Readers run meanwhile. Run with -race.
func TestConcurrentSharedChunks(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			const cs = 4096
			const chunks = 48
			const G = 8 // sectors per chunk: each goroutine owns one sector of every chunk
			base, content := memBase(chunks*cs, 21)
			o := k.make(t, base, &Options{ChunkSize: cs})
			defer o.Close()
			iters := 400
			if testing.Short() {
				iters = 100
			}
			models := make([][]byte, G)
			var wg sync.WaitGroup
			for g := range G {
				models[g] = append([]byte(nil), content...)
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 99))
					m := models[g]
					buf := make([]byte, 512)
					for i := range iters {
						off := int64(rng.IntN(chunks))*cs + int64(g)*512
						if rng.IntN(3) == 0 {
							// read back one of our sectors
							if _, err := o.ReadAt(buf, off); err != nil {
								t.Error(err)
								return
							}
							if string(buf) != string(m[off:off+512]) {
								t.Errorf("goroutine %d iter %d: sector at %d lost its data", g, i, off)
								return
							}
							continue
						}
						p := randomBytes(512, rng.Uint64())
						if _, err := o.WriteAt(p, off); err != nil {
							t.Error(err)
							return
						}
						copy(m[off:], p)
					}
				}()
			}
			// A reader of whole ranges: must never fail (content is checked at the end).
			stop := make(chan struct{})
			var rwg sync.WaitGroup
			rwg.Add(1)
			go func() {
				defer rwg.Done()
				buf := make([]byte, 3*cs+100)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := o.ReadAt(buf, int64(i%(chunks-4))*cs+7); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			wg.Wait()
			close(stop)
			rwg.Wait()
			got := readAll(t, o)
			want := append([]byte(nil), content...)
			for off := 0; off < len(want); off += 512 {
				g := (off % cs) / 512
				copy(want[off:off+512], models[g][off:off+512])
			}
			requireSameBytes(t, want, got)
		})
	}
}

// stampSector fills a 512-byte sector with a self-checking record of who
// wrote it: writer, sequence, sector number, CRC.
func stampSector(b []byte, writer, seq, sector uint64) {
	binary.LittleEndian.PutUint64(b[0:], writer)
	binary.LittleEndian.PutUint64(b[8:], seq)
	binary.LittleEndian.PutUint64(b[16:], sector)
	for i := 24; i < 508; i++ {
		b[i] = byte(writer*31 + seq*7 + sector + uint64(i))
	}
	binary.LittleEndian.PutUint32(b[508:], crc32.ChecksumIEEE(b[:508]))
}

// parseStamp returns the stamp in a sector, if it holds a valid one.
func parseStamp(b []byte) (writer, seq, sector uint64, ok bool) {
	if crc32.ChecksumIEEE(b[:508]) != binary.LittleEndian.Uint32(b[508:]) {
		return 0, 0, 0, false
	}
	return binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:]), true
}

// Overlapping writes to the same chunks from many goroutines: afterwards
// every sector holds either base content or a whole sector written for that
// very position, never a mix or another position's data.
func TestConcurrentOverlappingWrites(t *testing.T) {
	const cs = 4096
	const chunks = 8
	base, content := memBase(chunks*cs, 22)
	o, err := Create(filepath.Join(t.TempDir(), "cow"), base, &Options{ChunkSize: cs})
	require.NoError(t, err)
	defer o.Close()
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for seq := range 150 {
				first := rng.IntN(chunks * cs / 512)
				n := 1 + rng.IntN(min(20, chunks*cs/512-first))
				p := make([]byte, n*512)
				for s := range n {
					stampSector(p[s*512:], uint64(g), uint64(seq), uint64(first+s))
				}
				if _, err := o.WriteAt(p, int64(first)*512); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := readAll(t, o)
	written := 0
	for s := 0; s < chunks*cs/512; s++ {
		sec := got[s*512 : s*512+512]
		if string(sec) == string(content[s*512:s*512+512]) {
			continue
		}
		_, _, sector, ok := parseStamp(sec)
		require.True(t, ok, "sector %d is neither base nor a whole written sector", s)
		require.Equal(t, uint64(s), sector, "sector %d holds data written for sector %d", s, sector)
		written++
	}
	require.Positive(t, written)
}
