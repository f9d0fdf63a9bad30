package dhcpboot

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/netbootkit/netboot/internal/lab"
)

// BenchmarkPerfdhcp compares the lab Server with kea-dhcp4 and dnsmasq
// under Kea's perfdhcp, in the same run and with the same parameters: each
// server runs alone in a fresh namespace network, perfdhcp (as a relay)
// runs DORA exchanges from distinct clients at a target rate for a fixed
// time, and the benchmark reports the achieved exchanges/s and the drop
// counts. Needs root and perfdhcp (kea-admin); kea-dhcp4 and dnsmasq are
// skipped when missing. Run with -benchtime=1x:
//
//	go test -run '^$' -bench Perfdhcp -benchtime=1x ./dhcpboot
//
// Environment: DHCPBOOT_PERF_RATE (default 4000 exchanges/s target),
// DHCPBOOT_PERF_SECONDS (default 10).
func BenchmarkPerfdhcp(b *testing.B) {
	lab.Require(b, "perfdhcp")
	rate := envInt("DHCPBOOT_PERF_RATE", 4000)
	secs := envInt("DHCPBOOT_PERF_SECONDS", 10)
	servers := []struct {
		name  string
		tool  string
		start func(b *testing.B, n *lab.Net, dir string) *lab.Process
	}{
		{"dhcpboot", "", func(b *testing.B, n *lab.Net, dir string) *lab.Process {
			s := &Server{
				Addr:       n.Server.IP(),
				Subnet:     netip.MustParsePrefix("10.77.0.0/16"),
				RangeStart: netip.MustParseAddr("10.77.1.1"),
				RangeEnd:   netip.MustParseAddr("10.77.250.254"),
				LeaseTime:  time.Hour,
				LeaseFile:  filepath.Join(dir, "leases"),
			}
			startServerTB(b, n.Server, s)
			return nil
		}},
		{"kea", "kea-dhcp4", func(b *testing.B, n *lab.Net, dir string) *lab.Process {
			conf := fmt.Sprintf(`{"Dhcp4": {
  "interfaces-config": {"interfaces": [%q], "dhcp-socket-type": "udp"},
  "lease-database": {"type": "memfile", "persist": true, "name": %q, "lfc-interval": 0},
  "valid-lifetime": 3600,
  "subnet4": [{"id": 1, "subnet": "10.77.0.0/16", "pools": [{"pool": "10.77.1.1 - 10.77.250.254"}]}],
  "loggers": [{"name": "kea-dhcp4", "severity": "WARN", "output_options": [{"output": "stdout"}]}]
}}`, n.Server.Iface, filepath.Join(dir, "kea.leases"))
			cf := filepath.Join(dir, "kea.json")
			if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
				b.Fatal(err)
			}
			b.Setenv("KEA_PIDFILE_DIR", dir)
			b.Setenv("KEA_LOCKFILE_DIR", dir)
			return n.Server.Start(b, "kea-dhcp4", "-c", cf)
		}},
		{"dnsmasq", "dnsmasq", func(b *testing.B, n *lab.Net, dir string) *lab.Process {
			return n.Server.Start(b, "dnsmasq", "-k", "--conf-file=/dev/null", "--port=0", "--user=root",
				"--interface="+n.Server.Iface, "--dhcp-range=10.77.1.1,10.77.250.254,255.255.0.0,1h",
				"--dhcp-leasefile="+filepath.Join(dir, "dnsmasq.leases"), "--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
				"--no-ping", "--dhcp-lease-max=200000")
		}},
	}
	rateRe := regexp.MustCompile(`Rate: ([0-9.]+) 4-way`)
	dropRe := regexp.MustCompile(`drops: (\d+)`)
	for _, sv := range servers {
		b.Run(sv.name, func(b *testing.B) {
			if sv.tool != "" {
				lab.Require(b, sv.tool)
			}
			n := lab.NewNet(b)
			cl := n.AddHost("perf")
			p := sv.start(b, n, b.TempDir())
			time.Sleep(time.Second) // external servers: let them bind (no readiness signal)
			if p != nil {
				select {
				case <-p.Done():
					b.Fatalf("%s exited:\n%s", sv.name, p.Output())
				default:
				}
			}
			var achieved float64
			var drops [2]int
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+60)*time.Second)
				out, err := cl.Command(ctx, "perfdhcp", "-4", "-l", cl.Iface, "-r", strconv.Itoa(rate),
					"-p", strconv.Itoa(secs), "-R", "1000000", "-W", "1000000", n.Server.IP().String()).CombinedOutput()
				cancel()
				m := rateRe.FindSubmatch(out)
				if m == nil {
					b.Fatalf("perfdhcp: %v\n%s", err, out)
				}
				achieved, _ = strconv.ParseFloat(string(m[1]), 64)
				for i, d := range dropRe.FindAllSubmatch(out, 2) {
					drops[i], _ = strconv.Atoi(string(d[1]))
				}
				b.Logf("%s:\n%s", sv.name, out)
			}
			b.ReportMetric(achieved, "DORA/s")
			b.ReportMetric(float64(drops[0]), "drops-DO")
			b.ReportMetric(float64(drops[1]), "drops-RA")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
