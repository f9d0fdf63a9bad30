package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// NetnsPrefix starts the name of every namespace the lab creates, followed
// by a random per-run id, so parallel runs and other packages never collide
// and leftovers are recognisable.
const NetnsPrefix = "nbl"

// DefaultSubnet is the LAN of a [Net]: the server is .1, further hosts .2,
// .3, …; leave .100–.199 to DHCP pools. It exists only inside the test's
// namespaces.
const DefaultSubnet = "10.77.0.0/24"

// Net is a private Ethernet segment for one test: a namespace (LAN) holding
// bridge "br0" and the tap devices QEMU machines use, and host namespaces
// attached to the bridge by veth pairs. NewNet creates it with one host,
// Server; t.Cleanup removes exactly what was created.
type Net struct {
	// Prefix is the per-run name prefix, e.g. "nbl3f9a2c".
	Prefix string
	// LAN is the namespace holding br0 and the taps; run QEMU there
	// (Machine.Netns = n.LAN).
	LAN string
	// Bridge is the bridge device in LAN ("br0").
	Bridge string
	// Subnet is the hosts' IPv4 subnet ([DefaultSubnet]).
	Subnet netip.Prefix
	// Server is the first host, named "srv", at Subnet's .1.
	Server *Host

	t      testing.TB
	mu     sync.Mutex
	hosts  int
	taps   int
	closed bool
}

// Host is a network namespace with one interface, Iface, cabled to the
// LAN bridge, carrying Addr. Loopback is up.
type Host struct {
	// Name is the short name given to AddHost ("srv" for Net.Server).
	Name string
	// Netns is the namespace's name (for `ip netns exec`).
	Netns string
	// Iface is the interface on the LAN inside Netns ("eth0").
	Iface string
	// Addr is the IPv4 address and prefix on Iface.
	Addr netip.Prefix
	// MAC is Iface's hardware address.
	MAC net.HardwareAddr

	t testing.TB
}

// IP returns the host's IPv4 address.
func (h *Host) IP() netip.Addr { return h.Addr.Addr() }

// NewNet creates a LAN namespace with a bridge and a server host. It skips
// the test unless running as root with iproute2 installed.
func NewNet(t testing.TB) *Net {
	t.Helper()
	RequireRoot(t)
	Require(t, "ip")
	var id [2]byte
	_, _ = rand.Read(id[:])
	n := &Net{
		// The creator's PID in the name lets RemoveStale recognise leftovers.
		Prefix: NetnsPrefix + hex.EncodeToString(id[:]) + "p" + strconv.Itoa(os.Getpid()),
		Bridge: "br0",
		Subnet: netip.MustParsePrefix(DefaultSubnet),
		t:      t,
	}
	n.LAN = n.Prefix + "-lan"
	n.addNetns(n.LAN)
	n.must("ip", "-n", n.LAN, "link", "add", n.Bridge, "type", "bridge",
		"forward_delay", "0", "stp_state", "0", "mcast_snooping", "0")
	// The bridge forwards frames; it needs no addresses of its own.
	n.sysctl(n.LAN, "net/ipv6/conf/"+n.Bridge+"/disable_ipv6", "1")
	n.must("ip", "-n", n.LAN, "link", "set", n.Bridge, "up")
	n.Server = n.AddHost("srv")
	return n
}

func (n *Net) must(argv ...string) string {
	n.t.Helper()
	out, err := runCmd(argv...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

func runCmd(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("lab: %q: %w: %s", argv, err, bytes.TrimSpace(out.Bytes()))
	}
	return out.String(), nil
}

// addNetns creates a namespace, brings its loopback up, turns off IPv6
// duplicate address detection (so link-local addresses are usable at once)
// and registers its deletion.
func (n *Net) addNetns(name string) {
	n.t.Helper()
	n.must("ip", "netns", "add", name)
	n.t.Cleanup(func() {
		if _, err := runCmd("ip", "netns", "delete", name); err != nil {
			n.t.Errorf("lab: cleanup: %v", err)
		}
	})
	n.must("ip", "-n", name, "link", "set", "lo", "up")
	n.sysctl(name, "net/ipv6/conf/all/accept_dad", "0")
	n.sysctl(name, "net/ipv6/conf/default/accept_dad", "0")
}

// sysctl writes /proc/sys/<key> inside namespace ns (network sysctls belong
// to the namespace of the thread that opens them). A missing key (IPv6
// disabled on the host) is ignored.
func (n *Net) sysctl(ns, key, val string) {
	n.t.Helper()
	err := InNetns(ns, func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(val), 0o644)
	})
	if err != nil && !os.IsNotExist(err) {
		n.t.Fatalf("lab: sysctl %s=%s in %s: %v", key, val, ns, err)
	}
}

// RemoveStale deletes namespaces left behind by lab runs that died before
// their cleanup (a killed or timed-out test binary): those named
// <NetnsPrefix><hex>p<pid>-… whose creating process no longer exists. It
// never touches namespaces of live processes or without that name shape,
// and returns the names it deleted.
func RemoveStale() ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("lab: %w", err)
	}
	var removed []string
	for _, e := range ents {
		pid, ok := stalePID(e.Name())
		if !ok || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); err == nil || err == unix.EPERM {
			continue // the creator is alive
		}
		if _, err := runCmd("ip", "netns", "delete", e.Name()); err != nil {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}

// stalePID extracts the creator PID from a lab namespace name.
func stalePID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, NetnsPrefix)
	if !ok {
		return 0, false
	}
	id, rest, ok := strings.Cut(rest, "p")
	if !ok || len(id) != 4 {
		return 0, false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(num)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// AddHost creates a namespace <prefix>-<name> whose "eth0" is a veth cabled
// to the bridge, with the next free address of Subnet (.1 for the first
// host).
func (n *Net) AddHost(name string) *Host {
	n.t.Helper()
	n.mu.Lock()
	n.hosts++
	idx := n.hosts
	n.mu.Unlock()
	addr := n.Subnet.Addr()
	for range idx {
		addr = addr.Next()
	}
	if !n.Subnet.Contains(addr) || idx >= 100 {
		n.t.Fatalf("lab: AddHost %s: no host address left below .100 in %s", name, n.Subnet)
	}
	h := &Host{Name: name, Netns: n.Prefix + "-" + name, Iface: "eth0",
		Addr: netip.PrefixFrom(addr, n.Subnet.Bits()), t: n.t}
	n.addNetns(h.Netns)
	port := "v" + strconv.Itoa(idx)
	n.must("ip", "-n", n.LAN, "link", "add", port, "type", "veth", "peer", "name", h.Iface, "netns", h.Netns)
	n.must("ip", "-n", n.LAN, "link", "set", port, "master", n.Bridge, "up")
	n.must("ip", "-n", h.Netns, "addr", "add", h.Addr.String(), "dev", h.Iface)
	n.must("ip", "-n", h.Netns, "link", "set", h.Iface, "up")
	out := n.must("ip", "netns", "exec", h.Netns, "cat", "/sys/class/net/"+h.Iface+"/address")
	mac, err := net.ParseMAC(string(bytes.TrimSpace([]byte(out))))
	if err != nil {
		n.t.Fatalf("lab: %s MAC: %v", h.Netns, err)
	}
	h.MAC = mac
	return h
}

// AddTap creates a tap device in LAN, attached to the bridge and up, and
// returns its name ("tap0", "tap1", …) for NIC.Tap. QEMU must run in LAN.
func (n *Net) AddTap() string {
	n.t.Helper()
	n.mu.Lock()
	name := "tap" + strconv.Itoa(n.taps)
	n.taps++
	n.mu.Unlock()
	n.must("ip", "-n", n.LAN, "tuntap", "add", "dev", name, "mode", "tap")
	n.must("ip", "-n", n.LAN, "link", "set", name, "master", n.Bridge, "up")
	return name
}

// Machine returns m prepared for this LAN: QEMU runs in n.LAN and every NIC
// without a Tap gets a new one.
func (n *Net) Machine(m Machine) Machine {
	n.t.Helper()
	m.Netns = n.LAN
	nics := append([]NIC(nil), m.NICs...)
	for i := range nics {
		if nics[i].Tap == "" {
			nics[i].Tap = n.AddTap()
		}
	}
	m.NICs = nics
	return m
}

// Command returns a command that runs inside the host's namespace (via
// `ip netns exec`, which execs the program in place, so the PID is the
// program's).
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Netns, name}, args...)...)
}

// Run runs a command inside the host's namespace to completion (bounded by
// 30 s) and returns its combined output.
func (h *Host) Run(name string, args ...string) (string, error) {
	return runCmd(append([]string{"ip", "netns", "exec", h.Netns, name}, args...)...)
}

// Process is a program started by [Host.Start].
type Process struct {
	// Cmd is the running command.
	Cmd *exec.Cmd

	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

// Output returns the combined stdout and stderr so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

type procWriter Process

func (w *procWriter) Write(b []byte) (int, error) {
	p := (*Process)(w)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Stop kills the process by its PID and waits for it.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Start starts a long-running program (a DHCP server, tgtd, …) inside the
// host's namespace. Its output is kept (logged if the test fails) and
// t.Cleanup stops it by PID. It skips when the program is not installed.
func (h *Host) Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	Require(t, name)
	path, _ := lookTool(name)
	p := &Process{done: make(chan struct{})}
	p.Cmd = exec.Command("ip", append([]string{"netns", "exec", h.Netns, path}, args...)...)
	p.Cmd.Stdout, p.Cmd.Stderr = (*procWriter)(p), (*procWriter)(p)
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("lab: start %s in %s: %v", name, h.Netns, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("lab: %s in %s output:\n%s", name, h.Netns, lastLines([]byte(p.Output()), 40))
		}
	})
	return p
}

// Do runs fn on an OS thread switched into the host's namespace; see
// [InNetns].
func (h *Host) Do(fn func() error) error { return InNetns(h.Netns, fn) }

// Listen opens a listener inside the host's namespace (e.g. "tcp",
// "10.77.0.1:80"). The socket stays in that namespace whichever goroutine
// later serves it, so http.Serve(l, …) works from anywhere.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := h.Do(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// ListenPacket opens a packet socket (e.g. "udp4", ":67") inside the host's
// namespace; see Listen.
func (h *Host) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := h.Do(func() (err error) {
		c, err = net.ListenPacket(network, addr)
		return err
	})
	return c, err
}

// InNetns runs fn in the named network namespace (/run/netns/<name>) and
// returns its error.
//
// Go schedules goroutines on any OS thread, and a namespace belongs to a
// thread, so fn runs in a fresh goroutine locked to its thread
// (runtime.LockOSThread), which setns(2)s into the namespace, runs fn, and
// switches back. If switching back fails the thread stays locked and is
// discarded when the goroutine ends, so no other goroutine ever runs in the
// wrong namespace. Inside fn: create sockets (they keep the namespace for
// life) or start processes; do not start goroutines that expect to be in
// the namespace, they run on other threads.
func InNetns(name string, fn func() error) error {
	target, err := os.Open("/run/netns/" + name)
	if err != nil {
		return fmt.Errorf("lab: netns %s: %w", name, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("lab: netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("lab: setns %s: %w", name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it exits with this goroutine.
			errc <- fmt.Errorf("lab: setns back from %s: %w", name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
