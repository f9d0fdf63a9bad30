package harness

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// HostInfo describes the machine a report was measured on.
type HostInfo struct {
	CPU       string  `json:"cpu"`
	CPUs      int     `json:"cpus"`
	MemoryGiB float64 `json:"memory_gib"`
	Kernel    string  `json:"kernel"`
	Go        string  `json:"go"`
	// LoadAvg is /proc/loadavg at the start: other work on the machine
	// skews every number.
	LoadAvg string `json:"loadavg"`
	// Peers maps each peer program to its version string.
	Peers map[string]string `json:"peers,omitempty"`
}

// Host reads the machine's description.
func Host() HostInfo {
	h := HostInfo{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			var kb float64
			for _, c := range f[1] {
				kb = kb*10 + float64(c-'0')
			}
			h.MemoryGiB = kb / (1 << 20)
		}
	}
	if b, err := exec.Command("uname", "-r").Output(); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		h.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return h
}

// PeerVersion records the Debian version of the package that provides a
// peer (dpkg-query), for the report.
func (h *HostInfo) PeerVersion(name, debianPackage string) {
	b, err := exec.Command("dpkg-query", "-W", "-f=${Version}", debianPackage).Output()
	if err != nil || len(b) == 0 {
		return
	}
	if h.Peers == nil {
		h.Peers = map[string]string{}
	}
	h.Peers[name] = debianPackage + " " + string(b)
}
