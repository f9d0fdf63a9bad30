package iscsi

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	errNoSpace = fmt.Errorf("overlay full: %w", syscall.ENOSPC)
	errPerm    = fmt.Errorf("base is read-only: %w", os.ErrPermission)
)

type failingDevice struct{ err error }

func (f failingDevice) ReadAt(p []byte, off int64) (int, error)  { return 0, f.err }
func (f failingDevice) WriteAt(p []byte, off int64) (int, error) { return 0, f.err }
func (f failingDevice) Size() int64                              { return 1 << 20 }

func TestFileDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.img")
	require.NoError(t, os.WriteFile(path, make([]byte, 1<<20), 0o600))
	d, err := OpenFile(path, false)
	require.NoError(t, err)
	defer d.Close()
	var _ Device = d
	var _ Syncer = d
	var _ Discarder = d
	var _ ReadOnlyDevice = d
	assert.Equal(t, int64(1<<20), d.Size())
	buf := []byte("hello")
	_, err = d.WriteAt(buf, 4096)
	require.NoError(t, err)
	require.NoError(t, d.Sync())
	require.NoError(t, d.Discard(0, 8192))
	got := make([]byte, 5)
	_, err = d.ReadAt(got, 4096)
	require.NoError(t, err)
	assert.Equal(t, make([]byte, 5), got, "discarded range reads as zeros")

	ro, err := OpenFile(path, true)
	require.NoError(t, err)
	defer ro.Close()
	assert.True(t, ro.ReadOnly())
	_, err = ro.WriteAt(buf, 0)
	assert.ErrorIs(t, err, os.ErrPermission)

	_, err = OpenFile(filepath.Join(t.TempDir(), "missing"), false)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestBadLUNConfig(t *testing.T) {
	_, err := newLogicalUnit("iqn.x", 0, LUN{Device: &memDevice{b: make([]byte, 1000)}})
	assert.Error(t, err, "size not a multiple of the block size")
	_, err = newLogicalUnit("iqn.x", 0, LUN{Device: &memDevice{b: make([]byte, 4096)}, BlockSize: 1000})
	assert.Error(t, err)
	_, err = newLogicalUnit("iqn.x", 0, LUN{})
	assert.Error(t, err)
	assert.ErrorIs(t, (&CHAP{User: "u", Secret: "short"}).Validate(), ErrBadSecret)
	assert.NoError(t, (&CHAP{User: "u", Secret: "twelve-bytes"}).Validate())
}
