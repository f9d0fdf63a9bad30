package dhcpboot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/netbootkit/netboot/internal/lab"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startServer serves s on port 67 of h's interface and stops it at cleanup.
func startServer(t *testing.T, h *lab.Host, s *Server) { startServerTB(t, h, s) }

func startServerTB(t testing.TB, h *lab.Host, s *Server) {
	t.Helper()
	var conn net.PacketConn
	require.NoError(t, h.Do(func() (err error) {
		conn, err = server4.NewIPv4UDPConn(h.Iface, &net.UDPAddr{Port: 67})
		return err
	}))
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(conn) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, s.Shutdown(ctx))
		select {
		case err := <-errc:
			assert.ErrorIs(t, err, ErrServerClosed)
		case <-ctx.Done():
			t.Error("Serve did not return")
		}
	})
}

// waitFile waits (bounded) for path to exist and returns its content.
func waitFile(t *testing.T, path string, p *lab.Process, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s; client output:\n%s", path, p.Output())
		case <-tick.C:
		}
	}
}

func envVar(env, name string) string {
	for _, l := range strings.Split(env, "\n") {
		if v, ok := strings.CutPrefix(l, name+"="); ok {
			return strings.Trim(v, "'")
		}
	}
	return ""
}

// TestLabServerRealClients: stock DHCP clients (ISC dhclient, busybox
// udhcpc) in their own namespaces, sending PXE-style requests, get an
// address and the right boot file per architecture from the lab Server.
func TestLabServerRealClients(t *testing.T) {
	lab.Require(t, "dhclient", "busybox")
	n := lab.NewNet(t)
	dir := t.TempDir()
	var mu sync.Mutex
	leases := map[string]string{}
	s := &Server{
		Addr:       n.Server.IP(),
		Subnet:     n.Subnet,
		RangeStart: netip.MustParseAddr("10.77.0.100"),
		RangeEnd:   netip.MustParseAddr("10.77.0.199"),
		Router:     n.Server.IP(),
		LeaseTime:  time.Hour,
		LeaseFile:  filepath.Join(dir, "leases"),
		Policy: &Chainload{
			TFTPServer: n.Server.IP(),
			Script:     "http://10.77.0.1/boot.ipxe",
		},
		OnLease: func(l Lease) {
			mu.Lock()
			defer mu.Unlock()
			leases[l.MAC.String()] = l.IP.String()
		},
	}
	startServer(t, n.Server, s)

	type client struct {
		name      string
		tool      string // "dhclient" or "udhcpc"
		vendor    string
		arch      int // -1: none
		userClass string
		wantFile  string
	}
	clients := []client{
		{name: "dhcl-uefi", tool: "dhclient", vendor: "PXEClient:Arch:00007:UNDI:003000", arch: 7, wantFile: "ipxe.efi"},
		{name: "dhcl-arm64", tool: "dhclient", vendor: "PXEClient:Arch:00011:UNDI:003000", arch: 11, wantFile: "ipxe-arm64.efi"},
		{name: "dhcl-plain", tool: "dhclient", arch: -1, wantFile: ""},
		{name: "udhcpc-bios", tool: "udhcpc", vendor: "PXEClient:Arch:00000:UNDI:002001", arch: 0, wantFile: "undionly.kpxe"},
		{name: "udhcpc-ipxe", tool: "udhcpc", vendor: "PXEClient:Arch:00000:UNDI:002001", arch: 0, userClass: "iPXE", wantFile: "http://10.77.0.1/boot.ipxe"},
		{name: "udhcpc-efi9", tool: "udhcpc", vendor: "PXEClient:Arch:00009:UNDI:003000", arch: 9, wantFile: "ipxe.efi"},
	}
	hosts := make([]*lab.Host, len(clients))
	for i, c := range clients {
		hosts[i] = n.AddHost(c.name)
		_, err := hosts[i].Run("ip", "addr", "flush", "dev", hosts[i].Iface)
		require.NoError(t, err)
	}
	for i, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			h := hosts[i]
			out := filepath.Join(dir, c.name+".env")
			script := filepath.Join(dir, c.name+".sh")
			var p *lab.Process
			switch c.tool {
			case "dhclient":
				body := fmt.Sprintf("#!/bin/sh\ncase \"$reason\" in BOUND|REBOOT) env > %[1]s.tmp && mv %[1]s.tmp %[1]s;; esac\nexit 0\n", out)
				require.NoError(t, os.WriteFile(script, []byte(body), 0o755))
				conf := "option pxe-arch code 93 = unsigned integer 16;\nrequest subnet-mask, routers, bootfile-name;\n"
				if c.vendor != "" {
					conf += fmt.Sprintf("send vendor-class-identifier %q;\nsend pxe-arch %d;\n", c.vendor, c.arch)
				}
				cf := filepath.Join(dir, c.name+".conf")
				require.NoError(t, os.WriteFile(cf, []byte(conf), 0o644))
				p = h.Start(t, "dhclient", "-4", "-1", "-d", "-v", "-cf", cf, "-lf", filepath.Join(dir, c.name+".leases"),
					"-pf", filepath.Join(dir, c.name+".pid"), "-sf", script, h.Iface)
			case "udhcpc":
				body := fmt.Sprintf("#!/bin/sh\ncase \"$1\" in bound) env > %[1]s.tmp && mv %[1]s.tmp %[1]s;; esac\nexit 0\n", out)
				require.NoError(t, os.WriteFile(script, []byte(body), 0o755))
				args := []string{"udhcpc", "-f", "-q", "-n", "-t", "10", "-T", "2", "-i", h.Iface, "-s", script, "-O", "bootfile",
					"-V", c.vendor, "-x", fmt.Sprintf("0x5d:%04x", c.arch)}
				if c.userClass != "" {
					args = append(args, "-x", fmt.Sprintf("0x4d:%x", c.userClass))
				}
				p = h.Start(t, "busybox", args...)
			}
			env := waitFile(t, out, p, 60*time.Second)
			p.Stop()
			var ip, file, siaddr string
			if c.tool == "dhclient" {
				ip, file, siaddr = envVar(env, "new_ip_address"), envVar(env, "new_filename"), envVar(env, "new_next_server")
			} else {
				ip, file, siaddr = envVar(env, "ip"), envVar(env, "boot_file"), envVar(env, "siaddr")
			}
			a, err := netip.ParseAddr(ip)
			require.NoError(t, err, "no address in client env:\n%s", env)
			assert.True(t, a.Compare(s.RangeStart) >= 0 && a.Compare(s.RangeEnd) <= 0, "address %s in range", a)
			assert.Equal(t, c.wantFile, file, "boot file; env:\n%s", env)
			if c.wantFile != "" && !strings.Contains(c.wantFile, "://") && c.tool == "udhcpc" {
				assert.Equal(t, "10.77.0.1", siaddr)
			}
			mu.Lock()
			assert.Equal(t, ip, leases[h.MAC.String()], "server recorded the lease")
			mu.Unlock()
		})
	}
	// All addresses distinct.
	seen := map[string]string{}
	for m, ip := range leases {
		if other, dup := seen[ip]; dup {
			t.Errorf("address %s given to %s and %s", ip, other, m)
		}
		seen[ip] = m
	}
}

// TestLabServerPerfdhcp: Kea's perfdhcp runs thousands of DORA exchanges
// (as a relay, from distinct simulated clients) with its address-uniqueness
// check on; every exchange completes and no address is handed out twice.
func TestLabServerPerfdhcp(t *testing.T) {
	lab.Require(t, "perfdhcp")
	n := lab.NewNet(t)
	cl := n.AddHost("perf")
	var mu sync.Mutex
	owner := map[netip.Addr]string{}
	var dups []string
	s := &Server{
		Addr:       n.Server.IP(),
		Subnet:     netip.MustParsePrefix("10.77.0.0/16"),
		RangeStart: netip.MustParseAddr("10.77.1.1"),
		RangeEnd:   netip.MustParseAddr("10.77.40.254"),
		LeaseTime:  time.Hour,
		LeaseFile:  filepath.Join(t.TempDir(), "leases"),
		OnLease: func(l Lease) {
			mu.Lock()
			defer mu.Unlock()
			if m, ok := owner[l.IP]; ok && m != l.MAC.String() {
				dups = append(dups, fmt.Sprintf("%s: %s and %s", l.IP, m, l.MAC))
			}
			owner[l.IP] = l.MAC.String()
		},
	}
	startServer(t, n.Server, s)
	const exchanges = 2000
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := cl.Command(ctx, "perfdhcp", "-4", "-l", cl.Iface, "-r", "200", "-n", fmt.Sprint(exchanges), "-R", "100000",
		"-u", "-W", "2000000", n.Server.IP().String())
	out, err := cmd.CombinedOutput()
	t.Logf("perfdhcp:\n%s", out)
	// Exit status 3 means some exchanges were lost (a loaded CI machine
	// can drop a few datagrams); anything else is a failure.
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 3) {
		t.Fatalf("perfdhcp: %v", err)
	}
	rep := string(out)
	assert.Equal(t, 2, strings.Count(rep, "non unique addresses: 0"), "perfdhcp saw a duplicate address")
	assert.Equal(t, 2, strings.Count(rep, "rejected leases: 0"))
	m := regexp.MustCompile(`(?s)REQUEST-ACK\*+\nsent packets: (\d+)\nreceived packets: (\d+)`).FindStringSubmatch(rep)
	require.Len(t, m, 3, "no REQUEST-ACK statistics")
	sent, _ := strconv.Atoi(m[1])
	acked, _ := strconv.Atoi(m[2])
	assert.GreaterOrEqual(t, acked, exchanges*90/100, "completed DORA exchanges (sent %d)", sent)
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, dups, "duplicate addresses")
	assert.GreaterOrEqual(t, len(owner), exchanges*9/10, "leases committed")
}
