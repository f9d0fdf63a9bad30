package netload

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readTestdata(t testing.TB, name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

func TestParsePerfdhcp(t *testing.T) {
	t.Run("DORA", func(t *testing.T) {
		rep, err := parsePerfdhcp(readTestdata(t, "perfdhcp-dora.txt"))
		require.NoError(t, err)
		assert.Equal(t, 952.4, rep.Rate)
		assert.Equal(t, 4, rep.Way)
		assert.Equal(t, perfStats{Sent: 10000, Received: 9990, Drops: 10, MinMS: 0.102, AvgMS: 0.260, MaxMS: 7.061, StdDevMS: 0.204, HaveDelay: true}, rep.Stats["DISCOVER-OFFER"])
		assert.Equal(t, perfStats{Sent: 9990, Received: 9985, Drops: 5, MinMS: 0.098, AvgMS: 0.241, MaxMS: 6.5, StdDevMS: 0.19, HaveDelay: true}, rep.Stats["REQUEST-ACK"])
		s := perfSample(rep, 10)
		assert.Equal(t, 15, s.Failures, "drops of both exchanges")
		assert.InDelta(t, 998.5, s.Values["rate"], 1e-9, "ACKs per second of sending")
		assert.InDelta(t, 0.501, s.Values["dora_avg"], 1e-9)
		assert.Equal(t, 7.061, s.Values["do_max"])
		assert.Equal(t, 6.5, s.Values["ra_max"])
		assert.Equal(t, 15.0, s.Values["drops"])
	})
	t.Run("proxy DO only (Kea 2.2 rate line)", func(t *testing.T) {
		rep, err := parsePerfdhcp(readTestdata(t, "perfdhcp-proxy.txt"))
		require.NoError(t, err)
		assert.Equal(t, 2, rep.Way)
		assert.Equal(t, 5276.27, rep.Rate)
		assert.NotContains(t, rep.Stats, "REQUEST-ACK")
		s := perfSample(rep, 1)
		assert.Equal(t, 10554.0, s.Values["rate"])
		assert.Equal(t, 5836, s.Failures)
		assert.Equal(t, 7.405, s.Values["do_avg"])
		assert.NotContains(t, s.Values, "dora_avg")
	})
	t.Run("no server: n/a and inf delays", func(t *testing.T) {
		rep, err := parsePerfdhcp(readTestdata(t, "perfdhcp-noserver.txt"))
		require.NoError(t, err)
		do := rep.Stats["DISCOVER-OFFER"]
		assert.False(t, do.HaveDelay)
		assert.Positive(t, do.Drops)
		assert.Equal(t, do.Sent, do.Drops)
		s := perfSample(rep, 1)
		assert.Zero(t, s.Values["rate"])
		assert.NotContains(t, s.Values, "do_avg", "no delay when nothing came back")
	})
}

func TestParsePerfdhcpRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"empty":             "",
		"usage error":       "perfdhcp: unknown option -- Z\nUsage: perfdhcp …\n",
		"no section":        "***Rate statistics***\nRate: 10 4-way exchanges/second, expected rate: 10\n",
		"no rate":           "***Statistics for: DISCOVER-OFFER***\nsent packets: 1\n",
		"bad rate":          "Rate: fast 4-way exchanges/second\n***Statistics for: DISCOVER-OFFER***\n",
		"unknown exchange":  "Rate: 10 3-way exchanges/second\n***Statistics for: DISCOVER-OFFER***\n",
		"negative rate":     "Rate: -1 4-way exchanges/second\n***Statistics for: DISCOVER-OFFER***\n",
		"bad count":         "Rate: 1 4-way exchanges/second\n***Statistics for: DISCOVER-OFFER***\nsent packets: many\n",
		"negative count":    "Rate: 1 4-way exchanges/second\n***Statistics for: DISCOVER-OFFER***\ndrops: -3\n",
		"empty section":     "Rate: 1 4-way exchanges/second\n***Statistics for: ***\n",
		"rate without kind": "Rate: 1\n***Statistics for: DISCOVER-OFFER***\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parsePerfdhcp(in)
			assert.ErrorIs(t, err, ErrPerfdhcpOutput)
		})
	}
}

func TestParseStorm(t *testing.T) {
	r, err := parseStorm([]byte("warming up\n{\"clients\":200,\"seconds\":12.5,\"bytes\":1677721600,\"failures\":1,\"first_error\":\"timeout\"}\n"))
	require.NoError(t, err)
	assert.Equal(t, stormResult{Clients: 200, Seconds: 12.5, Bytes: 1677721600, Failures: 1, FirstError: "timeout"}, r)
	for _, bad := range []string{"", "{}", "not json", `{"clients":2,"seconds":1,"bytes":1,"failures":3}`, `{"clients":2,"seconds":-1,"bytes":1}`} {
		_, err := parseStorm([]byte(bad))
		assert.Error(t, err, bad)
	}
}

// FuzzParsePerfdhcp feeds arbitrary text to the perfdhcp report parser: it
// must return a report or an error, never panic, and a report it accepts
// has a rate, a known exchange kind and no negative counts.
func FuzzParsePerfdhcp(f *testing.F) {
	for _, n := range []string{"perfdhcp-dora.txt", "perfdhcp-proxy.txt", "perfdhcp-noserver.txt"} {
		f.Add(readTestdata(f, n))
	}
	f.Add("Rate: 1e308 2-way\n***Statistics for: X***\nmin delay: 1 s\n")
	f.Fuzz(func(t *testing.T, in string) {
		rep, err := parsePerfdhcp(in)
		if err != nil {
			return
		}
		if rep.Rate < 0 || (rep.Way != 2 && rep.Way != 4) || len(rep.Stats) == 0 {
			t.Fatalf("accepted a bad report: %+v", rep)
		}
		for k, s := range rep.Stats {
			if s.Sent < 0 || s.Received < 0 || s.Drops < 0 || s.MinMS < 0 || s.AvgMS < 0 || s.MaxMS < 0 {
				t.Fatalf("%s: negative value %+v", k, s)
			}
		}
		_ = perfSample(rep, 1)
	})
}

// FuzzParseStorm feeds arbitrary bytes to the storm-client output parser.
func FuzzParseStorm(f *testing.F) {
	f.Add([]byte(`{"clients":200,"seconds":12.5,"bytes":1677721600,"failures":1,"first_error":"x"}`))
	f.Add([]byte("line\n{\"clients\":1,\"seconds\":0.1,\"bytes\":0,\"failures\":0}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := parseStorm(in)
		if err == nil && (r.Clients <= 0 || r.Seconds <= 0 || r.Failures < 0 || r.Failures > r.Clients) {
			t.Fatalf("accepted %+v", r)
		}
	})
}
