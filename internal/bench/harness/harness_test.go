package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMedian(t *testing.T) {
	assert.Equal(t, 0.0, Median(nil))
	assert.Equal(t, 2.0, Median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, Median([]float64{4, 1, 3, 2}))
}

// TestRunAlternatesAndRatios runs a fake workload: two subjects that are
// real processes (sleep), one missing peer. It checks the A B A B order,
// medians, the ratio, that memory was sampled and that a failed round is
// recorded without stopping the others.
func TestRunAlternatesAndRatios(t *testing.T) {
	var order []string
	start := func(ctx context.Context) (*Server, error) {
		p, err := StartProc("", nil, "sleep", "60")
		if err != nil {
			return nil, err
		}
		return p.Server("x"), nil
	}
	values := map[string][]float64{"ours": {10, 30, 20}, "peer": {5, 5, 5}}
	w := Workload{
		ID: "fake-1", Group: "Fake", Title: "fake work",
		Metrics: []Metric{{Key: "rate", Unit: "op/s", HigherIsBetter: true}},
		Subjects: []Subject{
			{Name: "ours", Ours: true, Start: start},
			{Name: "peer", Start: start},
			{Name: "absent", Check: func() error { return Need("no-such-program-xyz", "nothing") }, Start: start},
		},
		Run: func(ctx context.Context, subject string, srv *Server) (Sample, error) {
			order = append(order, subject)
			round := 0
			for _, o := range order {
				if o == subject {
					round++
				}
			}
			if subject == "peer" && round == 2 {
				return Sample{}, errors.New("boom")
			}
			return Sample{Values: map[string]float64{"rate": values[subject][round-1]}, Failures: 1, Note: "timeout=1 | x"}, nil
		},
	}
	rep := Run(context.Background(), []Workload{w}, Options{Rounds: 3})
	assert.Equal(t, []string{"ours", "peer", "ours", "peer", "ours", "peer"}, order)
	require.Len(t, rep.Results, 3)
	ours, peer, absent := rep.Results[0], rep.Results[1], rep.Results[2]
	assert.Equal(t, 20.0, ours.Median["rate"])
	assert.Equal(t, 3, ours.Failures)
	assert.Equal(t, 5.0, peer.Median["rate"])
	assert.Len(t, peer.Errors, 1)
	assert.InDelta(t, 4.0, peer.Ratio, 1e-9)
	assert.Positive(t, ours.PeakRSS, "sleep's memory was sampled")
	assert.Contains(t, absent.Skipped, "not installed")
	assert.ErrorIs(t, Need("no-such-program-xyz", "x"), ErrMissing)

	var md bytes.Buffer
	require.NoError(t, rep.Markdown(&md))
	assert.Contains(t, md.String(), "| fake work | **ours** | ↑ rate 20.0 op/s; note: timeout=1 / x | 3 |")
	assert.Contains(t, md.String(), "4.00×")
	assert.Contains(t, md.String(), "note: timeout=1 / x", "failure reasons reach the table, without breaking it")
	assert.Contains(t, md.String(), "skipped: no-such-program-xyz not installed (Debian package nothing)")
	var js bytes.Buffer
	require.NoError(t, rep.JSON(&js))
	var back Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	assert.Equal(t, 20.0, back.Results[0].Median["rate"])
	assert.True(t, strings.HasPrefix(back.Workloads[0].ID, "fake"))
}

// TestTreeRSSCountsChildren checks that the memory of forked children and
// grandchildren is part of a process tree's RSS.
func TestTreeRSSCountsChildren(t *testing.T) {
	p, err := StartProc("", nil, "sh", "-c", `head -c 67108864 /dev/zero | (sleep 30; cat >/dev/null) & wait`)
	require.NoError(t, err)
	defer p.Stop()
	require.Eventually(t, func() bool { return len(Descendants(p.PID())) >= 2 }, 10e9, 10e6)
	sum := statusKB(p.PID(), "VmRSS:")
	for _, c := range Descendants(p.PID()) {
		sum += statusKB(c, "VmRSS:")
	}
	tree := TreeRSS(p.PID())
	assert.Greater(t, tree, statusKB(p.PID(), "VmRSS:"), "children counted")
	assert.InDelta(t, float64(sum), float64(tree), float64(1<<20))
}
