package cow_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/internal/lab"
)

// TestLinuxDmSnapshotInterop proves the on-disk format with the real
// consumer: Linux dm-snapshot in a QEMU guest (Debian kernel, dmsetup from
// the host's Debian "dmsetup" package).
//
//   - Overlay A is made here (two metadata areas, partial-chunk writes). The
//     guest attaches it with `dmsetup create … snapshot <base> <A> P 8`, checks
//     that its content hash equals ours and that dm's usage status matches
//     our Stats, then writes more through dm; we reopen A and see those writes.
//   - Overlay B is a zero-filled file that Linux formats itself (P 16) and
//     writes through; we open it and compare with the expected content.
func TestLinuxDmSnapshotInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a QEMU guest")
	}
	lab.Require(t, "qemu-system-x86_64", "dmsetup")
	k := lab.Kernel(t)
	dir := t.TempDir()

	const size = 8 << 20
	image := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for i := 0; i < size; i += 4096 { // make chunks distinguishable
		copy(image[i:], fmt.Sprintf("[base chunk %06d]", i/4096))
	}
	basePath := filepath.Join(dir, "base.img")
	require.NoError(t, os.WriteFile(basePath, image, 0o600))
	base, err := cow.OpenBase(basePath)
	require.NoError(t, err)
	defer base.Close()

	// Overlay A, made here: 300 whole chunks (area 0 fills, area 1 begins)
	// and some partial writes.
	aPath := filepath.Join(dir, "a.cow")
	a, err := cow.Create(aPath, base, &cow.Options{ChunkSize: 4096})
	require.NoError(t, err)
	wantA := bytes.Clone(image)
	write := func(o *cow.Overlay, want []byte, p []byte, off int64) {
		_, err := o.WriteAt(p, off)
		require.NoError(t, err)
		copy(want[off:], p)
	}
	for i := range 300 {
		write(a, wantA, bytes.Repeat([]byte{byte(i), 'A'}, 2048), int64(1000+i)*4096)
	}
	write(a, wantA, []byte("partial write made by Go"), 12345)
	write(a, wantA, bytes.Repeat([]byte("x"), 10000), size-10000)
	stA := a.Stats()
	require.NoError(t, a.Close())
	require.NoError(t, os.Truncate(aPath, 4<<20)) // room for dm's own allocations

	// Overlay B: zeros, formatted by Linux.
	bPath := filepath.Join(dir, "b.cow")
	require.NoError(t, os.WriteFile(bPath, make([]byte, 4<<20), 0o600))

	// What the guest writes (512-byte aligned, through dd).
	patchA := bytes.Repeat([]byte("written by Linux into A. "), 41)[:1024]
	patchB := bytes.Repeat([]byte("written by Linux into B! "), 164)[:4096]
	rd := lab.NewInitramfs(`
SZ=$(blockdev --getsz /dev/vda)
echo "base-sectors=$SZ"
dmsetup create a --table "0 $SZ snapshot /dev/vda /dev/vdb P 8" || echo "dm: create a failed"
dmsetup mknodes
echo "A-status: $(dmsetup status a)"
echo "A-sha: $(sha256sum /dev/mapper/a | cut -d' ' -f1)"
dd if=/patchA of=/dev/mapper/a bs=512 seek=15000 conv=notrunc,fsync 2>/dev/null
dd if=/patchA of=/dev/mapper/a bs=512 seek=2001 conv=notrunc,fsync 2>/dev/null
dmsetup remove a || echo "dm: remove a failed"
dmsetup create b --table "0 $SZ snapshot /dev/vda /dev/vdc P 16" || echo "dm: create b failed"
dmsetup mknodes
dd if=/patchB of=/dev/mapper/b bs=512 seek=3 conv=notrunc,fsync 2>/dev/null
dd if=/patchB of=/dev/mapper/b bs=512 seek=16376 conv=notrunc,fsync 2>/dev/null
echo "B-status: $(dmsetup status b)"
echo "B-sha: $(sha256sum /dev/mapper/b | cut -d' ' -f1)"
dmsetup remove b || echo "dm: remove b failed"
echo "interop-done"
`)
	require.NoError(t, rd.AddModules(k, "virtio_pci", "virtio_blk", "dm_snapshot"))
	_, err = rd.AddBinary("dmsetup")
	require.NoError(t, err)
	require.NoError(t, rd.AddFile("/patchA", patchA, 0o644))
	require.NoError(t, rd.AddFile("/patchB", patchB, 0o644))

	start := time.Now()
	vm := lab.Boot(t, lab.Machine{
		Name: "dmsnap", Kernel: k.Vmlinuz, Initrd: rd.Build(t),
		Disks: []lab.Disk{{Path: basePath, ReadOnly: true}, {Path: aPath}, {Path: bPath}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	_, err = vm.WaitFor(ctx, "interop-done")
	require.NoError(t, err)
	require.NoError(t, vm.Wait(ctx), "qemu exits after poweroff")
	t.Logf("guest ran in %v", time.Since(start).Round(time.Second))
	out := vm.Output()
	require.NotContains(t, out, "dm: ")
	require.NotContains(t, out, "lab: insmod")

	field := func(re string) []string {
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		require.NotNil(t, m, "guest output lacks %s", re)
		return m
	}
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

	// Linux reads our overlay as we do; its usage status is our Stats.
	require.Equal(t, sum(wantA), field(`A-sha: ([0-9a-f]{64})`)[1], "Linux reads overlay A differently")
	st := field(`A-status: 0 \d+ snapshot (\d+)/(\d+) (\d+)`)
	require.Equal(t, strconv.FormatInt(stA.FileBytes/512, 10), st[1], "allocated sectors")
	require.Equal(t, strconv.FormatInt(int64(stA.MetadataChunks)*4096/512, 10), st[3], "metadata sectors")

	// We read what Linux wrote into A, and the overlay is still ours.
	copy(wantA[15000*512:], patchA)
	copy(wantA[2001*512:], patchA)
	a, err = cow.Open(aPath, base, nil)
	require.NoError(t, err)
	got := make([]byte, size)
	_, err = a.ReadAt(got, 0)
	require.NoError(t, err)
	require.Equal(t, sum(wantA), sum(got), "overlay A after Linux wrote to it")
	require.NoError(t, a.Close())

	// Overlay B, made by Linux.
	wantB := bytes.Clone(image)
	copy(wantB[3*512:], patchB)
	copy(wantB[16376*512:], patchB)
	require.Equal(t, sum(wantB), field(`B-sha: ([0-9a-f]{64})`)[1])
	b, err := cow.Open(bPath, base, &cow.Options{ReadOnly: true})
	require.NoError(t, err)
	defer b.Close()
	require.Equal(t, int64(8192), b.ChunkSize(), "chunk size from Linux's header")
	_, err = b.ReadAt(got, 0)
	require.NoError(t, err)
	require.Equal(t, sum(wantB), sum(got), "overlay B made by Linux")
	stB := b.Stats()
	require.Equal(t, 2, stB.Chunks, "chunks 0 and 1023 copied by Linux")
	st = field(`B-status: 0 \d+ snapshot (\d+)/(\d+) (\d+)`)
	require.Equal(t, strconv.FormatInt(stB.FileBytes/512, 10), st[1], "allocated sectors")
	require.Equal(t, strconv.FormatInt(int64(stB.MetadataChunks)*8192/512, 10), st[3], "metadata sectors")

	baseNow, err := os.ReadFile(basePath)
	require.NoError(t, err)
	require.True(t, bytes.Equal(image, baseNow), "base untouched")
}
