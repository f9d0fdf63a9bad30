package netload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/netbootkit/netboot/internal/bench/harness"
)

// Sizes and counts of the full-size run (the parameters); Quick
// divides sizes by 16 and client counts by 10.
const (
	bigFile       = 64 << 20 // TFTP throughput file
	stormFile     = 8 << 20  // TFTP storm file, per client
	stormClients  = 200      // TFTP and HTTP storm clients
	kernelFile    = 48 << 20 // HTTP storm: kernel …
	initrdFile    = 16 << 20 // … plus initrd = 64 MiB per client
	dhcpSeconds   = 10       // one perfdhcp run
	dhcpFixedRate = 1000     // DORA/s offered in dhcp-rate
	dhcpSatRate   = 20000    // DORA/s offered in dhcp-saturation: far above any server here
)

// Our programs, built once per run by harness.BuildOurs (import paths, so
// they build from any working directory: the runner's or a test's).
const (
	minimalPkg = "github.com/netbootkit/netboot/examples/minimal"
	clientPkg  = "github.com/netbootkit/netboot/internal/bench/cmd/netloadclient"
)

// params are the sizes one run uses.
type params struct {
	big, storm, kernel, initrd int64
	clients                    int
	dhcpSeconds                int
}

func sizes(quick bool) params {
	p := params{big: bigFile, storm: stormFile, kernel: kernelFile, initrd: initrdFile, clients: stormClients, dhcpSeconds: dhcpSeconds}
	if quick {
		p.big, p.storm, p.kernel, p.initrd = p.big/16, p.storm/16, p.kernel/16, p.initrd/16
		p.clients /= 10
		p.dhcpSeconds = 1
	}
	return p
}

// Workloads returns the DHCP, TFTP and HTTP workloads. Nothing starts until
// the harness runs them.
func Workloads(cfg harness.Config) []harness.Workload {
	p := sizes(cfg.Quick)
	if cfg.Host != nil {
		for _, v := range [][2]string{
			{"perfdhcp", "kea-admin"}, {"kea-dhcp4", "kea-dhcp4-server"}, {"dnsmasq", "dnsmasq-base"},
			{"in.tftpd", "tftpd-hpa"}, {"atftp", "atftp"}, {"curl", "curl"},
			{"nginx", "nginx-light"}, {"busybox", "busybox-static"},
		} {
			cfg.Host.PeerVersion(v[0], v[1])
		}
	}
	if cfg.Host != nil {
		if p, err := atftpdPath(); err == nil {
			if out, err := exec.Command(p, "-V").CombinedOutput(); err == nil {
				if cfg.Host.Peers == nil {
					cfg.Host.Peers = map[string]string{}
				}
				cfg.Host.Peers["atftpd"] = strings.TrimSpace(string(out))
			}
		}
	}
	var ws []harness.Workload
	ws = append(ws, dhcpWorkloads(cfg, p)...)
	ws = append(ws, tftpWorkloads(cfg, p)...)
	ws = append(ws, httpWorkloads(cfg, p)...)
	return ws
}

// file is a generated content file with its digest.
type file struct {
	name   string
	size   int64
	sha256 string
}

// writeFile writes size pseudo-random bytes (seeded: the same content every
// run) to dir/name, world-readable (tftpd-hpa and nginx workers drop
// privileges), and returns its digest.
func writeFile(dir, name string, size int64, seed uint64) (file, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return file{}, err
	}
	h := sha256.New()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		for i := 0; i < int(n); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && i+j < int(n); j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := io.MultiWriter(f, h).Write(buf[:n]); err != nil {
			f.Close()
			return file{}, err
		}
		left -= n
	}
	if err := f.Close(); err != nil {
		return file{}, err
	}
	return file{name: name, size: size, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

// publicDir makes a directory every server can read whatever user it drops
// to.
func publicDir(parent, name string) (string, error) {
	d := filepath.Join(parent, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", err
	}
	return d, os.Chmod(d, 0o755)
}

// scratch returns a fresh directory under parent for one subject's round
// (leases, configs, logs).
func scratch(parent, prefix string) (string, error) {
	return os.MkdirTemp(parent, prefix+"-")
}

// ready bounds a server's start-up.
const ready = 30 * time.Second

// startCtx bounds waiting for readiness.
func startCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, ready)
}

// errf builds an error with the subject name.
func errf(subject, format string, a ...any) error {
	return fmt.Errorf(subject+": "+format, a...)
}

// mib formats a byte count in MiB for titles ("64 MiB", "0.5 MiB").
func mib(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'g', 3, 64) + " MiB" }
