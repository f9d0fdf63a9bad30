package ibft

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// iaslDisassemble runs `iasl -d` on b and returns the .dsl text, or the
// combined output and exit error when iasl refuses.
func iaslDisassemble(t *testing.T, b []byte) (dsl string, out string, err error) {
	t.Helper()
	iasl, lerr := exec.LookPath("iasl")
	if lerr != nil {
		t.Skip("iasl not installed (Debian package acpica-tools)")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "table.bin")
	require.NoError(t, os.WriteFile(in, b, 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, iasl, "-d", in)
	cmd.Dir = dir
	o, err := cmd.CombinedOutput()
	d, _ := os.ReadFile(filepath.Join(dir, "table.dsl"))
	return string(d), string(o), err
}

var iaslField = regexp.MustCompile(`(?m)^\[[0-9A-F]+h [0-9]+ +[0-9]+\] +([A-Za-z ]+?) : (.*?)\s*$`)

func iaslFields(dsl string) map[string]string {
	m := map[string]string{}
	for _, f := range iaslField.FindAllStringSubmatch(dsl, -1) {
		m[f[1]] = f[2]
	}
	return m
}

var iaslRaw = regexp.MustCompile(`(?m)^\s+[0-9A-F]{4}: ((?:[0-9A-F]{2} )+)`)

// iaslRawBytes reassembles the "Raw Table Data" hex dump.
func iaslRawBytes(t *testing.T, dsl string) []byte {
	var hx strings.Builder
	for _, m := range iaslRaw.FindAllStringSubmatch(dsl, -1) {
		hx.WriteString(strings.ReplaceAll(m[1], " ", ""))
	}
	b, err := hex.DecodeString(hx.String())
	require.NoError(t, err)
	return b
}

// TestIASLReadsOurHeader checks our ACPI header and checksum with ACPICA's
// disassembler. iasl only accepts the upper-case IBFT spelling (ibft.md
// §10), which is SignatureACPI; for "iBFT" tables we patch the signature
// and recompute the checksum as the spec note describes.
func TestIASLReadsOurHeader(t *testing.T) {
	tables := map[string]*Table{"worked example": workedExample(), "full": fullTable()}
	for name, tb := range tables {
		t.Run(name, func(t *testing.T) {
			tb.Signature = SignatureACPI
			b, err := tb.MarshalBinary()
			require.NoError(t, err)
			dsl, out, err := iaslDisassemble(t, b)
			require.NoError(t, err, out)
			f := iaslFields(dsl)
			assert.Equal(t, `"IBFT"`, f["Signature"])
			assert.Equal(t, strings.ToUpper(hex.EncodeToString([]byte{0, 0, byte(len(b) >> 8), byte(len(b))})), f["Table Length"])
			assert.Equal(t, "01", f["Revision"])
			assert.Equal(t, strings.ToUpper(hex.EncodeToString(b[9:10])), f["Checksum"], "no 'Incorrect checksum' remark")
			assert.Equal(t, `"`+tb.OEMID+`"`, f["Oem ID"])
			assert.Equal(t, `"`+tb.OEMTableID+`"`, f["Oem Table ID"])
			assert.Equal(t, `"`+tb.CreatorID+`"`, f["Asl Compiler ID"])
			assert.Contains(t, out, "decoding ACPI table header only")
			assert.Equal(t, b, iaslRawBytes(t, dsl), "iasl read exactly our bytes")
		})
	}

	t.Run("patched iBFT", func(t *testing.T) {
		b, err := workedExample().MarshalBinary()
		require.NoError(t, err)
		b[0] = 'I'
		b[9] = 0
		b[9] = -sum(b)
		dsl, out, err := iaslDisassemble(t, b)
		require.NoError(t, err, out)
		assert.Equal(t, "D3", iaslFields(dsl)["Checksum"])
		assert.Equal(t, workedExampleBytes(t)[10:], iaslRawBytes(t, dsl)[10:])
	})

	t.Run("iasl notices a bad checksum", func(t *testing.T) {
		tb := workedExample()
		tb.Signature = SignatureACPI
		b, err := tb.MarshalBinary()
		require.NoError(t, err)
		b[9]--
		dsl, out, err := iaslDisassemble(t, b)
		require.NoError(t, err, out)
		assert.Contains(t, dsl, "Incorrect checksum, should be D3")
	})

	t.Run("iasl refuses the lower-case spelling", func(t *testing.T) {
		b, err := workedExample().MarshalBinary()
		require.NoError(t, err)
		_, out, err := iaslDisassemble(t, b)
		require.Error(t, err)
		assert.Contains(t, out, "does not contain a valid ACPI table")
	})
}
