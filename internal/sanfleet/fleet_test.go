package sanfleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/iscsi"
)

var (
	mac1 = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	mac2 = net.HardwareAddr{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}
)

const (
	tPrefix = "iqn.2026-11.org.netbootkit:test:"
	iPrefix = "iqn.2026-11.org.netbootkit:test:client:"
)

// newBase writes a base image whose every sector holds its own number (plus
// seed) and opens it.
func newBase(t testing.TB, seed byte) (*cow.Base, string, []byte) {
	t.Helper()
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i/512) + seed
	}
	p := filepath.Join(t.TempDir(), fmt.Sprintf("base%d.img", seed))
	require.NoError(t, os.WriteFile(p, data, 0o444))
	b, err := cow.OpenBase(p)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b, p, data
}

// newFleet is a fleet with the bases given by image name.
func newFleet(t *testing.T, bases map[string]*cow.Base) *Fleet {
	t.Helper()
	f := &Fleet{
		TargetPrefix: tPrefix, InitiatorPrefix: iPrefix, Dir: t.TempDir(),
		Base: func(image string) (*cow.Base, error) {
			if b, ok := bases[image]; ok {
				return b, nil
			}
			return nil, fmt.Errorf("%w: no image %q", iscsi.ErrTargetNotFound, image)
		},
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestNames(t *testing.T) {
	f := &Fleet{TargetPrefix: tPrefix, InitiatorPrefix: iPrefix, Dir: "/o"}
	assert.Equal(t, "52-54-00-12-34-56", MACName(mac1))
	assert.Equal(t, tPrefix+"52-54-00-ab-cd-ef", f.TargetName("", mac2))
	assert.Equal(t, tPrefix+"debian-13:52-54-00-ab-cd-ef", f.TargetName("debian-13", mac2))
	assert.Equal(t, iPrefix+"52-54-00-ab-cd-ef", f.InitiatorName(mac2))
	assert.Equal(t, "/o/52-54-00-12-34-56.cow", f.OverlayPath("", mac1))
	assert.Equal(t, "/o/win/52-54-00-12-34-56.cow", f.OverlayPath("win", mac1))
	assert.Equal(t, "iscsi:10.0.0.1::::"+tPrefix+"win:52-54-00-12-34-56", f.RootPath("win", mac1, "10.0.0.1", 3260))
	assert.Equal(t, "iscsi:10.0.0.1::3261::"+tPrefix+"52-54-00-12-34-56", f.RootPath("", mac1, "10.0.0.1", 3261))

	for _, tc := range []struct {
		name  string
		image string
		want  net.HardwareAddr // nil: refused
	}{
		{f.TargetName("", mac1), "", mac1},
		{f.TargetName("deb.12-x", mac2), "deb.12-x", mac2},
		{strings.ToUpper(f.TargetName("win", mac2)), "win", mac2}, // iSCSI names compare case-insensitively
		{tPrefix + "52:54:00:12:34:56", "", nil},
		{tPrefix + "52-54-00-12-34", "", nil},
		{tPrefix + "52-54-00-12-34-5g", "", nil},
		{tPrefix + "0000.0000.0000.0", "", nil},
		{tPrefix + ":52-54-00-12-34-56", "", nil},              // empty image
		{tPrefix + "win52-54-00-12-34-56", "", nil},            // no separator
		{tPrefix + "a_b:52-54-00-12-34-56", "", nil},           // not an image name
		{tPrefix + "..:52-54-00-12-34-56", "", nil},            // never a directory escape
		{tPrefix + "client:52-54-00-12-34-56", "client", mac1}, // an image may be called "client"
		{"iqn.2026-11.org.example:52-54-00-12-34-56", "", nil},
		{"", "", nil},
	} {
		image, mac, err := f.ParseTarget(tc.name)
		if tc.want == nil {
			assert.ErrorIs(t, err, iscsi.ErrTargetNotFound, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.image, image, tc.name)
		assert.Equal(t, tc.want, mac, tc.name)
	}
}

func TestLookupSingleBase(t *testing.T) {
	base, basePath, baseData := newBase(t, 0)
	f := newFleet(t, map[string]*cow.Base{"": base})
	f.CHAP = &iscsi.CHAP{User: "fleet", Secret: "twelvebytes+"}
	ctx := context.Background()

	_, err := f.Lookup(ctx, f.InitiatorName(mac1), "iqn.2026-11.org.example:other")
	require.ErrorIs(t, err, iscsi.ErrTargetNotFound)
	_, err = f.Lookup(ctx, f.InitiatorName(mac2), f.TargetName("", mac1))
	require.ErrorIs(t, err, iscsi.ErrNotAuthorized, "one machine may not log in to another's disk")
	_, err = f.Lookup(ctx, f.InitiatorName(mac1), f.TargetName("other", mac1))
	require.ErrorIs(t, err, iscsi.ErrTargetNotFound, "an image without a base")

	t1, err := f.Lookup(ctx, f.InitiatorName(mac1), f.TargetName("", mac1))
	require.NoError(t, err)
	assert.Equal(t, f.TargetName("", mac1), t1.Name)
	assert.Equal(t, []string{f.InitiatorName(mac1)}, t1.Initiators, "only the machine's own initiator name")
	assert.Equal(t, f.CHAP, t1.CHAP)
	require.Len(t, t1.LUNs, 1)
	assert.NoFileExists(t, f.OverlayPath("", mac1), "the overlay is made at the first command, after authentication")
	_, err = t1.LUNs[0].Device.ReadAt(make([]byte, 512), 0)
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(f.Dir, "52-54-00-12-34-56.cow"), "the overlay is created at the first command")

	again, err := f.Lookup(ctx, f.InitiatorName(mac1), strings.ToUpper(f.TargetName("", mac1)))
	require.NoError(t, err)
	assert.Same(t, t1, again, "one *Target per disk (reservations and unit attentions live there)")
	t2, err := f.Lookup(ctx, f.InitiatorName(mac2), f.TargetName("", mac2))
	require.NoError(t, err)
	assert.NotSame(t, t1, t2)

	d1, d2 := t1.LUNs[0].Device, t2.LUNs[0].Device
	assert.Equal(t, int64(len(baseData)), d1.Size())
	_, err = d1.WriteAt([]byte("machine one"), 4096)
	require.NoError(t, err)
	got := make([]byte, 11)
	_, err = d2.ReadAt(got, 4096)
	require.NoError(t, err)
	assert.Equal(t, baseData[4096:4096+11], got, "another machine does not see the write")
	_, err = d1.ReadAt(got, 4096)
	require.NoError(t, err)
	assert.Equal(t, "machine one", string(got))
	onDisk, err := os.ReadFile(basePath)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(baseData, onDisk), "the base is never written")

	assert.Equal(t, []string{f.TargetName("", mac2)}, f.Discover(ctx, f.InitiatorName(mac2)))
	assert.Empty(t, f.Discover(ctx, "iqn.1993-08.org.debian:01:abc"))

	// After a restart the overlay keeps the machine's writes.
	require.NoError(t, f.Close())
	_, err = d1.ReadAt(got, 4096)
	require.ErrorIs(t, err, cow.ErrClosed, "a closed fleet's disks are closed")
	_, err = f.Lookup(ctx, f.InitiatorName(mac1), f.TargetName("", mac1))
	require.ErrorIs(t, err, iscsi.ErrTargetNotFound, "a closed fleet refuses logins")
	f2 := &Fleet{TargetPrefix: tPrefix, InitiatorPrefix: iPrefix, Dir: f.Dir, Base: f.Base}
	defer f2.Close()
	t1, err = f2.Lookup(ctx, f2.InitiatorName(mac1), f2.TargetName("", mac1))
	require.NoError(t, err)
	_, err = t1.LUNs[0].Device.ReadAt(got, 4096)
	require.NoError(t, err)
	assert.Equal(t, "machine one", string(got))
}

// TestImagesKeptApart: one machine, two bases: two overlays, two targets, and
// switching back finds the first disk as it was left.
func TestImagesKeptApart(t *testing.T) {
	deb, _, debData := newBase(t, 0)
	win, _, winData := newBase(t, 100)
	f := newFleet(t, map[string]*cow.Base{"debian": deb, "win": win})
	ctx := context.Background()
	var made []string
	f.OnOverlay = func(image string, mac net.HardwareAddr, path string, created bool) {
		made = append(made, fmt.Sprintf("%s %s %v", image, mac, created))
	}

	td, err := f.Lookup(ctx, f.InitiatorName(mac1), f.TargetName("debian", mac1))
	require.NoError(t, err)
	tw, err := f.Lookup(ctx, f.InitiatorName(mac1), f.TargetName("win", mac1))
	require.NoError(t, err)
	assert.NotSame(t, td, tw)
	_, err = td.LUNs[0].Device.WriteAt([]byte("debian's"), 0)
	require.NoError(t, err)
	got := make([]byte, 8)
	_, err = tw.LUNs[0].Device.ReadAt(got, 0)
	require.NoError(t, err)
	assert.Equal(t, winData[:8], got, "the other image's disk is untouched")
	_, err = tw.LUNs[0].Device.WriteAt([]byte("windows!"), 512)
	require.NoError(t, err)
	_, err = td.LUNs[0].Device.ReadAt(got, 512)
	require.NoError(t, err)
	assert.Equal(t, debData[512:520], got)

	assert.FileExists(t, filepath.Join(f.Dir, "debian", "52-54-00-12-34-56.cow"))
	assert.FileExists(t, filepath.Join(f.Dir, "win", "52-54-00-12-34-56.cow"))
	assert.Equal(t, []string{"debian 52:54:00:12:34:56 true", "win 52:54:00:12:34:56 true"}, made)

	ovs, err := f.Overlays(mac1)
	require.NoError(t, err)
	require.Len(t, ovs, 2)
	assert.Equal(t, "debian", ovs[0].Image)
	assert.Equal(t, "win", ovs[1].Image)
	assert.Positive(t, ovs[0].Size)
	ovs2, err := f.Overlays(mac2)
	require.NoError(t, err)
	assert.Empty(t, ovs2)

	require.NoError(t, os.WriteFile(filepath.Join(f.Dir, "win", "notes.txt"), nil, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(f.Dir, "win", "52-54-00-AB-CD-EF.cow"), nil, 0o600)) // not our spelling
	_, err = f.Lookup(ctx, f.InitiatorName(mac2), f.TargetName("win", mac2))
	require.NoError(t, err)
	all, err := f.List()
	require.NoError(t, err)
	require.Len(t, all, 2, "an overlay is made at the first command, not at login")
	assert.Equal(t, ovs[0].Path, all[0].Path)
	assert.Equal(t, ovs[1].Path, all[1].Path)

	assert.Equal(t, []string{f.TargetName("debian", mac1), f.TargetName("win", mac1)}, f.Discover(ctx, f.InitiatorName(mac1)),
		"SendTargets lists the machine's own disks, nobody else's")
	assert.Equal(t, []string{f.TargetName("win", mac2)}, f.Discover(ctx, f.InitiatorName(mac2)))

	// An image whose base disappears (its description removed) keeps its
	// overlays: nothing is deleted.
	require.NoError(t, f.Close())
	f2 := newFleet(t, map[string]*cow.Base{"debian": deb})
	f2.Dir = f.Dir
	_, err = f2.Lookup(ctx, f2.InitiatorName(mac1), f2.TargetName("win", mac1))
	require.ErrorIs(t, err, iscsi.ErrTargetNotFound)
	ovs, err = f2.Overlays(mac1)
	require.NoError(t, err)
	assert.Len(t, ovs, 2, "removing an image never deletes its overlays")
	td, err = f2.Lookup(ctx, f2.InitiatorName(mac1), f2.TargetName("debian", mac1))
	require.NoError(t, err)
	_, err = td.LUNs[0].Device.ReadAt(got, 0)
	require.NoError(t, err)
	assert.Equal(t, "debian's", string(got), "switching back finds the disk as it was left")
}

func TestAllow(t *testing.T) {
	deb, _, _ := newBase(t, 0)
	f := newFleet(t, map[string]*cow.Base{"debian": deb})
	f.Allow = func(image string, mac net.HardwareAddr) error {
		if mac.String() != mac1.String() {
			return fmt.Errorf("%w: %s is not in the pool", iscsi.ErrNotAuthorized, mac)
		}
		return nil
	}
	_, err := f.Lookup(context.Background(), f.InitiatorName(mac2), f.TargetName("debian", mac2))
	require.ErrorIs(t, err, iscsi.ErrNotAuthorized)
	_, err = f.Lookup(context.Background(), f.InitiatorName(mac1), f.TargetName("debian", mac1))
	require.NoError(t, err)
}

func TestWrongBase(t *testing.T) {
	base, _, _ := newBase(t, 0)
	other, _, _ := newBase(t, 7)
	f := newFleet(t, map[string]*cow.Base{"": base})
	// An overlay made on another image is refused, not served over the wrong base.
	o, err := cow.Create(f.OverlayPath("", mac1), other, nil)
	require.NoError(t, err)
	require.NoError(t, o.Close())
	tg, err := f.Lookup(context.Background(), f.InitiatorName(mac1), f.TargetName("", mac1))
	require.NoError(t, err)
	_, err = tg.LUNs[0].Device.ReadAt(make([]byte, 512), 0)
	require.ErrorIs(t, err, cow.ErrBaseMismatch)
	_, err = tg.LUNs[0].Device.WriteAt(make([]byte, 512), 0)
	require.ErrorIs(t, err, cow.ErrBaseMismatch, "never served over the wrong base")
	require.ErrorIs(t, f.Reset("", mac1), cow.ErrBaseMismatch)
}

// TestResetAndSessions counts sessions through the server hooks Hook installs:
// Reset is refused while the machine is logged in to that disk (and only that
// one), and works through the open overlay once it has logged out.
func TestResetAndSessions(t *testing.T) {
	deb, _, debData := newBase(t, 0)
	win, _, _ := newBase(t, 100)
	f := newFleet(t, map[string]*cow.Base{"debian": deb, "win": win})
	ctx := context.Background()
	var logins, logouts int
	srv := &iscsi.Server{OnLogin: func(iscsi.LoginEvent) { logins++ }, OnLogout: func(iscsi.LoginEvent) { logouts++ }}
	f.Hook(srv)
	require.NotNil(t, srv.Lookup)
	require.NotNil(t, srv.Discover)

	require.ErrorIs(t, f.Reset("debian", mac1), ErrNoOverlay)
	require.ErrorIs(t, f.Reset("../x", mac1), ErrBadName)
	require.ErrorIs(t, f.Reset("debian", net.HardwareAddr{1, 2}), ErrBadName)

	tg, err := f.Lookup(ctx, f.InitiatorName(mac1), f.TargetName("debian", mac1))
	require.NoError(t, err)
	login := iscsi.LoginEvent{InitiatorName: f.InitiatorName(mac1), TargetName: tg.Name}
	srv.OnLogin(iscsi.LoginEvent{InitiatorName: login.InitiatorName, TargetName: tg.Name, Err: errors.New("CHAP failed")})
	assert.False(t, f.InUse("debian", mac1), "a failed login is no session")
	srv.OnLogin(iscsi.LoginEvent{InitiatorName: login.InitiatorName, Discovery: true})
	assert.False(t, f.InUse("debian", mac1), "a discovery session is not a disk session")
	srv.OnLogin(login)
	srv.OnLogin(login) // a second connection/session (e.g. the booted OS while iPXE's lingers)
	assert.Equal(t, 4, logins, "hooks already set are kept")
	assert.True(t, f.InUse("debian", mac1))
	assert.False(t, f.InUse("win", mac1))
	assert.False(t, f.InUse("debian", mac2))

	_, err = tg.LUNs[0].Device.WriteAt([]byte("changed!"), 0)
	require.NoError(t, err)
	require.ErrorIs(t, f.Reset("debian", mac1), ErrInUse)
	ovs, err := f.Overlays(mac1)
	require.NoError(t, err)
	require.Len(t, ovs, 1)
	assert.True(t, ovs[0].InUse)

	srv.OnLogout(login)
	require.ErrorIs(t, f.Reset("debian", mac1), ErrInUse, "one session is left")
	srv.OnLogout(login)
	assert.Equal(t, 2, logouts)
	require.NoError(t, f.Reset("debian", mac1))
	got := make([]byte, 8)
	_, err = tg.LUNs[0].Device.ReadAt(got, 0)
	require.NoError(t, err)
	assert.Equal(t, debData[:8], got, "after reset the machine sees the base again, through the same target")

	// Reset of an overlay the fleet has not opened (made before a restart).
	f2 := newFleet(t, map[string]*cow.Base{"debian": deb})
	f2.Dir = f.Dir
	_, err = tg.LUNs[0].Device.WriteAt([]byte("again..."), 0)
	require.NoError(t, err)
	require.ErrorIs(t, f2.Reset("debian", mac1), cow.ErrInUse, "another fleet (process) holds the file")
	require.NoError(t, f.Close())
	require.NoError(t, f2.Reset("debian", mac1))
	tg, err = f2.Lookup(ctx, f2.InitiatorName(mac1), f2.TargetName("debian", mac1))
	require.NoError(t, err)
	_, err = tg.LUNs[0].Device.ReadAt(got, 0)
	require.NoError(t, err)
	assert.Equal(t, debData[:8], got)
}
