package diskload

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/bench/harness"
)

// TestQuick runs every workload of the package once at quick sizes and
// checks that each subject that can run here produced a real measurement.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers for about a minute")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, tgtd)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	host := harness.Host()
	cfg := harness.Config{Quick: true, Dir: t.TempDir(), Host: &host}
	ws := Workloads(cfg)
	require.NotEmpty(t, ws)
	rep := harness.Run(ctx, ws, harness.Options{Rounds: 1})
	require.NoError(t, ctx.Err())
	byID := map[string]harness.Workload{}
	for _, w := range ws {
		byID[w.ID] = w
	}
	ran := 0
	for _, r := range rep.Results {
		name := r.Workload + "/" + r.Subject
		if r.Skipped != "" {
			t.Logf("%s skipped: %s", name, r.Skipped)
			continue
		}
		ran++
		headline := byID[r.Workload].Metrics[0].Key
		assert.Empty(t, r.Errors, name)
		if assert.Len(t, r.Samples, 1, name) {
			assert.Greater(t, r.Samples[0].Values[headline], 0.0, "%s: headline %s", name, headline)
		}
		assert.Zero(t, r.Failures, name)
		assert.Greater(t, r.PeakRSS, int64(0), "%s: peak RSS", name)
	}
	assert.Greater(t, ran, 0, "no subject could run here")
	if t.Failed() {
		for _, r := range rep.Results {
			t.Logf("%+v", r)
		}
	}
	// The namespaces the run created (named after this process) are gone.
	ents, _ := os.ReadDir("/run/netns")
	suffix := "p" + strconv.Itoa(os.Getpid())
	for _, e := range ents {
		n := strings.TrimRight(e.Name(), "sc")
		assert.False(t, strings.HasPrefix(n, harness.NetnsPrefix) && strings.HasSuffix(n, suffix),
			"namespace %s left behind", e.Name())
	}
}

func TestParseLoadgen(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     LoadgenResult
		ok       bool
	}{
		{"plain", "1000 2.000000 150.5 900.0 0\n", LoadgenResult{1000, 2, 150.5, 900, 0}, true},
		{"last line wins", "noise\n20 1.0 1 2 3\n", LoadgenResult{20, 1, 1, 2, 3}, true},
		{"old two-field format", "1000 2.0\n", LoadgenResult{}, false},
		{"empty", "", LoadgenResult{}, false},
		{"zero seconds", "10 0 1 1 0", LoadgenResult{}, false},
		{"negative ops", "-1 1 1 1 0", LoadgenResult{}, false},
		{"more errors than ops", "1 1 1 1 2", LoadgenResult{}, false},
		{"NaN latency", "1 1 NaN 1 0", LoadgenResult{}, false},
		{"Inf seconds", "1 +Inf 1 1 0", LoadgenResult{}, false},
		{"not numbers", "a b c d e", LoadgenResult{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLoadgen(tc.in)
			if !tc.ok {
				require.ErrorIs(t, err, ErrBadOutput)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestLoadgenSample(t *testing.T) {
	s := LoadgenResult{Ops: 2000, Seconds: 2, AvgUS: 10, P99US: 20, Errors: 0}.Sample(1 << 20)
	assert.InDelta(t, 1000, s.Values["IOPS"], 1e-9)
	assert.InDelta(t, 1000*1.048576, s.Values["MB/s"], 1e-9)
	assert.Equal(t, 10.0, s.Values["lat_avg"])
	assert.Equal(t, 20.0, s.Values["lat_p99"])

	// Failed commands are failures, not throughput.
	s = LoadgenResult{Ops: 100, Seconds: 1, Errors: 40}.Sample(4096)
	assert.Equal(t, 40, s.Failures)
	assert.InDelta(t, 60, s.Values["IOPS"], 1e-9)
}

func TestParseCowload(t *testing.T) {
	s, err := ParseCowload("starting\nRESULT {\"values\":{\"seq_mbps\":12.5,\"rand_iops\":300},\"failures\":2}\n")
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"seq_mbps": 12.5, "rand_iops": 300}, s.Values)
	assert.Equal(t, 2, s.Failures)

	for _, bad := range []string{
		"",
		"RESULT not json",
		"RESULT {\"values\":{},\"failures\":0}",
		"RESULT {\"values\":{\"a\":1},\"failures\":-1}",
		"result {\"values\":{\"a\":1}}",
	} {
		_, err := ParseCowload(bad)
		assert.ErrorIs(t, err, ErrBadOutput, "%q", bad)
	}
}

func TestParamsQuick(t *testing.T) {
	full, quick := paramsFor(harness.Config{}), paramsFor(harness.Config{Quick: true})
	assert.Equal(t, int64(1<<30), full.image)
	assert.Equal(t, full.image/16, quick.image)
	assert.Less(t, quick.seconds, full.seconds)
}

func FuzzParseLoadgen(f *testing.F) {
	for _, s := range []string{"1000 2.000000 150.5 900.0 0\n", "1 1 NaN 1 0", "x\n1 1 1 1 1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseLoadgen(in)
		if err != nil {
			return
		}
		if r.Seconds <= 0 || r.Errors > r.Ops || r.Ops < 0 {
			t.Fatalf("accepted out-of-range result %+v from %q", r, in)
		}
		s := r.Sample(4096)
		if v := s.Values["IOPS"]; v < 0 || v != v {
			t.Fatalf("IOPS %v from %q", v, in)
		}
	})
}

func FuzzParseCowload(f *testing.F) {
	f.Add("RESULT {\"values\":{\"seq_mbps\":12.5},\"failures\":0}\n")
	f.Add("RESULT {}")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseCowload(in)
		if err == nil && (s.Failures < 0 || len(s.Values) == 0) {
			t.Fatalf("accepted %+v from %q", s, in)
		}
	})
}
