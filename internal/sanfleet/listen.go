package sanfleet

import (
	"net"
	"time"
)

// DeadPeerListener wraps an iSCSI listener so that every accepted TCP
// connection gives up on a silent peer after timeout (TCP_USER_TIMEOUT on
// Linux; elsewhere l is returned unchanged).
//
// Why: a machine that is powered off or reset never closes its iSCSI
// connections, and iPXE's own session is abandoned, unclosed, when the OS it
// booted takes over. The target pings idle connections (NOP-In), and unacked
// data keeps TCP retransmitting for about 15 minutes by default before the
// connection dies, during which the fleet counts the disk as in use and Reset
// refuses. With a timeout of a minute the session ends about a minute after
// the machine went away; a live machine always acks within that time.
func DeadPeerListener(l net.Listener, timeout time.Duration) net.Listener {
	if timeout <= 0 || !userTimeoutSupported {
		return l
	}
	return &deadPeerListener{Listener: l, ms: int(timeout / time.Millisecond)}
}

type deadPeerListener struct {
	net.Listener
	ms int
}

// Accept implements net.Listener.
func (l *deadPeerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		setUserTimeout(tc, l.ms) // best effort: the connection works without it
	}
	return c, nil
}
