package sanfleet

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/iscsi"
)

// serve runs an iscsi.Server hooked to f on loopback and returns its port.
func serve(t *testing.T, f *Fleet) string {
	t.Helper()
	srv := &iscsi.Server{}
	f.Hook(srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 1m waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLibiscsi has real initiators (libiscsi) log in to a two-image fleet on
// loopback: with the machine's initiator name and the CHAP secret they get the
// disk; another machine's name or a wrong secret fails and makes no overlay;
// while iscsi-perf holds a session the disk is in use and Reset refuses; once
// it is gone Reset works.
func TestLibiscsi(t *testing.T) {
	for _, tool := range []string{"iscsi-inq", "iscsi-perf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed (Debian package libiscsi-bin)")
		}
	}
	deb, _, _ := newBase(t, 0)
	win, _, _ := newBase(t, 100)
	f := newFleet(t, map[string]*cow.Base{"debian": deb, "win": win})
	f.CHAP = &iscsi.CHAP{User: "fleet", Secret: "twelvebytes0"}
	port := serve(t, f)
	url := func(secret, image string, mac net.HardwareAddr) string {
		return "iscsi://fleet%" + secret + "@127.0.0.1:" + port + "/" + f.TargetName(image, mac) + "/0"
	}
	inq := func(initiator, url string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "iscsi-inq", "-i", initiator, url).CombinedOutput()
		return string(out), err
	}

	out, err := inq(f.InitiatorName(mac1), url("twelvebytes0", "win", mac1))
	require.NoError(t, err, out)
	assert.Contains(t, out, "Peripheral Device Type:DIRECT_ACCESS")
	out, err = inq(f.InitiatorName(mac1), url("twelvebytes0", "debian", mac2))
	assert.Error(t, err, "machine 1 logged in to machine 2's disk:\n%s", out)
	assert.Contains(t, out, "Authorization failure(514)")
	out, err = inq(f.InitiatorName(mac2), url("wrongsecret0", "debian", mac2))
	assert.Error(t, err, out)
	assert.Contains(t, out, "Authentication failure(513)")
	out, err = inq(f.InitiatorName(mac2), url("twelvebytes0", "nosuch", mac2))
	assert.Error(t, err, out)
	ovs, err := f.Overlays(mac2)
	require.NoError(t, err)
	assert.Empty(t, ovs, "refused logins make no overlay")
	waitUntil(t, "iscsi-inq's sessions to end", func() bool { return !f.InUse("win", mac1) })

	// iscsi-perf reads the disk until it is killed: a live session.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	perf := exec.CommandContext(ctx, "iscsi-perf", "-i", f.InitiatorName(mac1), url("twelvebytes0", "debian", mac1))
	var perfOut strings.Builder
	perf.Stdout, perf.Stderr = &perfOut, &perfOut
	require.NoError(t, perf.Start())
	t.Cleanup(func() { perf.Process.Kill(); perf.Wait() })
	waitUntil(t, "iscsi-perf to log in", func() bool { return f.InUse("debian", mac1) })
	waitUntil(t, "iscsi-perf to read", func() bool {
		ovs, _ := f.Overlays(mac1)
		return len(ovs) == 1 && ovs[0].Image == "debian" && ovs[0].InUse
	})
	err = f.Reset("debian", mac1)
	require.ErrorIs(t, err, ErrInUse, "perf: %s", perfOut.String())
	assert.False(t, f.InUse("win", mac1))
	require.ErrorIs(t, f.Reset("win", mac1), ErrNoOverlay, "INQUIRY alone makes no overlay of the other disk")

	require.NoError(t, perf.Process.Kill())
	perf.Wait()
	waitUntil(t, "the session to end after the initiator died", func() bool { return !f.InUse("debian", mac1) })
	require.NoError(t, f.Reset("debian", mac1))
}
