package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/ipxescript"
	"github.com/netbootkit/netboot/iscsi"
)

// sanPool is a test pool that also serves two base images ("disk-a", "disk-b")
// over its own iSCSI target on loopback.
type sanPool struct {
	*testPool
	iscsiPort string
	overlays  string
}

// writeBase writes an 8 MiB base image whose sectors hold seed.
func writeBase(t *testing.T, path string, seed byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte{seed}, 8<<20), 0o444))
}

func newSANPool(t *testing.T, chap *iscsi.CHAP) *sanPool {
	t.Helper()
	tp := newTestPool(t)
	for i, n := range []string{"disk-a", "disk-b"} {
		writeFile(t, filepath.Join(tp.images, n+".json"), `{"description": "served disk `+n+`", "base": "disk.img"}`)
		writeBase(t, filepath.Join(tp.images, n, "disk.img"), byte('A'+i))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	sp := &sanPool{testPool: tp, iscsiPort: strconv.Itoa(port), overlays: filepath.Join(t.TempDir(), "overlays")}
	require.NoError(t, tp.EnableSAN(SANConfig{Overlays: sp.overlays, Host: "127.0.0.1", Port: uint16(port), CHAP: chap}))
	srv := tp.ISCSIServer()
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return sp
}

// initiator and target are the pool's iSCSI names for mac.
func initiatorOf(mac string) string {
	return initiatorPrefix + strings.ReplaceAll(mac, ":", "-")
}

func targetOf(image, mac string) string {
	return targetPrefix + image + ":" + strings.ReplaceAll(mac, ":", "-")
}

// TestBaseImageScript: a machine assigned a base image gets a script that sets
// its own initiator name and CHAP credentials and sanboots its own target of
// that image on the pool; switched to the other base it boots another target.
func TestBaseImageScript(t *testing.T) {
	sp := newSANPool(t, &iscsi.CHAP{User: "pool", Secret: "twelvebytes+"})
	_, body := ipxeGet(t, sp.bootURL(mac1))
	require.NoError(t, sp.Store.Assign([]string{mac1}, "disk-a"))
	code, body := ipxeGet(t, sp.bootURL(mac1))
	require.Equal(t, http.StatusOK, code)
	_, err := ipxescript.ParseString(body)
	require.NoError(t, err, body)
	assert.Contains(t, body, "\nset initiator-iqn "+initiatorOf(mac1)+"\n")
	assert.Contains(t, body, "\nset username pool\nset password twelvebytes+\n")
	assert.Contains(t, body, "sanboot iscsi:127.0.0.1::"+sp.iscsiPort+"::"+targetOf("disk-a", mac1))
	assert.Less(t, strings.Index(body, "set initiator-iqn"), strings.Index(body, "sanboot"))
	m, _ := sp.Store.Machine(mac1)
	assert.Equal(t, StageScript, m.Stage)

	require.NoError(t, sp.Store.Assign([]string{mac1}, "disk-b"))
	_, body = ipxeGet(t, sp.bootURL(mac1))
	assert.Contains(t, body, "sanboot iscsi:127.0.0.1::"+sp.iscsiPort+"::"+targetOf("disk-b", mac1))
	assert.NotContains(t, body, "disk-a")

	// With efi_filename, a UEFI machine (platform=efi) is told which loader
	// to start; a BIOS machine's script is unchanged.
	writeFile(t, filepath.Join(sp.images, "disk-b.json"), `{"base": "disk.img", "efi_filename": "\\EFI\\BOOT\\BOOTX64.EFI"}`)
	_, body = ipxeGet(t, sp.bootURL(mac1))
	assert.Contains(t, body, "sanboot --filename=\\EFI\\BOOT\\BOOTX64.EFI iscsi:127.0.0.1::"+sp.iscsiPort+"::"+targetOf("disk-b", mac1))
	_, body = ipxeGet(t, strings.Replace(sp.bootURL(mac1), "platform=efi", "platform=pcbios", 1))
	assert.Contains(t, body, "sanboot iscsi:127.0.0.1::"+sp.iscsiPort+"::"+targetOf("disk-b", mac1))
	assert.NotContains(t, body, "--filename")

	// The images page shows a base image's script (for an example machine).
	a := sp.login(t)
	code, page := a.get("/admin/images")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, "Base")
	assert.Contains(t, page, "sanboot iscsi:127.0.0.1::"+sp.iscsiPort+"::"+targetPrefix+"disk-a:52-54-00-00-00-01")
	// The HTTP side never serves a base image's disk file.
	code, _ = ipxeGet(t, sp.URL+"/files/disk-a/disk.img?mac="+mac1)
	assert.Equal(t, http.StatusNotFound, code)
}

// TestBaseImageWithoutSAN: with -iscsi off a machine assigned a base image gets
// the handler's retry script (the reason, ErrNoSAN, goes to the log), not a
// broken boot, and the machine's stage says "error".
func TestBaseImageWithoutSAN(t *testing.T) {
	tp := newTestPool(t)
	writeFile(t, filepath.Join(tp.images, "disk-a.json"), `{"base": "disk.img"}`)
	writeBase(t, filepath.Join(tp.images, "disk-a", "disk.img"), 'A')
	ipxeGet(t, tp.bootURL(mac1))
	require.NoError(t, tp.Store.Assign([]string{mac1}, "disk-a"))
	code, body := ipxeGet(t, tp.bootURL(mac1))
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, body, "sanboot")
	assert.Contains(t, body, "retrying", "the handler's retry script (the reason goes to the log)")
	m, _ := tp.Store.Machine(mac1)
	assert.Equal(t, "error", m.Stage)
	assert.Nil(t, tp.ISCSIServer())
}

var diskRowRE = regexp.MustCompile(`(?s)<form method="post" action="/admin/reset" class="disk" data-image="([^"]+)" data-bytes="(\d+)">.*?</form>`)

// TestServedDiskWithLibiscsi is the served-disk story with real initiators
// (libiscsi): the machine's own initiator name and CHAP reach its disk, other
// names and unknown machines do not; reading makes the overlay, which the admin
// page shows with its size and "in use" while iscsi-perf holds a session;
// "reset disk" is refused then (409) and works after logout; the machine's
// disks of two images are two files; removing an image keeps its overlay.
func TestServedDiskWithLibiscsi(t *testing.T) {
	for _, tool := range []string{"iscsi-inq", "iscsi-perf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed (Debian package libiscsi-bin)")
		}
	}
	sp := newSANPool(t, &iscsi.CHAP{User: "pool", Secret: "twelvebytes0"})
	ipxeGet(t, sp.bootURL(mac1))
	require.NoError(t, sp.Store.Assign([]string{mac1}, "disk-a"))
	lun := func(secret, image, mac string) string {
		return "iscsi://pool%" + secret + "@127.0.0.1:" + sp.iscsiPort + "/" + targetOf(image, mac) + "/0"
	}
	inq := func(initiator, url string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "iscsi-inq", "-i", initiator, url).CombinedOutput()
		return string(out), err
	}
	out, err := inq(initiatorOf(mac1), lun("twelvebytes0", "disk-a", mac1))
	require.NoError(t, err, out)
	m, _ := sp.Store.Machine(mac1)
	assert.Equal(t, StageDisk, m.Stage, "a login to its disk is the machine's stage")
	const stranger = "52:54:00:99:99:99"
	out, err = inq(initiatorOf(stranger), lun("twelvebytes0", "disk-a", stranger))
	assert.Error(t, err, "a machine that never joined the pool got a disk:\n%s", out)
	assert.Contains(t, out, "Authorization failure(514)")
	out, err = inq(initiatorOf(mac1), lun("twelvebytes0", "disk-a", "52:54:00:12:34:57"))
	assert.Error(t, err, out)
	out, err = inq(initiatorOf(mac1), lun("wrongsecret0", "disk-a", mac1))
	assert.Error(t, err, out)
	assert.Contains(t, out, "Authentication failure(513)")
	out, err = inq(initiatorOf(mac1), lun("twelvebytes0", "debian", mac1))
	assert.Error(t, err, "a kernel image is no disk:\n%s", out)

	// iscsi-perf reads the disk until killed: a live session.
	perfCtx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	perf := exec.CommandContext(perfCtx, "iscsi-perf", "-i", initiatorOf(mac1), lun("twelvebytes0", "disk-a", mac1))
	var perfOut bytes.Buffer
	perf.Stdout, perf.Stderr = &perfOut, &perfOut
	require.NoError(t, perf.Start())
	t.Cleanup(func() { perf.Process.Kill(); perf.Wait() })
	overlay := filepath.Join(sp.overlays, "disk-a", "52-54-00-12-34-01.cow")
	waitFor(t, time.Minute, "the overlay to be made at the first read", func() bool {
		_, err := os.Stat(overlay)
		return err == nil
	})

	a := sp.login(t)
	var page string
	waitFor(t, time.Minute, "the page to show the disk in use", func() bool {
		_, page = a.get("/admin/")
		return strings.Contains(page, `class="in-use"`)
	})
	rows := diskRowRE.FindAllStringSubmatch(page, -1)
	require.Len(t, rows, 1, page)
	assert.Equal(t, "disk-a", rows[0][1])
	st, err := os.Stat(overlay)
	require.NoError(t, err)
	assert.Equal(t, strconv.FormatInt(st.Size(), 10), rows[0][2], "the page shows the overlay's size")
	assert.Contains(t, rows[0][0], "Reset disk")

	code, page := a.post("/admin/reset", url.Values{"mac": {mac1}, "image": {"disk-a"}})
	assert.Equal(t, http.StatusConflict, code, "reset while the machine is logged in")
	assert.Contains(t, page, "is logged in to its disk-a disk")
	// The usual refusals: no CSRF token, bad values.
	code, _ = a.post("/admin/reset", url.Values{"mac": {mac1}, "image": {"disk-a"}, "csrf": {"wrong"}})
	assert.Equal(t, http.StatusForbidden, code)
	code, _ = a.post("/admin/reset", url.Values{"mac": {mac1}, "image": {"../disk-a"}})
	assert.Equal(t, http.StatusBadRequest, code)
	code, _ = a.post("/admin/reset", url.Values{"mac": {mac1}, "image": {"disk-b"}})
	assert.Equal(t, http.StatusBadRequest, code, "no overlay of disk-b yet")

	require.NoError(t, perf.Process.Kill())
	perf.Wait()
	waitFor(t, time.Minute, "the session to end", func() bool {
		ovs, _ := sp.san.fleet.Overlays(net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x01})
		return len(ovs) == 1 && !ovs[0].InUse
	})
	code, page = a.post("/admin/reset", url.Values{"mac": {mac1}, "image": {"disk-a"}})
	require.Equal(t, http.StatusOK, code, page) // after the redirect
	assert.Contains(t, page, "Disk reset")

	// The other base: refused until the administrator assigns it, then
	// another file. Removing disk-a's description keeps its overlay.
	out, err = inq(initiatorOf(mac1), lun("twelvebytes0", "disk-b", mac1))
	assert.Error(t, err, "a disk of an image not assigned to the machine:\n%s", out)
	assert.Contains(t, out, "Authorization failure(514)")
	assert.NoFileExists(t, filepath.Join(sp.overlays, "disk-b", "52-54-00-12-34-01.cow"))
	require.NoError(t, sp.Store.Assign([]string{mac1}, "disk-b"))
	perf = exec.CommandContext(perfCtx, "iscsi-perf", "-i", initiatorOf(mac1), lun("twelvebytes0", "disk-b", mac1))
	require.NoError(t, perf.Start())
	t.Cleanup(func() { perf.Process.Kill(); perf.Wait() })
	waitFor(t, time.Minute, "disk-b's overlay", func() bool {
		_, err := os.Stat(filepath.Join(sp.overlays, "disk-b", "52-54-00-12-34-01.cow"))
		return err == nil
	})
	require.NoError(t, perf.Process.Kill())
	perf.Wait()
	require.NoError(t, os.Remove(filepath.Join(sp.images, "disk-a.json")))
	_, page = a.get("/admin/")
	rows = diskRowRE.FindAllStringSubmatch(page, -1)
	require.Len(t, rows, 2, page)
	assert.Equal(t, "disk-a", rows[0][1])
	assert.Contains(t, rows[0][0], "image removed; file kept")
	assert.Equal(t, "disk-b", rows[1][1])
	assert.FileExists(t, overlay)
	// The pool still holds disk-a's base open, so its overlay can be reset.
	code, page = a.post("/admin/reset", url.Values{"mac": {mac1}, "image": {"disk-a"}})
	assert.Equal(t, http.StatusOK, code, page)
	assert.FileExists(t, overlay)
	// An overlay of an image the pool no longer knows (e.g. after a restart)
	// cannot be reset without its base: refused, and the file stays.
	gone := filepath.Join(sp.overlays, "gone", "52-54-00-12-34-01.cow")
	writeFile(t, gone, "")
	code, page = a.post("/admin/reset", url.Values{"mac": {mac1}, "image": {"gone"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, page, "is no longer a base image")
	assert.FileExists(t, gone, "a refused reset deletes nothing")
}
