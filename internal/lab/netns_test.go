package lab_test

import (
	"bufio"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
)

func hasAddr(t *testing.T, ip string) bool {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if in, ok := a.(*net.IPNet); ok && in.IP.String() == ip {
			return true
		}
	}
	return false
}

// TestNetTopologyAndCleanup builds a LAN with two hosts and a tap, talks
// TCP between the hosts through the bridge from in-process sockets, and
// checks that cleanup removes every namespace it created.
func TestNetTopologyAndCleanup(t *testing.T) {
	lab.RequireRoot(t)
	lab.Require(t, "ip")
	var prefix string
	t.Run("net", func(t *testing.T) {
		n := lab.NewNet(t)
		prefix = n.Prefix
		require.True(t, strings.HasPrefix(n.Prefix, lab.NetnsPrefix))
		assert.Equal(t, "10.77.0.1/24", n.Server.Addr.String())
		client := n.AddHost("client")
		assert.Equal(t, "10.77.0.2/24", client.Addr.String())
		assert.Len(t, client.MAC, 6)

		tap := n.AddTap()
		assert.Equal(t, "tap0", tap)
		out, err := exec.Command("ip", "-n", n.LAN, "-o", "link", "show", "master", n.Bridge).CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Contains(t, string(out), "tap0")
		assert.Contains(t, string(out), "v1@")
		assert.Contains(t, string(out), "v2@")

		// The server's address exists only inside its namespace.
		var inside bool
		require.NoError(t, n.Server.Do(func() error { inside = hasAddr(t, "10.77.0.1"); return nil }))
		assert.True(t, inside)
		assert.False(t, hasAddr(t, "10.77.0.1"), "the test's own namespace must not see lab addresses")

		l, err := n.Server.Listen("tcp4", "10.77.0.1:7000")
		require.NoError(t, err)
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			c.Write([]byte("hello from srv\n"))
		}()
		var line string
		require.NoError(t, client.Do(func() error {
			c, err := net.DialTimeout("tcp4", "10.77.0.1:7000", 10*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			line, err = bufio.NewReader(c).ReadString('\n')
			return err
		}))
		assert.Equal(t, "hello from srv\n", line)

		// A child process runs inside the namespace too.
		out2, err := client.Run("ip", "-4", "-o", "addr", "show", "dev", "eth0")
		require.NoError(t, err)
		assert.Contains(t, out2, "10.77.0.2/24")
	})
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	require.NoError(t, err)
	assert.NotContains(t, string(out), prefix, "namespaces left behind")
}

// TestInNetnsUnknown reports a missing namespace as an error.
func TestInNetnsUnknown(t *testing.T) {
	err := lab.InNetns("nbl-does-not-exist", func() error { t.Fatal("ran"); return nil })
	assert.Error(t, err)
}

// TestRASenderOnWire checks that advertisements reach another host on the
// LAN with hop limit 255 and router lifetime 0.
func TestRASenderOnWire(t *testing.T) {
	lab.RequireRoot(t)
	lab.Require(t, "ip")
	n := lab.NewNet(t)
	peer := n.AddHost("peer")
	var (
		pc  net.PacketConn
		err error
	)
	require.NoError(t, peer.Do(func() error {
		pc, err = net.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	}))
	defer pc.Close()
	ra := n.Server.StartRA(t)
	require.NoError(t, pc.SetDeadline(time.Now().Add(15*time.Second)))
	buf := make([]byte, 1500)
	for {
		k, from, err := pc.ReadFrom(buf)
		require.NoError(t, err, "no Router Advertisement within 15 s (sent %d, last error %v)", ra.Sent(), ra.Err())
		if k >= 16 && buf[0] == 134 {
			assert.Equal(t, byte(0), buf[6])
			assert.Equal(t, byte(0), buf[7], "router lifetime 0")
			assert.True(t, from.(*net.IPAddr).IP.IsLinkLocalUnicast(), "source %v", from)
			break
		}
	}
	assert.NoError(t, ra.Err())
	assert.Positive(t, ra.Sent())
}

// TestRemoveStale deletes a namespace named like a dead run's and keeps a
// live one's.
func TestRemoveStale(t *testing.T) {
	lab.RequireRoot(t)
	lab.Require(t, "ip")
	n := lab.NewNet(t) // ours: alive, must survive
	// A PID that does not exist: above the kernel's pid_max default range.
	dead := lab.NetnsPrefix + "dead" + "p4194000-lan"
	out, err := exec.Command("ip", "netns", "add", dead).CombinedOutput()
	require.NoError(t, err, string(out))
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", dead).Run() })
	removed, err := lab.RemoveStale()
	require.NoError(t, err)
	assert.Contains(t, removed, dead)
	list, err := exec.Command("ip", "netns", "list").CombinedOutput()
	require.NoError(t, err)
	assert.NotContains(t, string(list), dead)
	assert.Contains(t, string(list), n.LAN)
}

// TestRAConfigSLAAC lets Linux's own Neighbor Discovery parse a configured
// advertisement: a peer namespace autoconfigures an address in the
// announced prefix (A flag, prefix information option) and sees the O flag.
func TestRAConfigSLAAC(t *testing.T) {
	lab.RequireRoot(t)
	lab.Require(t, "ip")
	n := lab.NewNet(t)
	peer := n.AddHost("slaac")
	for _, k := range []string{"accept_ra=2", "autoconf=1", "forwarding=0"} {
		_, err := peer.Run("sysctl", "-w", "net.ipv6.conf."+peer.Iface+"."+k)
		require.NoError(t, err)
	}
	ra := n.Server.StartRAConfig(t, lab.RAConfig{Other: true, Prefix: netip.MustParsePrefix("fd77:1::/64")})
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := peer.Run("ip", "-6", "addr", "show", "dev", peer.Iface, "scope", "global")
		require.NoError(t, err)
		if strings.Contains(out, "inet6 fd77:1::") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SLAAC address from the advertisement in 30 s (sent %d, err %v):\n%s", ra.Sent(), ra.Err(), out)
		}
		time.Sleep(100 * time.Millisecond) // polling the kernel; bounded above
	}
	b := lab.RAConfig{Managed: true, Other: true, Prefix: netip.MustParsePrefix("fd77:1::/64")}.Message(net.HardwareAddr{2, 0, 0, 0, 0, 1})
	assert.Equal(t, byte(0xC0), b[5], "M and O flags")
	assert.Len(t, b, 16+8+32)
}
