package rootpath

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNBD(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  *NBD
		canon string
	}{
		{"nbd:10.0.0.1:10809", &NBD{Server: "10.0.0.1", Port: 10809}, ""},
		{"nbd:10.0.0.1:rootfs", &NBD{Server: "10.0.0.1", Export: "rootfs"}, ""},
		{"nbd:nbd.example.com:2000:ext4", &NBD{Server: "nbd.example.com", Port: 2000, FSType: "ext4"}, ""},
		{"nbd:[2001:db8::1]:10809:ext4:ro,noatime:timeout=30,bs=4096",
			&NBD{Server: "2001:db8::1", Port: 10809, FSType: "ext4", RootFlags: []string{"ro", "noatime"}, Options: []string{"timeout=30", "bs=4096"}}, ""},
		{"nbd:10.0.0.1:10809::ro", &NBD{Server: "10.0.0.1", Port: 10809, RootFlags: []string{"ro"}}, ""},
		{"nbd:10.0.0.1:10809:::persist", &NBD{Server: "10.0.0.1", Port: 10809, Options: []string{"persist"}}, ""},
		{"NBD:10.0.0.1:rootfs", &NBD{Server: "10.0.0.1", Export: "rootfs"}, "nbd:10.0.0.1:rootfs"},
	} {
		fns := []parseFunc{fnParse, fnDracut}
		if tc.canon != "" {
			fns = fns[:1] // dracut matches "nbd:" case-sensitively; Parse does not
		}
		for _, fn := range fns {
			rp, err := fn(tc.in)
			require.NoError(t, err, tc.in)
			assert.Equal(t, tc.want, rp, tc.in)
			canon := tc.canon
			if canon == "" {
				canon = tc.in
			}
			assert.Equal(t, canon, rp.String())
			again, err := fn(rp.String())
			require.NoError(t, err)
			assert.Equal(t, rp, again)
			assert.False(t, IsSAN(rp), "iPXE does not boot NBD")
		}
	}
	for _, tc := range []struct {
		in    string
		field Field
	}{
		{"nbd::10809", FieldServer},
		{"nbd:10.0.0.1", FieldRootPath},
		{"nbd:10.0.0.1:", FieldPort},
		{"nbd:10.0.0.1:0", FieldPort},
		{"nbd:10.0.0.1:70000", FieldPort},
		{"nbd:10.0.0.1:10809:", FieldOptions},
		{"nbd:10.0.0.1:10809:ext4:", FieldOptions},
		{"nbd:10.0.0.1:10809:ext4:ro,,rw", FieldOptions},
		{"nbd:10.0.0.1:10809:ext4:ro:a:b", FieldOptions},
		{"nbd:10.0.0.1:ext4:ext4", FieldOptions}, // dracut drops a field equal to the one before
		{"nbd:10.0.0.1:10809:ro:ro", FieldOptions},
		{"nbd:bad_host:10809", FieldServer},
	} {
		_, err := Parse(tc.in)
		var perr *Error
		require.True(t, errors.As(err, &perr), "%s: %v", tc.in, err)
		assert.Equal(t, tc.field, perr.Field, "%v", err)
	}
}
