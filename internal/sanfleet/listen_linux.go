package sanfleet

import (
	"net"

	"golang.org/x/sys/unix"
)

const userTimeoutSupported = true

// setUserTimeout sets TCP_USER_TIMEOUT: how long transmitted data (or
// keepalive probes) may stay unacknowledged before the kernel drops the
// connection.
func setUserTimeout(c *net.TCPConn, ms int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms)
	}); err != nil {
		return err
	}
	return serr
}
