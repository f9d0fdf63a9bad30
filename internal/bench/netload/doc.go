// Package netload holds the DHCP, TFTP and HTTP workloads of the
// benchmark runner (go run ./internal/bench -only dhcp,tftp,http): the
// network services a boot storm hits first, measured for this project's
// reference server (examples/minimal, built and run as its own process the
// way a user runs it) next to the servers a site would otherwise run, on the
// same machine, in the same run, alternating round by round.
//
// # Where everything runs
//
// Every workload creates its own pair of network namespaces (harness.NewNet:
// "server" at 10.99.0.1 and "client" at 10.99.0.2 on a veth link, a
// 10.99.0.0/16 subnet) and deletes them afterwards. Servers run in the
// server namespace, clients in the client namespace, so client CPU is not
// charged to the server and no packet leaves the machine. The harness
// samples each server's process tree for resident memory while the clients
// run (forking servers such as tftpd-hpa and busybox httpd are counted with
// all their children).
//
// # DHCP
//
// Client: Kea's perfdhcp (Debian kea-admin), as a relay agent (it sends to
// 10.99.0.1 with giaddr 10.99.0.2 and every server answers by unicast), with
// 60 000 simulated clients and a 0.5 s wait for late answers. Every server
// hands out the same pool (10.99.1.1–10.99.255.254, one-hour leases) and
// keeps its leases on disk as it ships: ours a crash-safe lease file (-leases,
// fresh each round), kea-dhcp4 a memfile with persist=true, dnsmasq its lease
// file. Each logs at its default level: ours and dnsmasq to stderr (ours logs
// leases only at debug), Kea at INFO (one line per lease) to stdout.
//
//   - dhcp-rate: a fixed offered load of 1000 DORA/s for 10 s. The headline
//     is the mean DORA latency (avg DISCOVER→OFFER + avg REQUEST→ACK); the
//     completed rate, drops and each exchange's avg and max delay follow.
//   - dhcp-saturation: offered 20 000 DORA/s for 10 s, far above what any of
//     these servers does on this machine: the headline is the completed
//     DORA/s (ACKs received ÷ 10 s); drops are the excess perfdhcp gave up on.
//   - dhcp-proxy: proxyDHCP, where it applies: perfdhcp sends DISCOVERs that
//     look like a BIOS PXE ROM's (options 60 "PXEClient:Arch:00000:UNDI:002001",
//     93, 94, 97) and stops at the OFFER (-i), offered at 20 000/s; ours is
//     minimal -dhcp proxy, the peer dnsmasq with dhcp-range=…,proxy and one
//     pxe-service. Kea has no proxyDHCP mode. The headline is OFFERs/s.
//
// Drops (requests perfdhcp gave up on) are the failures.
//
// # TFTP
//
// Every server serves the same directory of generated files from the
// server namespace on 10.99.0.1:69: ours is minimal -dhcp off -dir DIR;
// tftpd-hpa runs as in.tftpd -L -s DIR (a forked child per transfer);
// dnsmasq as a TFTP-only server (--port=0 --enable-tftp --tftp-root=DIR,
// --tftp-max=1000 so the storm is not refused by its default of 50);
// atftpd standalone (--daemon --no-fork, --maxthread 1000). Debian's atftpd
// conflicts with tftpd-hpa, so when it is not on PATH it is looked for
// unpacked from its .deb under ~/.cache/netboot-bench/atftpd:
//
//		apt-get download atftpd && dpkg-deb -x atftpd_*.deb ~/.cache/netboot-bench/atftpd
//
//	  - tftp-512, tftp-1468, tftp-65464: one 64 MiB file fetched by curl
//	    (tftp://, --tftp-blksize N, the same client for every server), its
//	    sha256 checked; MB/s (10⁶ bytes/s) and seconds. For blksize 65464 the
//	    veth MTU is raised to 65535 in both namespaces (a 65464-byte block is a
//	    65496-byte IP packet; with the usual 1500 it would need fragmentation,
//	    which servers that set DF refuse); 512 and 1468 run at MTU 1500.
//	  - tftp-window16: the same 64 MiB file at blksize 1468 fetched by atftp's
//	    client asking for windowsize 16 (RFC 7440). Only atftpd grants it: it
//	    is the windowed reference. The others (ours: pin/tftp has only its own
//	    server-side send-ahead, which minimal does not enable) answer without
//	    the option and run lock-step, which this row makes visible.
//	  - tftp-storm: 200 clients started at once (a barrier), each fetching the
//	    same 8 MiB file at blksize 1468 with pin/tftp's client (5 s timeout,
//	    5 retries), run by internal/bench/cmd/netloadclient in the client
//	    namespace. The headline is the time until the last client finished;
//	    aggregate MB/s follows; every failed transfer or sha256 mismatch is a
//	    failure.
//
// # HTTP
//
//   - http-storm: 200 clients at once, each with its own TCP connection,
//     fetching a 48 MiB kernel then a 16 MiB initrd (64 MiB per client, like
//     iPXE loading a Linux boot) with Go's net/http (netloadclient), sha256
//     checked. Ours is minimal's HTTP (-dir: the files at /vmlinuz and
//     /initrd.img); nginx (Debian nginx-light) runs in the foreground with
//     one worker per CPU, sendfile on and an access log to a file; busybox
//     httpd (busybox-static) with -f, one forked child per connection. The
//     headline is the time until the last client finished.
//
// # Reading the numbers
//
// Servers and clients share the machine's CPUs, so the numbers are only
// comparable within one run (which is why subjects alternate round by
// round), and on a machine other work is loading they move a lot between
// rounds: look at the per-round samples in results.json before trusting a
// ratio near 1. On an oversubscribed host the scheduler also gives each
// runnable thread its share, so servers with a thread or process per
// transfer (atftpd, tftpd-hpa, busybox httpd) get more CPU in a storm than
// one process with a few threads (ours: GOMAXPROCS threads running Go code)
// or a single-threaded one (dnsmasq); on an idle host that advantage
// disappears. Peak RSS is not affected: it is what each design costs.
//
// # Quick mode
//
// harness.Config.Quick (go run ./internal/bench -quick, and TestQuick)
// divides every size by 16, client counts by 10 and runs perfdhcp for 1 s:
// a smoke run that every path works, not numbers to publish.
package netload
