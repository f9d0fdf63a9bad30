//go:build !unix

package tftpserve

const openNonblock = 0
