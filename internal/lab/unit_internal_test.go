package lab

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolveModules(t *testing.T) {
	deps := map[string][]string{
		"kernel/a.ko":          {"kernel/b.ko", "kernel/c.ko"},
		"kernel/b.ko":          {"kernel/c.ko"},
		"kernel/c.ko":          nil,
		"kernel/d-dash.ko.xz":  {"kernel/c.ko"},
		"kernel/loop1.ko":      {"kernel/loop2.ko"},
		"kernel/loop2.ko":      {"kernel/loop1.ko"},
		"kernel/broken.ko":     {"kernel/missing.ko"},
		"kernel/iscsi_ibft.ko": nil,
	}
	builtin := map[string]bool{"ext4": true}
	for _, tc := range []struct {
		names   []string
		want    []string
		wantErr error
	}{
		{names: []string{"a"}, want: []string{"kernel/c.ko", "kernel/b.ko", "kernel/a.ko"}},
		{names: []string{"c", "a", "b"}, want: []string{"kernel/c.ko", "kernel/b.ko", "kernel/a.ko"}},
		{names: []string{"d_dash"}, want: []string{"kernel/c.ko", "kernel/d-dash.ko.xz"}},
		{names: []string{"d-dash"}, want: []string{"kernel/c.ko", "kernel/d-dash.ko.xz"}},
		{names: []string{"ext4"}, want: nil},
		{names: []string{"nope"}, wantErr: ErrNoModule},
		{names: []string{"broken"}, wantErr: ErrNoModule},
		{names: []string{"loop1"}, wantErr: errors.New("cycle")},
	} {
		got, err := resolveModules(deps, builtin, tc.names)
		if tc.wantErr != nil {
			require.Error(t, err, "%v", tc.names)
			if errors.Is(tc.wantErr, ErrNoModule) {
				assert.ErrorIs(t, err, ErrNoModule)
			}
			continue
		}
		require.NoError(t, err, "%v", tc.names)
		assert.Equal(t, tc.want, got, "%v", tc.names)
	}
}

func TestParseLdd(t *testing.T) {
	out := []byte(`	linux-vdso.so.1 (0x00007ffc1b5f6000)
	liblzma.so.5 => /lib/x86_64-linux-gnu/liblzma.so.5 (0x00007f0c0b1a0000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c0afbf000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f0c0b1e9000)
`)
	libs, err := parseLdd(out)
	require.NoError(t, err)
	assert.Equal(t, []string{"/lib/x86_64-linux-gnu/liblzma.so.5", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}, libs)

	_, err = parseLdd([]byte("\tlibfoo.so.1 => not found\n"))
	assert.Error(t, err)
}

func TestRouterAdvertisementLifetimeZero(t *testing.T) {
	b := RouterAdvertisement([]byte{0x52, 0x54, 0, 0x77, 0, 1})
	lt, ok := raLifetime(b)
	require.True(t, ok)
	assert.Zero(t, lt)
	assert.Len(t, b, 24)
	assert.Equal(t, []byte{1, 1, 0x52, 0x54, 0, 0x77, 0, 1}, b[16:])
	_, ok = raLifetime(b[:10])
	assert.False(t, ok)
}

func TestStalePID(t *testing.T) {
	for name, want := range map[string]int{
		"nbl3fa2p12345-lan": 12345,
		"nbl3fa2p1-srv":     1,
		"nbl3fa2p-lan":      0,
		"nbl3fa2p12x-lan":   0,
		"nblzzzzp12-lan":    0,
		"nbl3fa2p12":        0,
		"other-ns":          0,
		"nbl3fa21p12-lan":   0,
	} {
		pid, ok := stalePID(name)
		assert.Equal(t, want != 0, ok, name)
		assert.Equal(t, want, pid, name)
	}
}
