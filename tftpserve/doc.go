// Package tftpserve is a read-only TFTP server for network boot, built on
// github.com/pin/tftp/v3 (v3.2.0) with an API shaped like net/http.
//
// # Serving files
//
// The smallest server serves a directory:
//
//	dir, err := tftpserve.OpenDir("/var/lib/tftpboot")
//	...
//	srv := &tftpserve.Server{Handler: dir}
//	err = srv.ListenAndServe(":69")
//
// [OpenDir] goes through an [os.Root], so neither a crafted name nor a
// symbolic link can reach a file outside the directory. Server.Root
// serves any [io/fs.FS] (embed.FS, fstest.MapFS, (*os.Root).FS) through
// [FileServer]; note that [os.DirFS] follows symbolic links out of its
// directory, so prefer OpenDir for a tree on disk.
//
// # Handlers
//
// A [Handler] sees a [Request] (cleaned name, raw name, client address and
// port, local address, MAC when known) and returns [Content]: a body and
// its exact size. It runs before the server sends anything, so a refusal
// is a plain ERROR packet and never follows an OACK (PXELINUX and some
// UEFI firmware break on that). [HandlerFunc] adapts a function; [Bytes]
// and [String] wrap generated files. A [ServeMux] routes by exact name,
// by prefix ("ipxe/"), and by a MAC address as first path element
// ("52-54-00-12-34-56/boot.ipxe", see [ServeMux.HandleMAC]). [PXELinux]
// answers PXELINUX's config lookup (UUID, 01-<mac>, the IPv4 address in
// hex with ever shorter prefixes, default; see [PXELinuxConfigNames])
// from a function per machine and from files.
//
// # Names
//
// Every request name passes [CleanName] before any handler sees it:
// NUL, control characters and invalid UTF-8 are refused, backslashes
// become slashes, a DOS drive prefix and leading or repeated slashes are
// dropped, and any ".." element is refused, also when it only appears
// after percent-decoding ("%2e%2e/", "%252e%252e/"). Refused requests get
// an ERROR packet whose text names the reason ("access violation: file
// name refused", "file not found", "server busy, try again later") and a
// log line with the client address and the raw name. Handler error texts
// are never sent: they may contain paths.
//
// pin/tftp v3.2.0 puts error code 1 in every ERROR packet it sends, also
// for an access violation (code 2 in RFC 1350). The server does not work
// around that; [RFCErrorCode] gives the code that would apply, and the
// log line records it as rfc_code.
//
// # Options
//
// pin/tftp negotiates blksize (RFC 2348) and tsize (RFC 2349) and leaves
// every other option, timeout and windowsize included, out of its OACK,
// which RFC 2347 allows; it matches option names case-sensitively, so
// "BLKSIZE" is ignored too. tsize is answered from Content.Size, for
// files and generated content alike; pin/tftp drops a tsize of 0, so an
// empty file's tsize goes unanswered (the client then gets DATA 1 or an
// OACK without tsize). In netascii mode pin/tftp translates line ends
// after the size was announced, so tsize is the octet size; boot clients
// use octet.
//
// blksize is capped by Server.BlockSize (default 65464) and, unless
// Server.NoMTUClamp is set, by pin/tftp's clamp to the MTU of the
// interface the request arrived on. That clamp computes MTU-28 and
// forgets the TFTP header, so on Ethernet cap BlockSize at 1468 if
// clients ask for more. The clamp needs the request's packet info: open
// sockets with [ListenPacket] (ListenAndServe does) so that no early
// request misses it. Files of more than 65535 blocks work: block numbers
// wrap from 65535 to 0, and a file that is an exact multiple of the block
// size ends with an empty DATA packet.
//
// # Boot storms, shutdown, hooks
//
// Server.MaxTransfers (default 1000) caps the transfers that run at
// once; further requests wait, in order, up to Server.QueueTimeout
// (default 20 s) and are then refused with "server busy". A client that
// retransmits its request while waiting does not take a second place.
// A storm degrades gracefully when every client gets a share of the
// bandwidth, since a client that hears nothing for 20 to 30 seconds
// gives up: the default cap therefore bounds resources, not bandwidth.
// Shutdown stops accepting requests, refuses queued ones and lets running
// transfers finish; when its context ends first it aborts them (each
// client gets an ERROR) and Close waits for the rest. Neither the server
// nor pin/tftp leaves goroutines behind (tested). OnTransferStart and
// OnTransferEnd receive a [Transfer] record (name, client, bytes, block
// size, datagrams, queue time, duration, error) for metrics and audit;
// Logger receives one line per refusal and per finished transfer.
//
// # Send-ahead and single port
//
// Server.Anticipate turns on pin/tftp's experimental send-ahead window.
// It is not RFC 7440 windowsize (pin/tftp has none): nothing is
// negotiated, the client must ACK every block, and a lost block costs a
// timeout and the whole window. With a 64 KiB window and larger (for
// example 16 blocks of 65464 bytes) atftp, busybox tftp and curl all
// time out because the burst overflows their socket buffer, so Serve
// accepts Anticipate only with an explicit BlockSize and at most
// MaxAnticipateBytes in flight; with that, every client in the tests
// passes. Server.SinglePort serves all transfers from the listening
// port (for NAT and containers); pin/tftp cannot combine it with
// send-ahead.
//
// # Measurements
//
// BenchmarkCompareWithPeers (root) compares this server
// with tftpd-hpa and dnsmasq on loopback, with curl as the one client
// for a 64 MiB file and a storm of 200 clients fetching 8 MiB; see its
// doc comment for the command. On a shared 2-core host single transfers
// ran at 0.8 to 2.7 times the faster peer depending on load (about 1.1
// on the quietest run), send-ahead with 16 blocks of 1468 bytes at 1.5
// to 1.9 times lock-step in most runs, and the storm finished with no
// failure for all three servers, this one as fast as dnsmasq and about
// 1.7 times slower than tftpd-hpa's process per transfer.
package tftpserve
