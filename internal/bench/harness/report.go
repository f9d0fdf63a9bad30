package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// JSON writes the report as indented JSON.
func (r *Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Markdown writes the report: the machine, then one table per group with a
// row per workload and subject: the median of each metric, failures, peak
// RSS and the ratio ours/peer of the headline metric.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	h := r.Host
	fmt.Fprintf(&b, "Measured %s on %s (%d CPUs, %.0f GiB, Linux %s, %s, load average at start %s), %d rounds, subjects alternated each round; medians.\n",
		r.Started.Format("2006-01-02"), h.CPU, h.CPUs, h.MemoryGiB, h.Kernel, h.Go, h.LoadAvg, r.Rounds)
	if r.Command != "" {
		fmt.Fprintf(&b, "Command: `%s`.\n", r.Command)
	}
	if len(h.Peers) > 0 {
		var ps []string
		for k, v := range h.Peers {
			ps = append(ps, k+" ("+v+")")
		}
		slices.Sort(ps)
		fmt.Fprintf(&b, "Peers: %s.\n", strings.Join(ps, ", "))
	}
	b.WriteString("The ratio is ours ÷ peer on the first metric of the row (↑ higher is better, ↓ lower is better): for ↑ metrics above 1 means we are faster, for ↓ metrics below 1 does.\n")
	group := ""
	for _, wl := range r.Workloads {
		if wl.Group != group {
			group = wl.Group
			fmt.Fprintf(&b, "\n### %s\n\n", group)
			b.WriteString("| Workload | Server | Metrics (median) | Failures | Peak RSS | Ours ÷ peer |\n|---|---|---|---:|---:|---:|\n")
		}
		for _, res := range r.Results {
			if res.Workload != wl.ID {
				continue
			}
			name := res.Subject
			if res.Ours {
				name = "**" + name + "**"
			}
			if res.Skipped != "" {
				fmt.Fprintf(&b, "| %s | %s | skipped: %s | | | |\n", wl.Title, name, res.Skipped)
				continue
			}
			var ms []string
			for i, m := range wl.Metrics {
				v, ok := res.Median[m.Key]
				if !ok {
					continue
				}
				arrow := "↓"
				if m.HigherIsBetter {
					arrow = "↑"
				}
				s := fmt.Sprintf("%s %s %s", m.Key, fmtNum(v), m.Unit)
				if i == 0 {
					s = arrow + " " + s
				}
				ms = append(ms, s)
			}
			if len(res.Samples) == 0 {
				ms = []string{"no successful round"}
			}
			if note := firstNote(res.Samples); note != "" {
				ms = append(ms, "note: "+strings.ReplaceAll(note, "|", "/"))
			}
			if len(res.Errors) > 0 {
				ms = append(ms, fmt.Sprintf("%d failed rounds: %s", len(res.Errors), strings.ReplaceAll(firstLine(res.Errors[0]), "|", "/")))
			}
			rss := "–"
			if res.PeakRSS > 0 {
				rss = fmt.Sprintf("%.1f MiB", float64(res.PeakRSS)/(1<<20))
			}
			ratio := ""
			if res.Ratio > 0 {
				ratio = fmt.Sprintf("%.2f×", res.Ratio)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s |\n", wl.Title, name, strings.Join(ms, "; "), res.Failures, rss, ratio)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// firstNote is the note of the first sample that has one (failure reasons,
// a peer's summary), shortened for a table cell.
func firstNote(ss []Sample) string {
	for _, s := range ss {
		if s.Note != "" {
			return firstLine(s.Note)
		}
	}
	return ""
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

func fmtNum(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
