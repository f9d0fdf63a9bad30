package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/netbootkit/netboot/internal/lab"
)

// NetnsPrefix starts every namespace the benchmark creates ("nbb" + run id),
// so leftovers of a killed run are recognisable (`ip netns | grep ^nbb`).
const NetnsPrefix = "nbb"

// Net is a private link between two network namespaces: Server (at
// ServerIP, interface "eth0") and Client (at ClientIP), joined by a veth
// pair, both with loopback up. The subnet is 10.99.0.0/16 so DHCP pools of
// thousands of addresses fit.
type Net struct {
	Server, Client     string
	ServerIP, ClientIP netip.Addr
	Prefix             netip.Prefix
	// Iface is the interface name in both namespaces.
	Iface string
}

// NewNet creates the two namespaces. Close deletes them.
func NewNet(ctx context.Context) (*Net, error) {
	var id [3]byte
	_, _ = rand.Read(id[:])
	base := fmt.Sprintf("%s%sp%d", NetnsPrefix, hex.EncodeToString(id[:]), os.Getpid())
	n := &Net{
		Server: base + "s", Client: base + "c", Iface: "eth0",
		ServerIP: netip.MustParseAddr("10.99.0.1"), ClientIP: netip.MustParseAddr("10.99.0.2"),
		Prefix: netip.MustParsePrefix("10.99.0.0/16"),
	}
	steps := [][]string{
		{"netns", "add", n.Server},
		{"netns", "add", n.Client},
		{"link", "add", "nbbtmp" + hex.EncodeToString(id[:2]) + "a", "type", "veth", "peer", "name", "nbbtmp" + hex.EncodeToString(id[:2]) + "b"},
		{"link", "set", "nbbtmp" + hex.EncodeToString(id[:2]) + "a", "netns", n.Server, "name", n.Iface},
		{"link", "set", "nbbtmp" + hex.EncodeToString(id[:2]) + "b", "netns", n.Client, "name", n.Iface},
		{"-n", n.Server, "addr", "add", n.ServerIP.String() + "/16", "dev", n.Iface},
		{"-n", n.Client, "addr", "add", n.ClientIP.String() + "/16", "dev", n.Iface},
		{"-n", n.Server, "link", "set", "lo", "up"},
		{"-n", n.Client, "link", "set", "lo", "up"},
		{"-n", n.Server, "link", "set", n.Iface, "up"},
		{"-n", n.Client, "link", "set", n.Iface, "up"},
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, "ip", s...).CombinedOutput(); err != nil {
			n.Close()
			return nil, fmt.Errorf("ip %s: %w: %s", strings.Join(s, " "), err, out)
		}
	}
	return n, nil
}

// Close deletes the namespaces (and with them the veth pair).
func (n *Net) Close() {
	for _, ns := range []string{n.Server, n.Client} {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// Command returns a command that runs inside namespace ns.
func Command(ctx context.Context, ns, prog string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, prog}, args...)...)
}

// InNetns runs fn on an OS thread switched into namespace ns; sockets fn
// creates stay in ns and may be used from any goroutine afterwards.
func InNetns(ns string, fn func() error) error { return lab.InNetns(ns, fn) }

// RemoveStale deletes namespaces left by benchmark runs whose process is
// gone (their name carries the PID).
func RemoveStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || !strings.HasPrefix(f[0], NetnsPrefix) {
			continue
		}
		name := f[0]
		i := strings.LastIndexByte(name, 'p')
		if i < 0 {
			continue
		}
		pid := strings.TrimRight(name[i+1:], "sc")
		if _, err := os.Stat("/proc/" + pid); err != nil {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	}
}
