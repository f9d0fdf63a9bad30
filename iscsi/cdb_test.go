package iscsi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCDB(t *testing.T) {
	tests := []struct {
		name   string
		cdb    []byte
		lba    uint64
		length uint32
		fua    bool
	}{
		{"READ(6) zero means 256", []byte{0x08, 0x1F, 0xFF, 0xFF, 0x00, 0}, 0x1FFFFF, 256, false},
		{"WRITE(6)", []byte{0x0A, 0x00, 0x01, 0x00, 0x08, 0}, 256, 8, false},
		{"READ(10) FUA", []byte{0x28, 0x08, 0, 0, 0x10, 0, 0, 0x00, 0x20, 0}, 0x1000, 32, true},
		{"WRITE(12)", []byte{0xAA, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0}, 1, 65536, false},
		{"READ(16)", []byte{0x88, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}, 1 << 32, 8, false},
		{"COMPARE AND WRITE", []byte{0x89, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0}, 9, 2, false},
		{"INQUIRY alloc", []byte{0x12, 1, 0x83, 0x01, 0x00, 0}, 0, 256, false},
		{"REPORT LUNS alloc", []byte{0xA0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}, 0, 4096, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCDB(tt.cdb)
			require.NoError(t, err)
			assert.Equal(t, tt.lba, c.LBA)
			assert.Equal(t, tt.length, c.Length)
			assert.Equal(t, tt.fua, c.FUA())
		})
	}
	_, err := ParseCDB([]byte{0x28, 0, 0})
	assert.ErrorIs(t, err, ErrBadCDB)
	_, err = ParseCDB(nil)
	assert.ErrorIs(t, err, ErrBadCDB)
	_, err = ParseCDB([]byte{0x7F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	assert.ErrorIs(t, err, ErrBadCDB)
	c, err := ParseCDB([]byte{0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0})
	require.NoError(t, err)
	assert.Equal(t, byte(0x10), c.ServiceAction)
	assert.Equal(t, uint32(32), c.Length)
}

func TestLUNEncoding(t *testing.T) {
	for _, id := range []uint64{0, 1, 255, 256, 16383} {
		got, ok := decodeLUN(encodeLUN(id))
		assert.True(t, ok)
		assert.Equal(t, id, got)
	}
	_, ok := decodeLUN(0x0001000000000000 | 1) // second level set
	assert.False(t, ok)
}

func TestSenseFormats(t *testing.T) {
	fixed := appendSense(nil, scLBAOutOfRange, false, 0, false, 0)
	require.Len(t, fixed, 18)
	assert.Equal(t, []byte{0x70, 0, 0x05}, fixed[:3])
	assert.Equal(t, byte(10), fixed[7])
	assert.Equal(t, []byte{0x21, 0x00}, fixed[12:14])
	info := appendSense(nil, scMiscompare, false, 0x1234, true, 0)
	assert.Equal(t, byte(0xF0), info[0])
	assert.Equal(t, []byte{0, 0, 0x12, 0x34}, info[3:7])
	desc := appendSense(nil, scMiscompare, true, 7, true, 0)
	assert.Equal(t, []byte{0x72, 0x0E, 0x1D, 0x00}, desc[:4])
	assert.Equal(t, byte(12), desc[7])
	assert.Equal(t, byte(7), desc[19])
}

// FuzzExecuteCDB runs arbitrary CDBs and data-out through a logical unit:
// every input must end in a status, never a panic or an out-of-range access.
func FuzzExecuteCDB(f *testing.F) {
	f.Add([]byte{0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, []byte{}, uint32(512))
	f.Add([]byte{0x2A, 0x08, 0, 0, 0, 1, 0, 0, 1, 0}, make([]byte, 512), uint32(512))
	f.Add([]byte{0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0}, []byte{0, 22, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0}, uint32(24))
	f.Add([]byte{0x5F, 0x00, 0, 0, 0, 0, 0, 0, 24, 0}, make([]byte, 24), uint32(24))
	f.Add([]byte{0x12, 1, 0x83, 0, 255, 0}, []byte{}, uint32(255))
	f.Add([]byte{0x55, 0x10, 0, 0, 0, 0, 0, 0, 20, 0}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0x0A, 0x0A, 4, 0, 8, 0, 0, 0, 0, 0, 0, 0}, uint32(20))
	f.Add([]byte{0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, make([]byte, 1024), uint32(1024))
	f.Fuzz(func(t *testing.T, cdb, out []byte, edtl uint32) {
		ts := newTestState(t, 64)
		if edtl > 1<<20 {
			edtl = 1 << 20
		}
		if len(cdb) > 32 {
			cdb = cdb[:32]
		}
		c := &scsiCmd{cdb: cdb, edtl: int(edtl), out: out, nexus: "iqn.fuzz,i,0x1", pool: &bufPool{}}
		ts.execute(c)
		if c.status == StatusCheckCondition && len(c.sense) < 8 {
			t.Fatal("check condition without sense")
		}
	})
}

func newTestState(t testing.TB, blocks int) *targetState {
	dev := &memDevice{b: make([]byte, blocks*512)}
	u, err := newLogicalUnit("iqn.test", 0, LUN{Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	return &targetState{name: "iqn.test", units: []*logicalUnit{u}, nexuses: map[string]int{}}
}
