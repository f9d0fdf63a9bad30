package harness

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Monitor samples the resident memory of a process tree until stopped.
type Monitor struct {
	pid  int
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak int64
}

// Watch starts sampling the resident memory (VmRSS) of pid and all its
// descendants every interval; Stop returns the largest sum seen, or the
// kernel's own high-water mark of pid (VmHWM) when that is larger (it
// catches spikes between samples of the root process).
func Watch(pid int, interval time.Duration) *Monitor {
	m := &Monitor{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			m.sample()
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *Monitor) sample() {
	total := TreeRSS(m.pid)
	if hwm := statusKB(m.pid, "VmHWM:"); hwm > total {
		total = hwm
	}
	m.mu.Lock()
	m.peak = max(m.peak, total)
	m.mu.Unlock()
}

// Stop ends sampling and returns the peak in bytes.
func (m *Monitor) Stop() int64 {
	m.sample()
	close(m.stop)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak
}

// TreeRSS returns the summed VmRSS in bytes of pid and its descendants
// (0 when pid is gone).
func TreeRSS(pid int) int64 {
	var total int64
	for _, p := range append([]int{pid}, Descendants(pid)...) {
		total += statusKB(p, "VmRSS:")
	}
	return total
}

// Descendants lists the PIDs whose parent chain leads to pid, read from
// /proc/*/stat.
func Descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, e := range ents {
		b, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(e)))
		pp, _ := strconv.Atoi(f[1])
		parent[p] = pp
	}
	var out []int
	for p := range parent {
		for q, n := parent[p], 0; q != 0 && n < 64; q, n = parent[q], n+1 {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// statusKB reads a "Key:   N kB" line of /proc/PID/status, in bytes.
func statusKB(pid int, key string) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}
