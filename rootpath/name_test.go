package rootpath

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNormalizeNameValid(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// RFC 3720 §3.2.6.3 and RFC 3980 examples.
		{"iqn.2001-04.com.example", "iqn.2001-04.com.example"},
		{"iqn.2001-04.com.example:storage:diskarrays-sn-a8675309", "iqn.2001-04.com.example:storage:diskarrays-sn-a8675309"},
		{"iqn.2001-04.com.example:storage.tape1.sys1.xyz", "iqn.2001-04.com.example:storage.tape1.sys1.xyz"},
		{"eui.02004567A425678D", "eui.02004567a425678d"},
		{"naa.52004567BA64678D", "naa.52004567ba64678d"},
		{"naa.62004567BA64678D0123456789ABCDEF", "naa.62004567ba64678d0123456789abcdef"},
		// iPXE's default initiator name shape, dracut's test target.
		{"iqn.2010-04.org.ipxe:52-54-00-12-34-56", "iqn.2010-04.org.ipxe:52-54-00-12-34-56"},
		{"iqn.2009-06.dracut:target0", "iqn.2009-06.dracut:target0"},
		// Case folding applies to the prefix too.
		{"IQN.2001-04.COM.Example:Disk1", "iqn.2001-04.com.example:disk1"},
		{"EUI.02004567a425678d", "eui.02004567a425678d"},
	} {
		got, err := NormalizeName(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got)
		assert.NoError(t, ValidateName(tc.in))
	}
}

func TestNormalizeNameInvalid(t *testing.T) {
	long := "iqn.2001-04.com.example:" + strings.Repeat("x", 200)
	for _, tc := range []struct {
		in     string
		reason error
	}{
		{"", ErrEmpty},
		{"iqn", ErrSyntax},
		{"iqn.2001-04.com.example:disk_1", ErrSyntax},
		{"iqn.2001-04.com.example:disk/1", ErrSyntax},
		{"iqn.2001-04.com.example:disk@1", ErrSyntax},
		{"iqn.2001-04.com.example:disk#1", ErrSyntax},
		{"iqn.2001-04.com.example:disk 1", ErrSyntax},
		{"iqn.2001-04.com.example:disk\x001", ErrSyntax},
		{"iqn.2001-04.com.exämple", ErrUnsupported},
		{"iqn.2001-04.com.example:disk。1", ErrUnsupported}, // U+3002 is prohibited; we refuse all non-ASCII
		{"iqn.2001-13.com.example", ErrRange},
		{"iqn.2001-00.com.example", ErrRange},
		{"iqn.2001-4.com.example", ErrSyntax},
		{"iqn.200104.com.example", ErrSyntax},
		{"iqn.2001-04", ErrSyntax},
		{"iqn.2001-04.", ErrSyntax},
		{"iqn.2001-04.com..example", ErrSyntax},
		{"iqn.2001-04.com.example:", ErrSyntax},
		{"iqnx2001-04.com.example", ErrSyntax},
		{"eui.02004567A425678", ErrSyntax},
		{"eui.02004567A425678DD", ErrSyntax},
		{"eui.02004567A425678G", ErrSyntax},
		{"naa.52004567BA64678", ErrSyntax},
		{"naa.52004567BA64678D0", ErrSyntax},
		{"example_tgt_0", ErrSyntax},
		{long, ErrRange},
	} {
		_, err := NormalizeName(tc.in)
		var perr *Error
		require.True(t, errors.As(err, &perr), "NormalizeName(%q) = %v", tc.in, err)
		assert.Equal(t, FieldName, perr.Field)
		assert.ErrorIs(t, err, tc.reason, "NormalizeName(%q): %v", tc.in, err)
		assert.Error(t, ValidateName(tc.in))
	}
}

func TestNameLength(t *testing.T) {
	prefix := "iqn.2001-04.com.example:"
	ok := prefix + strings.Repeat("a", MaxNameLen-len(prefix))
	assert.NoError(t, ValidateName(ok))
	// Length is counted after normalization, which for ASCII keeps it.
	assert.NoError(t, ValidateName(strings.ToUpper(ok)))
	assert.ErrorIs(t, ValidateName(ok+"a"), ErrRange)
}

func TestLenientNames(t *testing.T) {
	p := Parser{LenientNames: true}
	for _, in := range []string{
		"iqn.2016-09.com.gotgt.gostor:example_tgt_0",
		"iqn.2001-04.com.example:Disk_1",
		"iqn.2001-04.com.example:a/b@c#d",
	} {
		got, err := p.NormalizeName(in)
		require.NoError(t, err, in)
		assert.Equal(t, in, got, "lenient mode keeps the name byte for byte")
		_, err = NormalizeName(in)
		assert.ErrorIs(t, err, ErrSyntax, "strict mode refuses %q", in)
	}
	// Lenient still checks structure, length and refuses spaces, controls and non-ASCII.
	for _, tc := range []struct {
		in     string
		reason error
	}{
		{"iqn.2001-13.com.example:x_y", ErrRange},
		{"eui.0200_567A425678D", ErrSyntax},
		{"disk_1", ErrSyntax},
		{"iqn.2001-04.com.example:a b", ErrSyntax},
		{"iqn.2001-04.com.example:ä", ErrUnsupported},
		{"iqn.2001-04.com.example:" + strings.Repeat("_", 200), ErrRange},
	} {
		_, err := p.NormalizeName(tc.in)
		assert.ErrorIs(t, err, tc.reason, tc.in)
	}

	rp, err := p.Parse("iscsi:10.0.0.1::::iqn.2016-09.com.gotgt.gostor:Example_TGT_0")
	require.NoError(t, err)
	assert.Equal(t, "iqn.2016-09.com.gotgt.gostor:Example_TGT_0", rp.(*ISCSI).Target)
	assert.Error(t, rp.(*ISCSI).Validate(), "Validate is strict")
}
