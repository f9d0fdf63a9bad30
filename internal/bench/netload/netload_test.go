package netload

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/bench/harness"
)

// TestQuick runs every workload of the package once at quick sizes against
// every subject whose peer is installed, and checks each produced a real
// measurement: a positive headline value, no failed round, the server's
// memory sampled, and (for TFTP and HTTP, where every byte is checked) no
// failed transfer.
func TestQuick(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and ports 67, 69, 80")
	}
	if testing.Short() {
		t.Skip("-short: starts real servers")
	}
	harness.RemoveStale()
	cfg := harness.Config{Quick: true, Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	ws := Workloads(cfg)
	require.NotEmpty(t, ws)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep := harness.Run(ctx, ws, harness.Options{Rounds: 1, Logger: cfg.Logger})
	require.NoError(t, ctx.Err())
	byID := map[string]harness.Workload{}
	for _, w := range ws {
		byID[w.ID] = w
	}
	ran := 0
	for _, r := range rep.Results {
		w := byID[r.Workload]
		name := r.Workload + "/" + r.Subject
		if r.Skipped != "" {
			assert.Contains(t, r.Skipped, "not installed", name)
			t.Logf("%s skipped: %s", name, r.Skipped)
			continue
		}
		ran++
		if !assert.Empty(t, r.Errors, name) || !assert.Len(t, r.Samples, 1, name) {
			continue
		}
		head := w.Metrics[0].Key
		assert.Positive(t, r.Samples[0].Values[head], "%s: headline %s", name, head)
		assert.Positive(t, r.PeakRSS, "%s: memory sampled", name)
		if w.Group != "DHCP" { // perfdhcp drops are a measurement; lost bytes are a bug
			assert.Zero(t, r.Failures, "%s: %s", name, r.Samples[0].Note)
		}
	}
	assert.Positive(t, ran, "something ran")
	var md strings.Builder
	require.NoError(t, rep.Markdown(&md))
	t.Log("\n" + md.String())
}

func TestSizes(t *testing.T) {
	full, quick := sizes(false), sizes(true)
	assert.Equal(t, params{big: 64 << 20, storm: 8 << 20, kernel: 48 << 20, initrd: 16 << 20, clients: 200, dhcpSeconds: 10}, full)
	assert.Equal(t, int64(4<<20), quick.big)
	assert.Equal(t, int64(512<<10), quick.storm)
	assert.Equal(t, int64(4<<20), quick.kernel+quick.initrd)
	assert.Equal(t, 20, quick.clients)
}

func TestWorkloadsShape(t *testing.T) {
	ws := Workloads(harness.Config{Dir: t.TempDir()})
	ids := map[string]string{}
	for _, w := range ws {
		ids[w.ID] = w.Group
		assert.NotEmpty(t, w.Metrics, w.ID)
		assert.NotEmpty(t, w.Subjects, w.ID)
		assert.True(t, w.Subjects[0].Ours, "%s: ours first", w.ID)
		for _, s := range w.Subjects[1:] {
			assert.False(t, s.Ours, "%s: one ours", w.ID)
		}
		assert.NotNil(t, w.Run, w.ID)
		assert.NotNil(t, w.Setup, w.ID)
	}
	for id, g := range map[string]string{
		"dhcp-rate": "DHCP", "dhcp-saturation": "DHCP", "dhcp-proxy": "DHCP",
		"tftp-512": "TFTP", "tftp-1468": "TFTP", "tftp-65464": "TFTP", "tftp-window16": "TFTP", "tftp-storm": "TFTP",
		"http-storm": "HTTP",
	} {
		assert.Equal(t, g, ids[id], id)
	}
}

func TestWriteFileDeterministic(t *testing.T) {
	d := t.TempDir()
	a, err := writeFile(d, "a", 1<<20+3, 7)
	require.NoError(t, err)
	b, err := writeFile(d, "b", 1<<20+3, 7)
	require.NoError(t, err)
	c, err := writeFile(d, "c", 1<<20+3, 8)
	require.NoError(t, err)
	assert.Equal(t, a.sha256, b.sha256, "same seed, same bytes")
	assert.NotEqual(t, a.sha256, c.sha256)
	st, err := os.Stat(d + "/a")
	require.NoError(t, err)
	assert.Equal(t, int64(1<<20+3), st.Size())
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm(), "readable by servers that drop privileges")
	require.NoError(t, checkFile(d+"/a", a))
	assert.ErrorIs(t, checkFile(d+"/c", a), ErrChecksum)
}
