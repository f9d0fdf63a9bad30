package main

import (
	"context"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/iscsi"
)

// TestLibiscsiLogin has a real initiator (libiscsi's iscsi-inq) log in to the
// fleet's target on loopback: with the machine's own initiator name and the
// fleet's CHAP credentials it gets its disk; with another machine's initiator
// name or a wrong secret the login fails, and no overlay is made for it.
func TestLibiscsiLogin(t *testing.T) {
	if _, err := exec.LookPath("iscsi-inq"); err != nil {
		t.Skip("iscsi-inq not installed (Debian package libiscsi-bin)")
	}
	basePath, _ := newTestBase(t)
	cfg := testConfig(t, basePath)
	cfg.CHAP = &iscsi.CHAP{User: "fleet", Secret: "twelvebytes0"}
	base, err := cow.OpenBase(basePath)
	require.NoError(t, err)
	defer base.Close()
	f := newFleet(cfg, base, slog.New(slog.DiscardHandler))
	defer f.Close()
	srv := &iscsi.Server{Lookup: f.Lookup, Discover: f.Discover}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)

	inq := func(initiator, secret string, mac net.HardwareAddr) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		url := "iscsi://fleet%" + secret + "@127.0.0.1:" + port + "/" + targetName(mac) + "/0"
		out, err := exec.CommandContext(ctx, "iscsi-inq", "-i", initiator, url).CombinedOutput()
		return string(out), err
	}

	out, err := inq(initiatorName(mac1), "twelvebytes0", mac1)
	require.NoError(t, err, out)
	assert.Contains(t, out, "Peripheral Device Type:DIRECT_ACCESS")
	assert.NoFileExists(t, cfg.overlayPath(mac1), "INQUIRY needs no overlay: it is made at the first read or write")

	out, err = inq(initiatorName(mac1), "twelvebytes0", mac2)
	assert.Error(t, err, "machine 1 logged in to machine 2's disk:\n%s", out)
	assert.Contains(t, out, "Authorization failure(514)")
	assert.NoFileExists(t, cfg.overlayPath(mac2), "a refused initiator makes no overlay")
	out, err = inq(initiatorName(mac1), "wrongsecret0", mac1)
	assert.Error(t, err, "login with a wrong CHAP secret:\n%s", out)
	assert.Contains(t, out, "Authentication failure(513)")
	out, err = inq(initiatorName(mac2), "wrongsecret0", mac2)
	assert.Contains(t, out, "Authentication failure(513)")
	assert.NoFileExists(t, cfg.overlayPath(mac2), "a login that fails CHAP makes no overlay")
}
