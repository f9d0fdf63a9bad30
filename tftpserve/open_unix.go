//go:build unix

package tftpserve

import "syscall"

// openNonblock keeps an open of a FIFO from blocking; it has no effect
// on regular files.
const openNonblock = syscall.O_NONBLOCK
