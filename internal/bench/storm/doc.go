// Package storm holds the whole-path boot-storm workloads of internal/bench:
// N machines switched on at once, each doing what a BIOS machine with a PXE
// ROM and then iPXE does, against our lab server and against the classic
// dnsmasq + nginx stack a site would otherwise run.
//
// # What one simulated machine does
//
//  1. PXE ROM DHCP: DISCOVER, OFFER, REQUEST, ACK with the options a PXE ROM
//     sends: 60 "PXEClient:Arch:00000:UNDI:002001", 93 = 0 (BIOS), 94 UNDI
//     2.1, 97 its GUID, its own MAC. Retransmissions after 4, 8, 16, 32 s
//     (the PXE specification's schedule).
//  2. TFTP of the boot file the ACK names (undionly.kpxe, 74 KB from
//     Debian's ipxe package) from the server the ACK names, octet mode,
//     blksize 1468 and tsize as PXE ROMs ask; lost packets are resent after
//     1, 2, 4, 8 s.
//  3. iPXE's DHCP: a second DORA with option 77 "iPXE" (raw, as iPXE sends
//     it) and option 175 (iPXE's feature flags); the answer names an HTTP
//     script. Retransmissions after 1, 2, 4, 8, 16 s.
//  4. HTTP: the script, every script it chains to (iPXE settings such as
//     ${net0/mac} and ${uuid} expanded), then the kernel and initrd the
//     script names: 48 + 16 MiB of random bytes, each length and CRC-32C
//     checked (CRC-32C runs in hardware, so checking every byte of a
//     1000-client storm's 64 GiB costs the client little). One keep-alive
//     connection pool per machine, like iPXE's.
//
// A machine that fails at any stage is counted under stage/kind ("tftp/
// timeout", "http-file/mismatch", …); it does not retry a failed HTTP
// request the way a boot script's retry loop would, so a failure shows as a
// failure rather than as a slower boot.
//
// # How many machines share one network
//
// The clients run as goroutines of the benchmark inside the client
// namespace of a harness.Net (10.99.0.2/16; the server namespace is
// 10.99.0.1/16, joined by a veth). They share that one address, so DHCP goes
// through one socket on the client namespace's port 67 acting as a relay
// agent (giaddr 10.99.0.2, hops 1): the servers unicast every reply to
// giaddr:67 and the socket hands it to the client waiting on its xid. The
// alternative, broadcast replies to port 68, needs the same demultiplexing
// and shows every client every other client's replies; relaying is also how
// large sites reach their DHCP server, and both servers honour it. Each TFTP
// transfer and each machine's HTTP connections use their own sockets.
// Client sockets get 16 MiB receive buffers, so packets lost are the
// server's.
//
// # Metrics
//
// last is the time from releasing all clients at once until the last one
// finished (booted or failed): the headline. p50 and p95 are per-machine
// boot times of the machines that booted; dhcp-pxe_p95, tftp_p95,
// dhcp-ipxe_p95 and http_p95 say which stage the time goes to; goodput is
// the bytes all clients received over the storm's wall time; ok counts the
// machines that booted; resent counts the DHCP and TFTP retransmissions the
// clients had to make (each is a lost or late answer); naks counts DORAs
// started over after a DHCPNAK (a client in INIT starts again, up to four
// times, before it counts as failed). The harness adds the
// peak resident memory of the server's whole process tree: the goal
// is a 1000-machine storm under 256 MiB for our whole lab server.
//
// Read last together with ok and the failures: a server that loses
// machines can finish sooner, because the machines it loses stop early.
// A client still running when the run ends (25 minutes at most; the
// harness limits storm-50 and storm-200 to 10) is counted as failed.
//
// # The subjects
//
// Ours is examples/minimal, the reference lab server a user runs, in lab
// mode: "-dhcp lab -range 10.99.1.0-10.99.16.255 -dir D -ipxe
// /usr/lib/ipxe -leases F" in the server namespace. One process serves DHCP
// (with its crash-safe lease file, fsynced before each ACK batch), TFTP of
// Debian's iPXE binaries and HTTP of D, where default.ipxe boots the kernel
// and initrd. iPXE gets /bootstrap.ipxe from DHCP, which chains to
// /boot.ipxe with the machine's identity in the query: one more HTTP
// request per machine than the peer, which is the price of per-machine
// scripts.
//
// The peer is dnsmasq for DHCP and TFTP plus nginx for HTTP, started under
// one shell so their memory is summed. dnsmasq has the usual iPXE
// chainload configuration (tag ipxe on user class "iPXE" or option 175;
// dhcp-boot undionly.kpxe for the rest, the HTTP script for iPXE), the same
// range and lease time, a lease file, and a log file; its defaults that a
// site expecting a storm raises are raised (dhcp-lease-max, tftp-max from
// 50), and its ping before each offer is off (--no-ping) because our lab
// server does no conflict ping either. Its TFTP root is /usr/lib/ipxe: the
// same undionly.kpxe. nginx serves the same directory with sendfile, two
// workers, an access log, and a listen backlog of 4096 (Go's listener uses
// the kernel's somaxconn, 4096). The peer's DHCP names boot.ipxe, the same
// script text as our default.ipxe.
//
// # Parameters
//
// N = 50, 200 and 1000 machines (the issue's); with Config.Quick, 10 and 30
// machines and kernel+initrd of 4 MiB. Every round starts both servers with
// no leases.
package storm
