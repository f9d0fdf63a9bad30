package iscsi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCRC32CVectors(t *testing.T) {
	inc := make([]byte, 32)
	dec := make([]byte, 32)
	for i := range inc {
		inc[i] = byte(i)
		dec[i] = byte(31 - i)
	}
	tests := []struct {
		name string
		in   []byte
		want uint32
		wire []byte
	}{
		{"zeros", make([]byte, 32), 0x8A9136AA, []byte{0xaa, 0x36, 0x91, 0x8a}},
		{"ones", bytes.Repeat([]byte{0xFF}, 32), 0x62A8AB43, []byte{0x43, 0xab, 0xa8, 0x62}},
		{"incrementing", inc, 0x46DD794E, []byte{0x4e, 0x79, 0xdd, 0x46}},
		{"decrementing", dec, 0x113FDB5C, []byte{0x5c, 0xdb, 0x3f, 0x11}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, CRC32C(tt.in))
			assert.Equal(t, tt.wire, binary.LittleEndian.AppendUint32(nil, CRC32C(tt.in)))
		})
	}
}

func samplePDU() *PDU {
	p := &PDU{Data: []byte("hello, target")}
	p.BHS[0] = byte(OpNOPOut) | 0x40
	p.BHS[1] = 0x80
	p.BHS.PutU32(16, 0x1234)
	p.BHS.PutU32(20, ReservedTag)
	return p
}

func TestPDURoundTrip(t *testing.T) {
	for _, dg := range []Digests{{}, {Header: true}, {Data: true}, {Header: true, Data: true}} {
		p := samplePDU()
		p.AHS = []byte{0x00, 0x05, 0x02, 0x00, 0, 0, 0x10, 0} // bidi read length AHS (8 bytes)
		wire := AppendPDU(nil, p, dg)
		want := BHSLen + 8 + 16
		if dg.Header {
			want += 4
		}
		if dg.Data {
			want += 4
		}
		require.Len(t, wire, want, "digests %+v", dg)
		got, n, err := DecodePDU(wire, dg, 8192)
		require.NoError(t, err)
		assert.Equal(t, len(wire), n)
		assert.Equal(t, p.Data, got.Data)
		assert.Equal(t, OpNOPOut, got.BHS.Opcode())
		assert.True(t, got.BHS.Immediate())
		assert.Equal(t, uint32(0x1234), got.BHS.ITT())
		assert.Equal(t, 13, got.BHS.DataSegmentLength())
		assert.Equal(t, p.AHS, got.AHS)
	}
}

func TestPDUErrors(t *testing.T) {
	good := AppendPDU(nil, samplePDU(), Digests{Header: true, Data: true})
	t.Run("header digest", func(t *testing.T) {
		b := bytes.Clone(good)
		b[20] ^= 1
		_, _, err := DecodePDU(b, Digests{Header: true, Data: true}, 8192)
		assert.ErrorIs(t, err, ErrHeaderDigest)
	})
	t.Run("data digest", func(t *testing.T) {
		b := bytes.Clone(good)
		b[BHSLen+4] ^= 1
		_, _, err := DecodePDU(b, Digests{Header: true, Data: true}, 8192)
		assert.ErrorIs(t, err, ErrDataDigest)
	})
	t.Run("padding covered by data digest", func(t *testing.T) {
		b := bytes.Clone(good)
		b[len(b)-5] = 1 // last pad byte
		_, _, err := DecodePDU(b, Digests{Header: true, Data: true}, 8192)
		assert.ErrorIs(t, err, ErrDataDigest)
	})
	t.Run("too long", func(t *testing.T) {
		_, _, err := DecodePDU(good, Digests{Header: true, Data: true}, 8)
		assert.ErrorIs(t, err, ErrDataTooLong)
	})
	t.Run("truncated", func(t *testing.T) {
		for i := 1; i < len(good); i++ {
			_, _, err := DecodePDU(good[:i], Digests{Header: true, Data: true}, 8192)
			assert.True(t, errors.Is(err, io.ErrUnexpectedEOF), "cut at %d: %v", i, err)
		}
		_, _, err := DecodePDU(nil, Digests{}, 8192)
		assert.ErrorIs(t, err, io.EOF)
	})
	t.Run("AHS overrun", func(t *testing.T) {
		p := samplePDU()
		p.AHS = []byte{0x00, 0x20, 0x01, 0x00} // claims 32 bytes, has 1
		_, _, err := DecodePDU(AppendPDU(nil, p, Digests{}), Digests{}, 8192)
		assert.ErrorIs(t, err, ErrMalformedPDU)
	})
}

func TestCDBOfExtended(t *testing.T) {
	var h BHS
	h[32] = 0x7F
	ahs := []byte{0x00, 0x11, 0x01, 0x00} // 32-byte CDB: 16 extra bytes + reserved
	ahs = append(ahs, bytes.Repeat([]byte{0xAB}, 16)...)
	ahs = append(ahs, 0, 0, 0, 0)[:20]
	cdb, ok := cdbOf(&h, ahs)
	require.True(t, ok)
	assert.Len(t, cdb, 32)
	assert.Equal(t, byte(0x7F), cdb[0])
	assert.Equal(t, byte(0xAB), cdb[31])
}

func FuzzDecodePDU(f *testing.F) {
	f.Add(AppendPDU(nil, samplePDU(), Digests{}), false, false)
	f.Add(AppendPDU(nil, samplePDU(), Digests{Header: true, Data: true}), true, true)
	p := samplePDU()
	p.AHS = []byte{0x00, 0x05, 0x02, 0x00, 0, 0, 0x10, 0}
	f.Add(AppendPDU(nil, p, Digests{Header: true}), true, false)
	f.Add([]byte{}, false, false)
	f.Fuzz(func(t *testing.T, b []byte, hd, dd bool) {
		dg := Digests{Header: hd, Data: dd}
		p, n, err := DecodePDU(b, dg, 1<<16)
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		// A decoded PDU re-encodes to the bytes it came from (modulo pad content).
		again, _, err := DecodePDU(AppendPDU(nil, p, dg), dg, 1<<16)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(again.Data, p.Data) || again.BHS != p.BHS {
			t.Fatal("round trip changed the PDU")
		}
		_, _ = cdbOf(&p.BHS, p.AHS)
	})
}
