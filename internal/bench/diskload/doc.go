// Package diskload holds the block-storage workloads of internal/bench: the
// iSCSI target next to tgtd, and copy-on-write overlays next to the raw
// image file they replace.
//
//	go run ./internal/bench -only iscsi,cow -rounds 3
//
// # iSCSI (group "iSCSI")
//
// Ours is examples/target, the reference target a user runs, built with go
// build and started as its own process; the peer is tgtd (Debian tgt), the
// Linux user-space target, started in the foreground (tgtd -f) with a
// control port of its own and configured with tgtadm: one target, the same
// file as LUN 1 through its default rdwr backing store with its default
// write cache. Both serve one 1 GiB file of pseudo-random data (no holes)
// made once per run in the run's scratch directory; both use buffered
// pread/pwrite, and the file is flushed and then read once after it is
// made, so it sits in the page cache for both (equal footing; neither uses
// O_DIRECT, and nothing drops caches between rounds). Before every start
// the file is fsynced, so no target pays for the write-back of the writes
// the one before it accepted. The target runs in
// the server namespace of a harness.Net, the client in the client
// namespace, over the veth pair between them, so the traffic crosses a real
// (virtual) link rather than loopback.
//
// The client is loadgen (loadgen/loadgen.c, compiled here with gcc
// against Debian's libiscsi-dev): one libiscsi session, one connection, no
// digests, QUEUEDEPTH READ(16)/WRITE(16) commands kept in flight for a
// fixed time (10 s; 1 s in a quick run), then the commands in flight are
// waited for. Debian's fio has no libiscsi engine, and iscsi-perf only
// reads, so this small client is the real initiator both targets see. It
// prints the commands completed, the wall time, the mean and 99th
// percentile latency (submission to completion) and the commands that did
// not end GOOD (ParseLoadgen). The workloads are the issue's: sequential
// 1 MiB reads and writes at queue depth 1 (headline MB/s, 10^6 bytes per
// second), and 4 KiB random reads and writes at queue depth 1 and 32
// (headline IOPS). Random offsets use a fixed seed, so both targets see the
// same offsets. Peak RSS of each target is its process tree's (tgtd's
// threads included); the goal for ours is under 64 MiB plus buffers at
// QD32.
//
// # COW (group "COW")
//
// A cow.Overlay against the raw image file, each driven by cowload
// (internal/bench/cmd/cowload), a benchmark-only program that runs the
// cow package's code in a process of its own, so its peak RSS is measured
// like a server's. Every run does two phases of half the duration each:
// 1 MiB sequential I/O (headline, MB/s), then 4 KiB random I/O (IOPS).
// The base is a 1 GiB file of pseudo-random data in the page cache; the
// raw file is a copy of it, also in the page cache; the raw file and the
// copied overlay are fsynced before every start, as in the iSCSI group. The overlay uses the
// default chunk size (cow.DefaultChunkSize, 64 KiB).
//
//   - cow-read-unchanged: reads from a new, empty overlay (everything comes
//     from the base) against reads from the raw file. The cost of the
//     lookup in the overlay's map.
//   - cow-first-write: writes to a new overlay, each to chunks it has never
//     written: 1 MiB sequential writes over the first half (whole chunks: no
//     copy, one metadata commit per write), then 4 KiB writes at random
//     offsets of the second half, each in a chunk of its own (copy the
//     rest of the chunk from the base, write it, commit). A first write is
//     durable when it returns (two fdatasyncs), so the peers are the raw
//     file through the page cache (what a plain image gives up) and the
//     raw file opened O_DSYNC (the same durability as a first write). It
//     also reports the map's memory per changed chunk (live heap growth
//     after garbage collection ÷ chunks changed) and the write
//     amplification of each phase (bytes written to the overlay file per
//     byte written, from cow.Stats).
//   - cow-second-write: the same writes to an overlay whose every chunk was
//     copied beforehand (made once in Setup): plain writes in place, against
//     the raw file.
//
// Reading the COW numbers: first writes grow the overlay file, so each of
// their fdatasyncs also commits the file system's block allocation (an
// ext4 journal commit), while the O_DSYNC peer overwrites blocks that
// exist. On the ext4 host of the published run, dd of 1 MiB O_DSYNC writes
// ran at 91 MB/s into a new file and 1.2 GB/s over an existing one; that,
// not the cow code (2-3 % of CPU in its profile; pread and the sync
// syscalls are the rest), is the gap in cow-first-write. Reads and second
// writes go through the same page cache as the raw file; go test -bench
// ReadVsRaw ./cow measures them interleaved (0.95-1.0 of raw), which a
// shared, loaded host cannot do across processes, so single rows of this
// group swing with the host's load.
//
// Linux dm-snapshot would be the natural third peer; it needs the
// kernel's device-mapper and dm-snapshot modules, which the machines this
// ran on do not have, so it is not included.
//
// # Quick runs
//
// harness.Config.Quick divides the image size by 16 (64 MiB) and runs
// 1 s per measurement instead of 10 s.
package diskload
