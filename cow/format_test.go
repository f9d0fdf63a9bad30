package cow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The worked example of the spec note: chunk 8 sectors = 4096 bytes, 256
// records per area, area k at chunk 1+257k.
func TestLayoutWorkedExample(t *testing.T) {
	const cs = 4096
	base, content := memBase(300*cs, 1)
	path := filepath.Join(t.TempDir(), "cow")
	o, err := Create(path, base, &Options{ChunkSize: cs})
	require.NoError(t, err)

	data := bytes.Repeat([]byte{0xAB}, cs)
	_, err = o.WriteAt(data, 5*cs) // origin chunk 5 -> new chunk 2
	require.NoError(t, err)
	require.NoError(t, o.Close())

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, raw, 3*cs, "header, area 0, one data chunk")
	assert.Equal(t, []byte{0x53, 0x6e, 0x41, 0x70, 1, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0}, raw[:16], "dm header")
	assert.Equal(t, []byte(recordMagic), raw[16:24], "our base record follows dm's 16 bytes")
	assert.Equal(t, uint64(300*cs), binary.LittleEndian.Uint64(raw[24:32]))
	id, err := base.Identity()
	require.NoError(t, err)
	assert.Equal(t, id[:], raw[32:64])
	assert.Equal(t, make([]byte, cs-recordOff-recordLen), raw[recordOff+recordLen:cs], "rest of the header chunk is zero")
	assert.Equal(t, []byte{5, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0}, raw[cs:cs+16], "area 0 first record")
	assert.Equal(t, make([]byte, cs-16), raw[cs+16:2*cs], "end of table")
	assert.Equal(t, data, raw[2*cs:3*cs], "chunk 2 holds the data")

	// Reopen and read back: chunk 5 from the overlay, the rest from the base.
	o, err = Open(path, base, nil)
	require.NoError(t, err)
	defer o.Close()
	want := append([]byte(nil), content...)
	copy(want[5*cs:], data)
	requireSameBytes(t, want, readAll(t, o))
}

// Filling area 0 (256 records) continues in area 1 at chunk 258; the chunk
// handed out after 257 (the last data chunk of area 0) is 259, also after a
// reopen at exactly that point (the skip_metadata fix).
func TestLayoutAreaBoundaryAndReopen(t *testing.T) {
	const cs = 4096
	base, content := memBase(600*cs, 2)
	path := filepath.Join(t.TempDir(), "cow")
	o, err := Create(path, base, &Options{ChunkSize: cs})
	require.NoError(t, err)
	chunk := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8), 0xC0, 0x11}, cs/4) }
	for i := range 256 { // old chunk 10+i -> new chunk 2+i, last one 257
		_, err := o.WriteAt(chunk(i), int64(10+i)*cs)
		require.NoError(t, err)
	}
	require.NoError(t, o.Close())

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, raw, 259*cs, "header + area 0 + 256 data chunks + zeroed area 1")
	for i := range 256 {
		e := getEntry(raw[cs+i*16:])
		require.Equal(t, entry{old: uint64(10 + i), new: uint64(2 + i)}, e, "record %d", i)
	}
	assert.Equal(t, make([]byte, cs), raw[258*cs:259*cs], "area 1 written as zeros when area 0 filled")

	o, err = Open(path, base, nil)
	require.NoError(t, err)
	_, err = o.WriteAt(chunk(999), 500*cs)
	require.NoError(t, err)
	require.NoError(t, o.Close())
	raw, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, entry{old: 500, new: 259}, getEntry(raw[258*cs:]), "area 1 first record skips metadata chunk 258")
	assert.Equal(t, chunk(999), raw[259*cs:260*cs])

	o, err = Open(path, base, nil)
	require.NoError(t, err)
	defer o.Close()
	want := append([]byte(nil), content...)
	for i := range 256 {
		copy(want[(10+i)*cs:], chunk(i))
	}
	copy(want[500*cs:], chunk(999))
	requireSameBytes(t, want, readAll(t, o))
	assert.Equal(t, 257, o.Stats().Chunks)
}

// linuxStore builds, byte by byte, a store as Linux dm-snapshot writes it:
// header with zeros after byte 16, areas of records, data chunks.
type linuxStore struct {
	cs  int
	buf []byte
}

func newLinuxStore(cs, chunks int) *linuxStore {
	s := &linuxStore{cs: cs, buf: make([]byte, cs*chunks)}
	binary.LittleEndian.PutUint32(s.buf[0:], 0x70416E53)
	binary.LittleEndian.PutUint32(s.buf[4:], 1)
	binary.LittleEndian.PutUint32(s.buf[8:], 1)
	binary.LittleEndian.PutUint32(s.buf[12:], uint32(cs/512))
	return s
}

func (s *linuxStore) record(area, slot int, old, new uint64) {
	epa := s.cs / 16
	off := (1+(epa+1)*area)*s.cs + slot*16
	binary.LittleEndian.PutUint64(s.buf[off:], old)
	binary.LittleEndian.PutUint64(s.buf[off+8:], new)
}

func (s *linuxStore) data(chunk int, b []byte) { copy(s.buf[chunk*s.cs:], b) }

func (s *linuxStore) write(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "linux-cow")
	require.NoError(t, os.WriteFile(path, s.buf, 0o600))
	return path
}

func TestOpenLinuxMadeStore(t *testing.T) {
	const cs = 1024 // 2 sectors, 64 records per area, area k at 1+65k
	const epa = cs / 16
	base, content := memBase(200*cs, 3)
	s := newLinuxStore(cs, 140)
	want := append([]byte(nil), content...)
	// area 0 full: old chunks 100.. -> new chunks 2..65; area 1 (chunk 66)
	// holds three more, the highest new chunk being 69.
	for i := range epa {
		d := bytes.Repeat([]byte{byte(i + 1)}, cs)
		s.record(0, i, uint64(100+i), uint64(2+i))
		s.data(2+i, d)
		copy(want[(100+i)*cs:], d)
	}
	for i, nc := range []uint64{67, 69, 68} {
		d := bytes.Repeat([]byte{0xF0 + byte(i)}, cs)
		s.record(1, i, uint64(i), nc)
		s.data(int(nc), d)
		copy(want[i*cs:], d)
	}
	path := s.write(t)

	o, err := Open(path, base, &Options{ChunkSize: 4096}) // on-disk chunk size wins
	require.NoError(t, err)
	assert.Equal(t, int64(cs), o.ChunkSize())
	requireSameBytes(t, want, readAll(t, o))
	assert.Equal(t, epa+3, o.Stats().Chunks)

	// The next allocation is 70 (after the highest, 69), recorded in area 1 slot 3.
	d := bytes.Repeat([]byte{0x77}, 10)
	_, err = o.WriteAt(d, 180*cs+7)
	require.NoError(t, err)
	require.NoError(t, o.Close())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, entry{old: 180, new: 70}, getEntry(raw[66*cs+3*16:]))
	assert.Equal(t, make([]byte, 16), raw[66*cs+4*16:66*cs+5*16])
	assert.Equal(t, make([]byte, recordLen), raw[recordOff:recordOff+recordLen], "a Linux store gets no base record")
	copy(want[180*cs+7:], d)
	requireSameBytes(t, want[180*cs:181*cs], raw[70*cs:71*cs], "partial write copied the rest of the chunk from the base")
}

func TestOpenEmptyFileFormats(t *testing.T) {
	base, content := memBase(64<<10, 4)
	for _, size := range []int{0, 4096, 1 << 20} {
		path := filepath.Join(t.TempDir(), "zero")
		require.NoError(t, os.WriteFile(path, make([]byte, size), 0o600))
		o, err := Open(path, base, &Options{ChunkSize: 4096})
		require.NoError(t, err, "a zero-filled file is a new store")
		assert.Equal(t, content, readAll(t, o))
		require.NoError(t, o.Close())
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, []byte("SnAp"), raw[:4])
	}
}

func TestOpenRefusesCorruptStores(t *testing.T) {
	const cs = 1024
	base, _ := memBase(100*cs, 5)
	tests := []struct {
		name string
		edit func(s *linuxStore)
		want error
	}{
		{"bad magic", func(s *linuxStore) { s.buf[0] = 'X' }, ErrNotOverlay},
		{"version 2", func(s *linuxStore) { s.buf[8] = 2 }, ErrCorrupt},
		{"chunk size 0", func(s *linuxStore) { binary.LittleEndian.PutUint32(s.buf[12:], 0) }, ErrCorrupt},
		{"chunk size 3 sectors", func(s *linuxStore) { binary.LittleEndian.PutUint32(s.buf[12:], 3) }, ErrCorrupt},
		{"chunk size too large", func(s *linuxStore) { binary.LittleEndian.PutUint32(s.buf[12:], 1<<20) }, ErrCorrupt},
		{"invalidated", func(s *linuxStore) { s.buf[4] = 0 }, ErrInvalidated},
		{"points at header", func(s *linuxStore) { s.record(0, 0, 3, 1) }, ErrCorrupt},
		{"points at metadata area 1", func(s *linuxStore) { s.record(0, 0, 3, 66) }, ErrCorrupt},
		{"past end of file", func(s *linuxStore) { s.record(0, 0, 3, 100) }, ErrCorrupt},
		{"past end of base", func(s *linuxStore) { s.record(0, 0, 100, 2) }, ErrCorrupt},
		{"duplicate old chunk", func(s *linuxStore) { s.record(0, 0, 3, 2); s.record(0, 1, 3, 3) }, ErrCorrupt},
		{"shared new chunk", func(s *linuxStore) { s.record(0, 0, 3, 2); s.record(0, 1, 4, 2) }, ErrCorrupt},
		{"bad base record crc", func(s *linuxStore) {
			encodeHeader(s.buf, cs, &baseRecord{size: 100 * cs})
			s.buf[recordOff+20] ^= 1
		}, ErrCorrupt},
		{"other base size", func(s *linuxStore) { encodeHeader(s.buf, cs, &baseRecord{size: 99 * cs}) }, ErrBaseMismatch},
		{"other base content", func(s *linuxStore) { encodeHeader(s.buf, cs, &baseRecord{size: 100 * cs}) }, ErrBaseMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLinuxStore(cs, 80)
			tt.edit(s)
			_, err := Open(s.write(t), base, nil)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.want)
			var ce *CorruptError
			assert.Equal(t, errors.Is(tt.want, ErrCorrupt), errors.As(err, &ce))
		})
	}
}

func TestOpenRefusesWrongBase(t *testing.T) {
	base, _ := memBase(1<<20, 6)
	path := filepath.Join(t.TempDir(), "cow")
	o, err := Create(path, base, nil)
	require.NoError(t, err)
	require.NoError(t, o.Close())

	other, _ := memBase(1<<20, 7)
	_, err = Open(path, other, nil)
	assert.ErrorIs(t, err, ErrBaseMismatch)
	bigger, _ := memBase(2<<20, 6)
	_, err = Open(path, bigger, nil)
	assert.ErrorIs(t, err, ErrBaseMismatch)

	o, err = Open(path, base, nil)
	require.NoError(t, err)
	require.NoError(t, o.Close())
}

func TestErrorsMatchBlockDeviceContract(t *testing.T) {
	assert.ErrorIs(t, ErrFull, syscall.ENOSPC)
	assert.ErrorIs(t, ErrReadOnly, os.ErrPermission)
	assert.ErrorIs(t, ErrClosed, os.ErrClosed)
}
