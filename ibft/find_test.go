package ibft

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFindInBaseMemory(t *testing.T) {
	real, err := os.ReadFile(goldenIPXE)
	if err != nil {
		real = ipxeFixture(t)
	}
	mem := make([]byte, LegacyEnd-LegacyStart)
	// A decoy: right signature, garbage after it.
	copy(mem[0x1000:], "iBFT\x10\x00\x00\x00")
	// An IBFT-spelled table: Linux's legacy scan does not look for it.
	acpi := workedExample()
	acpi.Signature = SignatureACPI
	ab, err := acpi.MarshalBinary()
	require.NoError(t, err)
	copy(mem[0x2000:], ab)
	// A table inside the VGA hole is not looked at either.
	copy(mem[0xa0000-LegacyStart+0x100:], real)
	_, tb := Find(mem, LegacyStart)
	assert.Nil(t, tb)
	// iPXE's table where it really was (0x9e620).
	copy(mem[0x9e620-LegacyStart:], real)
	off, tb := Find(mem, LegacyStart)
	require.NotNil(t, tb)
	assert.Equal(t, 0x9e620-LegacyStart, off)
	assert.Equal(t, "FENSYS", tb.OEMID)

	// Not 16-byte aligned: not found.
	mem2 := make([]byte, 0x1000)
	copy(mem2[0x108:], real)
	off, tb = Find(mem2, LegacyStart)
	assert.Equal(t, -1, off)
	assert.Nil(t, tb)

	// A short image starting below the range.
	mem3 := make([]byte, 0x100+len(real))
	copy(mem3[0x100:], real)
	off, tb = Find(mem3, LegacyStart-0x100)
	assert.Equal(t, 0x100, off)
	require.NotNil(t, tb)
	off, tb = Find(nil, 0)
	assert.Equal(t, -1, off)
	assert.Nil(t, tb)
}
