package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/ipxescript"
	"github.com/netbootkit/netboot/iscsi"
)

var (
	mac1 = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	mac2 = net.HardwareAddr{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}
)

func TestNames(t *testing.T) {
	assert.Equal(t, "52-54-00-12-34-56", macName(mac1))
	assert.Equal(t, "iqn.2026-11.org.netbootkit:sanboot:52-54-00-ab-cd-ef", targetName(mac2))
	assert.Equal(t, "iqn.2026-11.org.netbootkit:sanboot:client:52-54-00-ab-cd-ef", initiatorName(mac2))

	for _, tc := range []struct {
		name string
		want net.HardwareAddr // nil: refused
	}{
		{targetName(mac1), mac1},
		{strings.ToUpper(targetName(mac2)), mac2}, // iSCSI names compare case-insensitively
		{"iqn.2026-11.org.netbootkit:sanboot:52:54:00:12:34:56", nil},
		{"iqn.2026-11.org.netbootkit:sanboot:52-54-00-12-34", nil},
		{"iqn.2026-11.org.netbootkit:sanboot:52-54-00-12-34-5g", nil},
		{"iqn.2026-11.org.netbootkit:sanboot:0000.0000.0000.0", nil},
		{"iqn.2026-11.org.netbootkit:sanboot:client:52-54-00-12-34-56", nil},
		{"iqn.2026-11.org.example:52-54-00-12-34-56", nil},
		{"", nil},
	} {
		got, err := macOfTarget(tc.name)
		if tc.want == nil {
			assert.ErrorIs(t, err, iscsi.ErrTargetNotFound, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, got)
	}
}

func TestMachineScript(t *testing.T) {
	s := machineScript(mac1, "10.0.0.1", 3260, nil, false)
	require.NoError(t, s.Err())
	text := s.String()
	assert.Contains(t, text, "\nset initiator-iqn iqn.2026-11.org.netbootkit:sanboot:client:52-54-00-12-34-56\n")
	assert.Contains(t, text, "\nsanboot iscsi:10.0.0.1::::iqn.2026-11.org.netbootkit:sanboot:52-54-00-12-34-56 || goto failed\n")
	assert.NotContains(t, text, "password")
	_, err := ipxescript.ParseString(text)
	require.NoError(t, err)

	s = machineScript(mac2, "192.0.2.7", 3261, &iscsi.CHAP{User: "fleet", Secret: "twelvebytes+"}, false)
	require.NoError(t, s.Err())
	text = s.String()
	assert.Contains(t, text, "\nset username fleet\nset password twelvebytes+\n")
	assert.Contains(t, text, "sanboot iscsi:192.0.2.7::3261::iqn.2026-11.org.netbootkit:sanboot:52-54-00-ab-cd-ef")
	// The credentials come before the sanboot that uses them.
	assert.Less(t, strings.Index(text, "set password"), strings.Index(text, "sanboot iscsi:"))

	// UEFI machines name the loader on the disk; BIOS ones run its boot sector.
	s = machineScript(mac1, "10.0.0.1", 3260, nil, true)
	require.NoError(t, s.Err())
	assert.Contains(t, s.String(), "\nsanboot --filename=\\EFI\\BOOT\\BOOTX64.EFI iscsi:10.0.0.1::::iqn.2026-11.org.netbootkit:sanboot:52-54-00-12-34-56 || goto failed\n")
	assert.NotContains(t, text, "--filename")

	// A secret the script cannot carry literally is an error, not a broken script.
	assert.Error(t, machineScript(mac1, "10.0.0.1", 3260, &iscsi.CHAP{User: "u", Secret: "with${x}dollar"}, false).Err())
}

// newTestBase writes a base image with a recognisable pattern and returns its
// path and contents.
func newTestBase(t *testing.T) (string, []byte) {
	t.Helper()
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i / 512)
	}
	p := filepath.Join(t.TempDir(), "base.img")
	require.NoError(t, os.WriteFile(p, data, 0o444))
	return p, data
}

func testConfig(t *testing.T, base string) *config {
	return &config{Base: base, Overlays: t.TempDir(), ISCSI: ":3260"}
}

func TestLookup(t *testing.T) {
	basePath, baseData := newTestBase(t)
	cfg := testConfig(t, basePath)
	cfg.CHAP = &iscsi.CHAP{User: "fleet", Secret: "twelvebytes+"}
	base, err := cow.OpenBase(basePath)
	require.NoError(t, err)
	defer base.Close()
	f := newFleet(cfg, base, slog.New(slog.DiscardHandler))
	ctx := context.Background()

	_, err = f.Lookup(ctx, initiatorName(mac1), "iqn.2026-11.org.example:other")
	require.ErrorIs(t, err, iscsi.ErrTargetNotFound)
	_, err = f.Lookup(ctx, initiatorName(mac2), targetName(mac1))
	require.ErrorIs(t, err, iscsi.ErrNotAuthorized, "one machine may not log in to another's disk")
	_, err = os.Stat(cfg.overlayPath(mac1))
	require.ErrorIs(t, err, os.ErrNotExist, "no overlay before the first login")

	t1, err := f.Lookup(ctx, initiatorName(mac1), targetName(mac1))
	require.NoError(t, err)
	assert.Equal(t, targetName(mac1), t1.Name)
	assert.Equal(t, []string{initiatorName(mac1)}, t1.Initiators, "only the machine's own initiator name")
	assert.Equal(t, cfg.CHAP, t1.CHAP)
	require.Len(t, t1.LUNs, 1)
	_, err = os.Stat(cfg.overlayPath(mac1))
	require.ErrorIs(t, err, os.ErrNotExist, "the overlay is made at the first command, after authentication")
	_, err = t1.LUNs[0].Device.ReadAt(make([]byte, 512), 0)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(cfg.Overlays, "52-54-00-12-34-56.cow"))
	require.NoError(t, err, "the overlay is created at the first command")

	again, err := f.Lookup(ctx, initiatorName(mac1), strings.ToUpper(targetName(mac1)))
	require.NoError(t, err)
	assert.Same(t, t1, again, "one *Target per machine (reservations and unit attentions live there)")

	t2, err := f.Lookup(ctx, initiatorName(mac2), targetName(mac2))
	require.NoError(t, err)
	assert.NotSame(t, t1, t2)

	// Each machine writes its own disk; the base and the other machine see nothing.
	d1, d2 := t1.LUNs[0].Device, t2.LUNs[0].Device
	assert.Equal(t, int64(len(baseData)), d1.Size())
	_, err = d1.WriteAt([]byte("machine one"), 4096)
	require.NoError(t, err)
	got := make([]byte, 11)
	_, err = d2.ReadAt(got, 4096)
	require.NoError(t, err)
	assert.Equal(t, baseData[4096:4096+11], got)
	_, err = d1.ReadAt(got, 4096)
	require.NoError(t, err)
	assert.Equal(t, "machine one", string(got))
	onDisk, err := os.ReadFile(basePath)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(baseData, onDisk), "the base is never written")

	assert.Equal(t, []string{targetName(mac2)}, f.Discover(ctx, initiatorName(mac2)))
	assert.Empty(t, f.Discover(ctx, "iqn.1993-08.org.debian:01:abc"))

	// Reopened after a restart, the overlay keeps the machine's writes.
	require.NoError(t, f.Close())
	f = newFleet(cfg, base, slog.New(slog.DiscardHandler))
	defer f.Close()
	t1, err = f.Lookup(ctx, initiatorName(mac1), targetName(mac1))
	require.NoError(t, err)
	_, err = t1.LUNs[0].Device.ReadAt(got, 4096)
	require.NoError(t, err)
	assert.Equal(t, "machine one", string(got))
}

func TestLookupWrongBase(t *testing.T) {
	basePath, _ := newTestBase(t)
	cfg := testConfig(t, basePath)
	other := filepath.Join(t.TempDir(), "other.img")
	require.NoError(t, os.WriteFile(other, make([]byte, 8<<20), 0o444))
	// An overlay made on another image is refused, not served over the wrong base.
	ob, err := cow.OpenBase(other)
	require.NoError(t, err)
	o, err := cow.Create(cfg.overlayPath(mac1), ob, nil)
	require.NoError(t, err)
	require.NoError(t, o.Close())
	require.NoError(t, ob.Close())

	base, err := cow.OpenBase(basePath)
	require.NoError(t, err)
	defer base.Close()
	f := newFleet(cfg, base, slog.New(slog.DiscardHandler))
	defer f.Close()
	tg, err := f.Lookup(context.Background(), initiatorName(mac1), targetName(mac1))
	require.NoError(t, err)
	_, err = tg.LUNs[0].Device.ReadAt(make([]byte, 512), 0)
	require.ErrorIs(t, err, cow.ErrBaseMismatch)
	_, err = tg.LUNs[0].Device.WriteAt(make([]byte, 512), 0)
	require.ErrorIs(t, err, cow.ErrBaseMismatch, "never served over the wrong base")
}

func TestReset(t *testing.T) {
	basePath, baseData := newTestBase(t)
	cfg := testConfig(t, basePath)
	cfg.ResetMAC = mac1
	log := slog.New(slog.DiscardHandler)

	err := resetOverlay(cfg, log)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has not booted yet")

	base, err := cow.OpenBase(basePath)
	require.NoError(t, err)
	defer base.Close()
	f := newFleet(cfg, base, log)
	tg, err := f.Lookup(context.Background(), initiatorName(mac1), targetName(mac1))
	require.NoError(t, err)
	_, err = tg.LUNs[0].Device.WriteAt([]byte("changed"), 0)
	require.NoError(t, err)

	// While a server holds the overlay, reset refuses.
	err = resetOverlay(cfg, log)
	require.ErrorIs(t, err, cow.ErrInUse)
	assert.Contains(t, err.Error(), "stop the server first")

	require.NoError(t, f.Close())
	require.NoError(t, resetOverlay(cfg, log))

	f = newFleet(cfg, base, log)
	defer f.Close()
	tg, err = f.Lookup(context.Background(), initiatorName(mac1), targetName(mac1))
	require.NoError(t, err)
	got := make([]byte, 512)
	_, err = tg.LUNs[0].Device.ReadAt(got, 0)
	require.NoError(t, err)
	assert.Equal(t, baseData[:512], got, "after reset the machine sees the base again")
}

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		err   string // substring; "" = ok
		check func(t *testing.T, c *config)
	}{
		{args: []string{"-base", "b.img", "-overlays", "o"}, check: func(t *testing.T, c *config) {
			assert.Equal(t, ":3260", c.ISCSI)
			assert.Nil(t, c.CHAP)
			assert.Nil(t, c.ResetMAC)
			assert.Equal(t, "proxy", c.DHCPMode)
		}},
		{args: []string{"-base", "b.img", "-overlays", "o", "-iscsi", "127.0.0.1:3261", "-chap", "fleet:twelvebytes+"}, check: func(t *testing.T, c *config) {
			assert.Equal(t, "127.0.0.1:3261", c.ISCSI)
			assert.Equal(t, &iscsi.CHAP{User: "fleet", Secret: "twelvebytes+"}, c.CHAP)
		}},
		{args: []string{"-base", "b.img", "-overlays", "o", "reset", "52:54:00:12:34:56"}, check: func(t *testing.T, c *config) {
			assert.Equal(t, mac1, c.ResetMAC)
			assert.Equal(t, filepath.Join("o", "52-54-00-12-34-56.cow"), c.overlayPath(c.ResetMAC))
		}},
		{args: []string{"reset", "52-54-00-AB-CD-EF", "-base", "b.img", "-overlays", "o"}, check: func(t *testing.T, c *config) {
			assert.Equal(t, mac2, c.ResetMAC)
			assert.Equal(t, "b.img", c.Base)
		}},
		{args: []string{"-overlays", "o"}, err: "-base IMG is required"},
		{args: []string{"-base", "b.img"}, err: "-overlays DIR is required"},
		{args: []string{"-base", "b", "-overlays", "o", "reset"}, err: "reset needs the MAC"},
		{args: []string{"-base", "b", "-overlays", "o", "reset", "nonsense"}, err: "not an Ethernet MAC"},
		{args: []string{"-base", "b", "-overlays", "o", "reset", "52:54:00:12:34:56", "extra"}, err: "unexpected argument"},
		{args: []string{"-base", "b", "-overlays", "o", "boot"}, err: "unexpected argument"},
		{args: []string{"-base", "b", "-overlays", "o", "-chap", "nocolon"}, err: "-chap: want USER:SECRET"},
		{args: []string{"-base", "b", "-overlays", "o", "-chap", ":secretsecret"}, err: "-chap: want USER:SECRET"},
		{args: []string{"-base", "b", "-overlays", "o", "-chap", "u:short"}, err: "-chap"},
		{args: []string{"-base", "b", "-overlays", "o", "-iscsi", "3260"}, err: "-iscsi"},
		{args: []string{"-base", "b", "-overlays", "o", "-dhcp", "lab"}, err: "needs -range"},
		{args: []string{"-base", "b", "-overlays", "o", "-dhcp", "other"}, err: "want proxy, lab or off"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			c, err := parseFlags(tc.args, io.Discard)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

func TestRunReset(t *testing.T) {
	basePath, _ := newTestBase(t)
	dir := t.TempDir()
	var out, errb bytes.Buffer
	assert.Equal(t, 1, run([]string{"-base", basePath, "-overlays", dir, "reset", mac1.String()}, &out, &errb))
	assert.Contains(t, errb.String(), "has not booted yet")

	base, err := cow.OpenBase(basePath)
	require.NoError(t, err)
	defer base.Close()
	o, err := cow.Create(filepath.Join(dir, "52-54-00-12-34-56.cow"), base, nil)
	require.NoError(t, err)
	require.NoError(t, o.Close())
	out.Reset()
	errb.Reset()
	assert.Equal(t, 0, run([]string{"-base", basePath, "-overlays", dir, "reset", mac1.String()}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "reset 52:54:00:12:34:56")
	assert.Equal(t, 2, run([]string{"-overlays", dir}, &out, &errb))
}
