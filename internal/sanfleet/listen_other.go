//go:build !linux

package sanfleet

import "net"

const userTimeoutSupported = false

func setUserTimeout(*net.TCPConn, int) error { return nil }
