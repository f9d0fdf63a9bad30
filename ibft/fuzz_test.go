package ibft

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzUnmarshal feeds arbitrary bytes to both decoders. Beyond "no panic,
// no out-of-bounds read" (Go would panic) it checks: the strict decoder
// succeeds only where the lenient one succeeds with nothing skipped and
// the same result; every decoded table re-encodes; and re-encoding is a
// fixed point (bytes → Table → bytes → Table gives the same Table and our
// layout re-encodes to identical bytes).
func FuzzUnmarshal(f *testing.F) {
	seed := func(tb *Table) []byte {
		b, err := tb.MarshalBinary()
		require.NoError(f, err)
		return b
	}
	worked := seed(workedExample())
	f.Add(worked)
	f.Add(seed(fullTable()))
	f.Add(seed(&Table{}))
	f.Add(ipxeFixture(f))
	if real, err := os.ReadFile(goldenIPXE); err == nil {
		f.Add(real)
	}
	f.Add(worked[:100])
	f.Add([]byte("iBFT"))
	bad := bytes.Clone(worked)
	for k := 0; k < 5; k++ {
		binary.LittleEndian.PutUint16(bad[48+8+2*k:], 0xffff)
	}
	bad[9] = 0
	bad[9] = -sum(bad)
	f.Add(bad)
	huge := bytes.Clone(worked)
	binary.LittleEndian.PutUint32(huge[4:], 0xffffffff)
	f.Add(huge)

	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		strict, serr := Parse(b)
		lenient, skipped, lerr := ParseLenient(b)
		require.Equal(t, orig, b, "decoders must not modify their input")
		if serr == nil {
			require.NoError(t, lerr)
			require.Empty(t, skipped)
			require.Equal(t, strict, lenient)
		}
		if lerr != nil {
			require.Error(t, serr)
			return
		}
		for _, e := range skipped {
			var fe *Error
			require.ErrorAs(t, e, &fe)
		}
		out, err := lenient.MarshalBinary()
		require.NoError(t, err, "a decoded table must re-encode")
		again, err := Parse(out)
		require.NoError(t, err)
		assert.Equal(t, lenient, again)
		out2, err := again.MarshalBinary()
		require.NoError(t, err)
		assert.Equal(t, out, out2)
	})
}

// FuzzUnmarshalBody is FuzzUnmarshal past the checksum: it makes the
// header valid (signature, declared length, revision, checksum, control
// structure header) so the fuzzer spends its time on structure offsets,
// ids, lengths and string descriptors.
func FuzzUnmarshalBody(f *testing.F) {
	for _, tb := range []*Table{workedExample(), fullTable(), {}} {
		b, err := tb.MarshalBinary()
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add(ipxeFixture(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < headerLen+controlLen || len(b) > 1<<16 {
			return
		}
		b = bytes.Clone(b)
		copy(b, "iBFT")
		binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
		b[8] = 1
		copy(b[controlOff:], []byte{idControl, 1, controlLen, 0, 0})
		b[9] = 0
		b[9] = -sum(b)
		strict, serr := Parse(b)
		lenient, skipped, lerr := ParseLenient(b)
		require.NoError(t, lerr, "only header defects are fatal to the lenient decoder")
		if serr == nil {
			require.Empty(t, skipped)
			require.Equal(t, strict, lenient)
		} else {
			require.NotEmpty(t, skipped, "strict error %v but lenient skipped nothing", serr)
			require.Equal(t, skipped[0].Error(), serr.Error(), "strict reports the first defect")
		}
		out, err := lenient.MarshalBinary()
		require.NoError(t, err)
		again, err := Parse(out)
		require.NoError(t, err)
		assert.Equal(t, lenient, again)
	})
}

// FuzzReadSysfs feeds arbitrary attribute contents to ReadSysfs.
func FuzzReadSysfs(f *testing.F) {
	f.Add("52:54:00:12:34:56\n", "010000000\n", "192.168.1.50\n", "255.255.255.0", "3260\n")
	f.Add("", "", "2001:0db8:0000:0000:0000:0000:0000:0010\n", "", "")
	f.Fuzz(func(t *testing.T, mac, lun, ip, mask, port string) {
		fsys := mapFS(map[string]string{
			"ethernet0/mac": mac, "ethernet0/ip-addr": ip, "ethernet0/subnet-mask": mask,
			"target0/lun": lun, "target0/port": port, "target0/ip-addr": ip,
		})
		tb, err := ReadSysfs(fsys)
		if err != nil {
			require.ErrorIs(t, err, ErrSysfs)
			return
		}
		// Whatever sysfs said must be encodable.
		_, err = tb.MarshalBinary()
		require.NoError(t, err)
	})
}

// FuzzFind scans arbitrary memory images: no panic, and whatever it finds
// is a table that decodes at a 16-byte aligned address in range.
func FuzzFind(f *testing.F) {
	f.Add(ipxeFixture(f), uint16(0))
	f.Add(append(make([]byte, 0x20), ipxeFixture(f)...), uint16(0x10))
	f.Fuzz(func(t *testing.T, mem []byte, skew uint16) {
		base := LegacyStart - int(skew)
		off, tb := Find(mem, base)
		if tb == nil {
			require.Equal(t, -1, off)
			return
		}
		addr := base + off
		require.Zero(t, addr%16)
		require.True(t, addr >= LegacyStart && addr < LegacyEnd && (addr < vgaStart || addr >= vgaEnd), "address %#x", addr)
		again, err := Parse(mem[off:])
		require.NoError(t, err)
		require.Equal(t, tb, again)
	})
}
