package netload

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/netbootkit/netboot/internal/bench/harness"
)

// The lab pool: the whole 10.99.0.0/16 of harness.Net but the first /24,
// 65 000 addresses, so saturation runs never exhaust it. perfdhcp simulates
// perfClients distinct clients (MACs); later exchanges reuse them, which
// every server answers from the existing lease.
const (
	poolFirst   = "10.99.1.1"
	poolLast    = "10.99.255.254"
	perfClients = 60000
)

// pxeOptions make perfdhcp's DISCOVERs look like a BIOS PXE ROM's (vendor
// class PXEClient, architecture 0, UNDI 2.1, a client GUID), so proxyDHCP
// servers answer them.
func pxeOptions() []string {
	vc := hex.EncodeToString([]byte("PXEClient:Arch:00000:UNDI:002001"))
	return []string{"-o", "60," + vc, "-o", "93,0000", "-o", "94,010201",
		"-o", "97,00" + "0102030405060708090a0b0c0d0e0f10"}
}

// dhcpEnv is what a DHCP workload's Setup prepares for its subjects.
type dhcpEnv struct {
	net *harness.Net
	dir string // scratch for this workload
	www string // minimal's -dir (empty)
}

func dhcpMetrics(headline string) []harness.Metric {
	ms := []harness.Metric{
		{Key: "rate", Unit: "DORA/s", HigherIsBetter: true},
		{Key: "dora_avg", Unit: "ms"},
		{Key: "drops", Unit: "pkts"},
		{Key: "do_avg", Unit: "ms"},
		{Key: "do_max", Unit: "ms"},
		{Key: "ra_avg", Unit: "ms"},
		{Key: "ra_max", Unit: "ms"},
	}
	for i, m := range ms {
		if m.Key == headline {
			ms[0], ms[i] = ms[i], ms[0]
		}
	}
	return ms
}

func dhcpWorkloads(cfg harness.Config, p params) []harness.Workload {
	mk := func(id, title string, metrics []harness.Metric, rate int, proxy bool) harness.Workload {
		env := &dhcpEnv{}
		w := harness.Workload{
			ID: id, Group: "DHCP", Title: title, Metrics: metrics,
			Timeout: time.Duration(p.dhcpSeconds)*time.Second + 2*time.Minute,
			Setup: func(ctx context.Context) (func(), error) {
				n, err := harness.NewNet(ctx)
				if err != nil {
					return nil, err
				}
				env.net = n
				env.dir, err = scratch(cfg.Dir, id)
				if err == nil {
					env.www, err = publicDir(env.dir, "www")
				}
				if err != nil {
					n.Close()
					return nil, err
				}
				return n.Close, nil
			},
			Run: func(ctx context.Context, subject string, srv *harness.Server) (harness.Sample, error) {
				return runPerfdhcp(ctx, env, p.dhcpSeconds, rate, proxy)
			},
		}
		if proxy {
			w.Subjects = []harness.Subject{
				{Name: "netboot proxy", Ours: true, Start: func(ctx context.Context) (*harness.Server, error) { return startMinimalDHCP(ctx, env, "proxy") }},
				{Name: "dnsmasq proxy", Check: func() error { return harness.Need("dnsmasq", "dnsmasq") }, Start: func(ctx context.Context) (*harness.Server, error) { return startDnsmasqDHCP(ctx, env, true) }},
			}
		} else {
			w.Subjects = []harness.Subject{
				{Name: "netboot lab", Ours: true, Start: func(ctx context.Context) (*harness.Server, error) { return startMinimalDHCP(ctx, env, "lab") }},
				{Name: "kea-dhcp4", Check: func() error { return harness.Need("kea-dhcp4", "kea-dhcp4-server") }, Start: func(ctx context.Context) (*harness.Server, error) { return startKea(ctx, env) }},
				{Name: "dnsmasq", Check: func() error { return harness.Need("dnsmasq", "dnsmasq") }, Start: func(ctx context.Context) (*harness.Server, error) { return startDnsmasqDHCP(ctx, env, false) }},
			}
		}
		for i := range w.Subjects {
			check := w.Subjects[i].Check
			w.Subjects[i].Check = func() error {
				if err := harness.Need("perfdhcp", "kea-admin"); err != nil {
					return err
				}
				if check != nil {
					return check()
				}
				return nil
			}
		}
		return w
	}
	return []harness.Workload{
		mk("dhcp-rate", fmt.Sprintf("DORA at a fixed %d/s for %d s (perfdhcp, relayed)", dhcpFixedRate, p.dhcpSeconds),
			dhcpMetrics("dora_avg"), dhcpFixedRate, false),
		mk("dhcp-saturation", fmt.Sprintf("DORA offered at %d/s for %d s: saturation", dhcpSatRate, p.dhcpSeconds),
			dhcpMetrics("rate"), dhcpSatRate, false),
		mk("dhcp-proxy", fmt.Sprintf("proxyDHCP: PXE DISCOVER→OFFER offered at %d/s for %d s", dhcpSatRate, p.dhcpSeconds),
			[]harness.Metric{
				{Key: "rate", Unit: "DO/s", HigherIsBetter: true},
				{Key: "drops", Unit: "pkts"},
				{Key: "do_avg", Unit: "ms"},
				{Key: "do_max", Unit: "ms"},
			}, dhcpSatRate, true),
	}
}

// runPerfdhcp runs perfdhcp in the client namespace against the server:
// it sends to 10.99.0.1 as a relay agent (giaddr 10.99.0.2), which every
// server answers by unicast, so no broadcast handling skews the numbers.
func runPerfdhcp(ctx context.Context, env *dhcpEnv, secs, rate int, proxy bool) (harness.Sample, error) {
	args := []string{"-4", "-l", env.net.Iface, "-r", strconv.Itoa(rate), "-p", strconv.Itoa(secs),
		"-R", strconv.Itoa(perfClients), "-W", "500000"}
	if proxy {
		args = append(args, "-i")
		args = append(args, pxeOptions()...)
	}
	args = append(args, env.net.ServerIP.String())
	cctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+time.Minute)
	defer cancel()
	out, err := harness.Command(cctx, env.net.Client, "perfdhcp", args...).CombinedOutput()
	rep, perr := parsePerfdhcp(string(out))
	if perr != nil {
		// perfdhcp exits non-zero when packets were dropped; only a report
		// that cannot be read is a failed run.
		return harness.Sample{}, fmt.Errorf("perfdhcp: %v (exit: %v)\n%s", perr, err, tail(string(out), 1500))
	}
	return perfSample(rep, secs), nil
}

// perfSample turns a perfdhcp report into the workload's values. The rate
// is the completed exchanges (ACKs, or OFFERs for DO-only runs) divided by
// the sending period: perfdhcp's own rate line also divides by its exit
// wait, which would understate short runs. Drops of both exchanges are the
// failures.
func perfSample(rep perfReport, secs int) harness.Sample {
	v := map[string]float64{"rate": rep.Rate}
	drops := 0
	if do, ok := rep.Stats["DISCOVER-OFFER"]; ok {
		if rep.Way == 2 {
			v["rate"] = float64(do.Received) / float64(secs)
		}
		drops += do.Drops
		if do.HaveDelay {
			v["do_avg"], v["do_max"] = do.AvgMS, do.MaxMS
		}
	}
	if ra, ok := rep.Stats["REQUEST-ACK"]; ok {
		drops += ra.Drops
		v["rate"] = float64(ra.Received) / float64(secs)
		if ra.HaveDelay {
			v["ra_avg"], v["ra_max"] = ra.AvgMS, ra.MaxMS
			v["dora_avg"] = v["do_avg"] + ra.AvgMS
		}
	}
	v["drops"] = float64(drops)
	return harness.Sample{Values: v, Failures: drops}
}

// startMinimalDHCP runs examples/minimal, the server a user runs, in lab or
// proxy mode on the server namespace's interface; its lease file is fresh
// every round like the peers'.
func startMinimalDHCP(ctx context.Context, env *dhcpEnv, mode string) (*harness.Server, error) {
	bin, err := harness.BuildOurs(ctx, minimalPkg)
	if err != nil {
		return nil, err
	}
	d, err := scratch(env.dir, "netboot")
	if err != nil {
		return nil, err
	}
	ip := env.net.ServerIP.String()
	args := []string{"-dhcp", mode, "-iface", env.net.Iface, "-addr", ip, "-dir", env.www,
		"-http", ip + ":80", "-tftp", ip + ":69"}
	if mode == "lab" {
		args = append(args, "-range", poolFirst+"-"+poolLast, "-leases", filepath.Join(d, "leases"))
	}
	return startUDP(ctx, "netboot", env.net.Server, nil, 67, func() { os.RemoveAll(d) }, bin, args...)
}

// startKea runs kea-dhcp4 with the same pool and lease time, leases in a
// memfile (persisted, as Kea ships), logging at Kea's default INFO to stdout.
func startKea(ctx context.Context, env *dhcpEnv) (*harness.Server, error) {
	d, err := scratch(env.dir, "kea")
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`{"Dhcp4": {
  "interfaces-config": {"interfaces": [%q], "dhcp-socket-type": "udp"},
  "lease-database": {"type": "memfile", "persist": true, "name": %q, "lfc-interval": 0},
  "valid-lifetime": 3600,
  "subnet4": [{"id": 1, "subnet": %q, "pools": [{"pool": "%s - %s"}]}],
  "loggers": [{"name": "kea-dhcp4", "severity": "INFO", "output_options": [{"output": "stdout"}]}]
}}`, env.net.Iface, filepath.Join(d, "kea.leases"), env.net.Prefix.String(), poolFirst, poolLast)
	cf := filepath.Join(d, "kea.json")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	envv := []string{"KEA_PIDFILE_DIR=" + d, "KEA_LOCKFILE_DIR=" + d}
	return startUDP(ctx, "kea-dhcp4", env.net.Server, envv, 67, func() { os.RemoveAll(d) }, "kea-dhcp4", "-c", cf)
}

// startDnsmasqDHCP runs dnsmasq as a DHCP server with the same pool, or as
// a proxyDHCP server with one PXE boot service, logging to stderr.
func startDnsmasqDHCP(ctx context.Context, env *dhcpEnv, proxy bool) (*harness.Server, error) {
	d, err := scratch(env.dir, "dnsmasq")
	if err != nil {
		return nil, err
	}
	args := []string{"-k", "--conf-file=/dev/null", "--port=0", "--user=root", "--log-facility=-",
		"--interface=" + env.net.Iface, "--dhcp-leasefile=" + filepath.Join(d, "leases"),
		"--pid-file=" + filepath.Join(d, "pid")}
	if proxy {
		args = append(args, "--dhcp-range="+env.net.Prefix.Addr().String()+",proxy",
			`--pxe-service=x86PC,"Network boot",undionly`)
	} else {
		args = append(args, "--dhcp-range="+poolFirst+","+poolLast+",255.255.0.0,1h",
			"--no-ping", "--dhcp-lease-max=200000")
	}
	return startUDP(ctx, "dnsmasq", env.net.Server, nil, 67, func() { os.RemoveAll(d) }, "dnsmasq", args...)
}

// startUDP starts prog in namespace ns and waits until it has bound UDP
// port (its readiness: these servers print nothing reliable when ready).
func startUDP(ctx context.Context, name, ns string, envv []string, port int, cleanup func(), prog string, args ...string) (*harness.Server, error) {
	pr, err := harness.StartProc(ns, envv, prog, args...)
	if err != nil {
		cleanup()
		return nil, errf(name, "%w", err)
	}
	wctx, cancel := startCtx(ctx)
	defer cancel()
	if err := pr.WaitUDPBound(wctx, port); err != nil {
		pr.Stop()
		cleanup()
		return nil, errf(name, "%w", err)
	}
	return pr.Server(name, cleanup), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
