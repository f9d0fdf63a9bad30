package rootpath

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The LUN text ↔ bytes table of specs/rootpath.md §1, plus canonical
// printing and the integer views.
func TestLUNTextBytes(t *testing.T) {
	tests := []struct {
		text  string
		bytes LUN
		canon string
		small int // -1: not a small integer
		linux uint64
	}{
		{"", LUN{}, "0", 0, 0},
		{"0", LUN{}, "0", 0, 0},
		{"0-0-0-0", LUN{}, "0", 0, 0},
		{"1", lunBytes(0, 1), "1", 1, 1},
		{"0001", lunBytes(0, 1), "1", 1, 1},
		{"10", lunBytes(0, 0x10), "10", 16, 16},
		{"ff", lunBytes(0, 0xff), "ff", 255, 255},
		{"412c", lunBytes(0x41, 0x2c), "412c", 300, 0x412c},
		{"7FFF", lunBytes(0x7f, 0xff), "7fff", 0x3fff, 0x7fff},
		{"100", lunBytes(1, 0), "100", -1, 0x100}, // peripheral addressing with bus 1
		{"c000", lunBytes(0xc0, 0), "c000", -1, 0xc000},
		{"1-7", lunBytes(0, 1, 0, 7), "1-7", -1, 0x0007_0001},
		{"1-0", lunBytes(0, 1), "1", 1, 1},
		{"0-1", lunBytes(0, 0, 0, 1), "0-1", -1, 0x0001_0000},
		{"4752-3a4f-6b7e-2f99", lunBytes(0x47, 0x52, 0x3a, 0x4f, 0x6b, 0x7e, 0x2f, 0x99), "4752-3a4f-6b7e-2f99", -1, 0x2f99_6b7e_3a4f_4752},
		{"6734-9-156f-127", lunBytes(0x67, 0x34, 0, 9, 0x15, 0x6f, 1, 0x27), "6734-9-156f-127", -1, 0x0127_156f_0009_6734},
		{"4186-9", lunBytes(0x41, 0x86, 0, 9), "4186-9", -1, 0x0009_4186},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			l, err := ParseLUN(tc.text)
			require.NoError(t, err)
			assert.Equal(t, tc.bytes, l)
			assert.Equal(t, tc.canon, l.String())
			n, ok := l.Int()
			if tc.small < 0 {
				assert.False(t, ok, "Int() = %d", n)
			} else {
				assert.True(t, ok)
				assert.Equal(t, tc.small, n)
			}
			assert.Equal(t, tc.linux, l.Linux())
			assert.Equal(t, l, LinuxLUN(tc.linux))
		})
	}
}

func TestIntLUN(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want LUN
	}{
		{0, LUN{}}, {1, lunBytes(0, 1)}, {255, lunBytes(0, 0xff)},
		{256, lunBytes(0x41, 0x00)}, {300, lunBytes(0x41, 0x2c)}, {16383, lunBytes(0x7f, 0xff)},
	} {
		l, err := IntLUN(tc.n)
		require.NoError(t, err)
		assert.Equal(t, tc.want, l, "IntLUN(%d)", tc.n)
		back, ok := l.Int()
		assert.True(t, ok)
		assert.Equal(t, tc.n, back)
	}
	for _, n := range []int{-1, 16384, 1 << 40} {
		_, err := IntLUN(n)
		assert.ErrorIs(t, err, ErrRange, "IntLUN(%d)", n)
	}
}

func TestLUNErrors(t *testing.T) {
	for _, tc := range []struct {
		in     string
		reason error
	}{
		{"1-2-3-4-5", ErrRange}, {"12345", ErrRange}, {"1--2", ErrSyntax}, {"-1", ErrSyntax},
		{"1-", ErrSyntax}, {"0x1", ErrSyntax}, {"g", ErrSyntax}, {" 1", ErrSyntax}, {"１", ErrSyntax},
	} {
		_, err := ParseLUN(tc.in)
		var perr *Error
		require.True(t, errors.As(err, &perr), "ParseLUN(%q) = %v", tc.in, err)
		assert.Equal(t, FieldLUN, perr.Field)
		assert.ErrorIs(t, err, tc.reason, "ParseLUN(%q)", tc.in)
	}
}

func TestLUNText(t *testing.T) {
	type cfg struct {
		LUN LUN `json:"lun"`
	}
	b, err := json.Marshal(cfg{LUN: lunBytes(0, 1, 0, 7)})
	require.NoError(t, err)
	assert.JSONEq(t, `{"lun":"1-7"}`, string(b))
	var c cfg
	require.NoError(t, json.Unmarshal([]byte(`{"lun":"412C"}`), &c))
	assert.Equal(t, lunBytes(0x41, 0x2c), c.LUN)
	assert.ErrorIs(t, json.Unmarshal([]byte(`{"lun":"1--2"}`), &c), ErrSyntax)
}

func TestWWN(t *testing.T) {
	w, err := ParseWWN("20:00:00:25:B5:00:00:0F")
	require.NoError(t, err)
	assert.Equal(t, WWN{0x20, 0, 0, 0x25, 0xb5, 0, 0, 0x0f}, w)
	assert.Equal(t, "20:00:00:25:b5:00:00:0f", w.String())
	for _, bad := range []string{"", "20:00:00:25:b5:00:00", "20-00-00-25-b5-00-00-0f", "20:00:00:25:b5:00:00:0g", "2000:0025:b500:000f:00"} {
		_, err := ParseWWN(bad)
		assert.ErrorIs(t, err, ErrSyntax, "%q", bad)
	}
}
