package netload

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrPerfdhcpOutput is returned when perfdhcp's report cannot be read.
var ErrPerfdhcpOutput = errors.New("unrecognised perfdhcp output")

// perfReport is what perfdhcp's final report says.
type perfReport struct {
	// Rate is perfdhcp's achieved exchanges per second ("Rate: N 4-way
	// exchanges/second"; "Rate: N DISCOVER-OFFER/second" with -i). It
	// divides by the whole run including the exit wait.
	Rate float64
	// Way is 4 for DORA, 2 for DO only.
	Way int
	// Stats per exchange ("DISCOVER-OFFER", "REQUEST-ACK").
	Stats map[string]perfStats
}

// perfStats is one "***Statistics for: X***" section.
type perfStats struct {
	Sent, Received, Drops, Orphans, Rejected int
	// Delays in milliseconds.
	MinMS, AvgMS, MaxMS, StdDevMS float64
	// HaveDelay says whether the section had delay lines (it has none when
	// nothing was received).
	HaveDelay bool
}

// parsePerfdhcp reads the final report perfdhcp prints (Kea 2.x format):
//
//	***Rate statistics***
//	Rate: 998.5 4-way exchanges/second, expected rate: 1000
//	***Statistics for: DISCOVER-OFFER***
//	sent packets: 10000
//	received packets: 9990
//	drops: 10
//	…
//	min delay: 0.102 ms
//	avg delay: 0.260 ms
//	max delay: 7.061 ms
//	std deviation: 0.204 ms
//
// Lines it does not know are ignored; a report without a rate line or
// without any statistics section is an error.
func parsePerfdhcp(out string) (perfReport, error) {
	rep := perfReport{Stats: map[string]perfStats{}}
	haveRate := false
	section := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "***Statistics for:"); ok {
			section = strings.TrimSpace(strings.TrimSuffix(rest, "***"))
			if section == "" {
				return rep, fmt.Errorf("%w: empty section name", ErrPerfdhcpOutput)
			}
			rep.Stats[section] = perfStats{}
			continue
		}
		if strings.HasPrefix(line, "***") {
			section = ""
			continue
		}
		if rest, ok := strings.CutPrefix(line, "Rate:"); ok {
			f := strings.Fields(rest)
			if len(f) < 2 {
				return rep, fmt.Errorf("%w: %q", ErrPerfdhcpOutput, line)
			}
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return rep, fmt.Errorf("%w: rate in %q", ErrPerfdhcpOutput, line)
			}
			// "4-way exchanges/second" (DORA), "2-way …" or, with -i in
			// Kea 2.2, "DISCOVER-OFFER/second".
			w := 0
			switch kind := strings.TrimSuffix(f[1], ","); {
			case kind == "4-way":
				w = 4
			case kind == "2-way" || kind == "DISCOVER-OFFER/second":
				w = 2
			default:
				return rep, fmt.Errorf("%w: exchange kind in %q", ErrPerfdhcpOutput, line)
			}
			rep.Rate, rep.Way, haveRate = v, w, true
			continue
		}
		if section == "" {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		s := rep.Stats[section]
		var err error
		switch strings.TrimSpace(key) {
		case "sent packets":
			s.Sent, err = strconv.Atoi(f[0])
		case "received packets":
			s.Received, err = strconv.Atoi(f[0])
		case "drops":
			s.Drops, err = strconv.Atoi(f[0])
		case "orphans":
			s.Orphans, err = strconv.Atoi(f[0])
		case "rejected leases":
			s.Rejected, err = strconv.Atoi(f[0])
		case "min delay", "avg delay", "max delay", "std deviation":
			// Without answers perfdhcp prints "inf ms", "n/a" or even
			// "avg delay: min delay: n/a": no value, not an error.
			v, ok := parseMS(f)
			if !ok {
				break
			}
			switch strings.TrimSpace(key) {
			case "min delay":
				s.MinMS = v
			case "avg delay":
				s.AvgMS = v
			case "max delay":
				s.MaxMS = v
			default:
				s.StdDevMS = v
			}
			s.HaveDelay = true
		}
		if err == nil && (s.Sent < 0 || s.Received < 0 || s.Drops < 0 || s.Orphans < 0 || s.Rejected < 0) {
			err = errors.New("negative count")
		}
		if err != nil {
			return rep, fmt.Errorf("%w: %q: %v", ErrPerfdhcpOutput, line, err)
		}
		rep.Stats[section] = s
	}
	if !haveRate {
		return rep, fmt.Errorf("%w: no rate line", ErrPerfdhcpOutput)
	}
	if len(rep.Stats) == 0 {
		return rep, fmt.Errorf("%w: no statistics section", ErrPerfdhcpOutput)
	}
	return rep, nil
}

// parseMS reads "0.260 ms" (or seconds); anything else ("n/a", "inf",
// "-nan", a negative number) is no value.
func parseMS(f []string) (float64, bool) {
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || v < 0 {
		return 0, false
	}
	if len(f) > 1 && f[1] == "s" {
		v *= 1000
	}
	return v, true
}
