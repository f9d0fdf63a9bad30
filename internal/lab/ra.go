package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// RAInterval is how often [Host.StartRA] sends an unsolicited Router
// Advertisement; solicitations are answered at once.
const RAInterval = time.Second

// RouterAdvertisement returns an ICMPv6 Router Advertisement (RFC 4861
// section 4.2) with router lifetime 0 ("I am not a default router"), no
// managed/other flags, no prefixes, and a source link-layer address option
// for mac. The checksum is left zero: the kernel fills it in for ICMPv6
// sockets. To a client such as iPXE it says "no IPv6 here": address
// autoconfiguration is complete and it can stop waiting for a router.
func RouterAdvertisement(mac net.HardwareAddr) []byte {
	return RAConfig{}.Message(mac)
}

// RAConfig says what a Router Advertisement announces beyond "no default
// router here" (router lifetime stays 0 either way: the LAN has no route
// out).
type RAConfig struct {
	// Managed (M flag) sends clients to stateful DHCPv6 for addresses.
	Managed bool
	// Other (O flag) sends clients to DHCPv6 for other configuration
	// (stateless: Information-Request), e.g. the boot file URL.
	Other bool
	// Prefix, when valid (a /64), is announced on-link and for address
	// autoconfiguration (SLAAC), so clients get addresses in it.
	Prefix netip.Prefix
}

// Message returns the advertisement as ICMPv6 bytes (checksum zero, filled
// in by the kernel): the header with the configured flags, a prefix
// information option (RFC 4861 section 4.6.2) when Prefix is set, and the
// source link-layer address option for mac.
func (c RAConfig) Message(mac net.HardwareAddr) []byte {
	b := make([]byte, 16, 16+8+32)
	b[0] = byte(ipv6.ICMPTypeRouterAdvertisement)
	b[4] = 64 // current hop limit
	if c.Managed {
		b[5] |= 0x80
	}
	if c.Other {
		b[5] |= 0x40
	}
	// b[6:8] router lifetime 0, b[8:16] reachable/retrans 0.
	if len(mac) == 6 {
		b = append(b, 1, 1) // source link-layer address, 8 bytes
		b = append(b, mac...)
	}
	if c.Prefix.IsValid() && c.Prefix.Addr().Is6() {
		p := make([]byte, 32)
		p[0], p[1] = 3, 4 // prefix information, 32 bytes
		p[2] = byte(c.Prefix.Bits())
		p[3] = 0xC0                             // L (on-link) and A (autonomous address configuration)
		binary.BigEndian.PutUint32(p[4:], 3600) // valid lifetime
		binary.BigEndian.PutUint32(p[8:], 1800) // preferred lifetime
		a := c.Prefix.Masked().Addr().As16()
		copy(p[16:], a[:])
		b = append(b, p...)
	}
	return b
}

// RASender sends Router Advertisements on a host's interface; stop it with
// Close (Host.StartRA does that in t.Cleanup).
type RASender struct {
	pc   *ipv6.PacketConn
	conn *icmp.PacketConn
	wg   sync.WaitGroup
	stop chan struct{}
	once sync.Once

	mu      sync.Mutex
	sent    int
	lastErr error
}

// Sent returns how many advertisements were sent so far.
func (s *RASender) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// Err returns the last send error, if any.
func (s *RASender) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Close stops the sender and waits for its goroutines.
func (s *RASender) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		err = s.conn.Close()
		s.wg.Wait()
	})
	return err
}

// StartRA sends Router Advertisements with router lifetime 0 from the host's
// link-local address to all nodes on its LAN: one now, one every
// [RAInterval], and one in reply to each Router Solicitation. This stops
// iPXE waiting 13–16 s for an IPv6 router after each DHCP. The sender stops
// in t.Cleanup.
func (h *Host) StartRA(t testing.TB) *RASender {
	t.Helper()
	return h.StartRAConfig(t, RAConfig{})
}

// StartRAConfig is StartRA announcing c: DHCPv6 flags and an on-link SLAAC
// prefix, for IPv6 network-boot tests.
func (h *Host) StartRAConfig(t testing.TB, c RAConfig) *RASender {
	t.Helper()
	s, err := h.startRA(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (h *Host) startRA(c RAConfig) (*RASender, error) {
	ifi, conn, err := h.raSocket()
	if err != nil {
		return nil, err
	}
	pc := conn.IPv6PacketConn()
	s := &RASender{pc: pc, conn: conn, stop: make(chan struct{})}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	errs := []error{
		pc.SetICMPFilter(&f),
		pc.SetMulticastInterface(ifi),
		pc.SetMulticastHopLimit(255), // RFC 4861: hop limit 255 or receivers drop it
		pc.SetHopLimit(255),
		pc.JoinGroup(ifi, &net.IPAddr{IP: net.ParseIP("ff02::2")}),
	}
	if err := errors.Join(errs...); err != nil {
		conn.Close()
		return nil, fmt.Errorf("lab: RA socket in %s: %w", h.Netns, err)
	}
	ra := c.Message(ifi.HardwareAddr)
	// No zone name: names resolve in the namespace of the thread that
	// sends, which is not the host's; the interface index goes in the
	// control message instead.
	dst := &net.IPAddr{IP: net.ParseIP("ff02::1")}
	cm := &ipv6.ControlMessage{IfIndex: ifi.Index, HopLimit: 255}
	send := func() {
		_, err := pc.WriteTo(ra, cm, dst)
		s.mu.Lock()
		if err == nil {
			s.sent++
		} else {
			s.lastErr = err
		}
		s.mu.Unlock()
	}
	send()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(RAInterval)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				send()
			}
		}
	}()
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, _, _, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			if n > 0 && buf[0] == byte(ipv6.ICMPTypeRouterSolicitation) {
				send()
			}
		}
	}()
	return s, nil
}

// raSocket opens the ICMPv6 socket inside the host's namespace and waits
// (bounded) for the interface's link-local address, the source RFC 4861
// requires.
func (h *Host) raSocket() (*net.Interface, *icmp.PacketConn, error) {
	var (
		ifi  *net.Interface
		conn *icmp.PacketConn
	)
	err := h.Do(func() error {
		deadline := time.Now().Add(10 * time.Second)
		for {
			var err error
			ifi, err = net.InterfaceByName(h.Iface)
			if err != nil {
				return err
			}
			if ll := linkLocal(ifi); ll.IsValid() {
				// A numeric zone: Go caches zone names process-wide, and "eth0"
				// names a different interface in every namespace, so a name here
				// can resolve to another namespace's index ("bind: no such
				// device"). A still-tentative address fails too: retry both.
				conn, err = icmp.ListenPacket("ip6:ipv6-icmp", ll.String()+"%"+strconv.Itoa(ifi.Index))
				if err == nil || time.Now().After(deadline) {
					return err
				}
			} else if time.Now().After(deadline) {
				return fmt.Errorf("no link-local address on %s", h.Iface)
			}
			time.Sleep(50 * time.Millisecond) // polling the kernel; bounded above
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("lab: RA in %s: %w", h.Netns, err)
	}
	return ifi, conn, nil
}

func linkLocal(ifi *net.Interface) netip.Addr {
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		if in, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(in.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
				return ip
			}
		}
	}
	return netip.Addr{}
}

// raLifetime returns the router lifetime field of a Router Advertisement.
func raLifetime(b []byte) (uint16, bool) {
	if len(b) < 16 || b[0] != byte(ipv6.ICMPTypeRouterAdvertisement) {
		return 0, false
	}
	return binary.BigEndian.Uint16(b[6:8]), true
}
