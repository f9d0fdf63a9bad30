// Package cow gives many clients a private, writable view of one shared,
// read-only disk image: device-mapper-snapshot-style copy-on-write overlays.
//
// # Model
//
// A [Base] is the image (an [io.ReaderAt] and a size), opened once and shared
// by every overlay; it is never written. An [Overlay] is one client's disk:
// it has the size of the base, and it divides the device into chunks (a power
// of two bytes, [DefaultChunkSize] unless [Options.ChunkSize] says otherwise).
// A chunk that was never written reads from the base. The first write to a
// chunk gives it a chunk of its own in the overlay file: if the write covers
// the whole chunk it is simply written there; if not, the rest of the chunk
// is read from the base and the merged chunk written once. Later writes to
// that chunk go straight to its copy.
//
//	base, err := cow.OpenBase("/srv/images/debian-13.img")
//	...
//	o, err := cow.Open("/srv/overlays/52-54-00-12-34-56.cow", base, nil) // or cow.Create
//	...
//	o.WriteAt(p, off); o.ReadAt(p, off); o.Sync(); o.Close()
//
// An *Overlay has the method set of the iscsi package's block device (ReadAt,
// WriteAt, Size, Sync, Discard, ReadOnly) without either package importing the
// other.
//
// # On-disk format: the Linux dm-snapshot persistent store
//
// A persistent overlay file is byte for byte a Linux dm-snapshot persistent
// exception store (drivers/md/dm-snap-persistent.c), little-endian, in units
// of one chunk:
//
//	chunk 0          header: "SnAp" magic, valid = 1, version = 1, chunk size in 512-byte sectors
//	chunk 1          metadata area 0: ChunkSize/16 records of {u64 base chunk, u64 overlay chunk}
//	chunks 2..E+1    data chunks (E = ChunkSize/16)
//	chunk 1+(E+1)k   metadata area k, then its E data chunks, and so on
//
// A record whose overlay chunk is 0 ends the table; a full area continues in
// the next one. So Linux can use an overlay made here and this package can
// open one made by Linux:
//
//	losetup -r /dev/loop0 base.img
//	losetup /dev/loop1 client.cow
//	dmsetup create client --table "0 $(blockdev --getsz /dev/loop0) snapshot /dev/loop0 /dev/loop1 P 128"
//
// (128 sectors = 64 KiB; Linux takes the chunk size from the header anyway.)
// TestLinuxDmSnapshotInterop proves both directions in a QEMU guest running
// a Debian kernel: Linux reads an overlay made here byte for byte, reports
// the same usage, and adds chunks to it that this package then reads; and
// this package opens and reads a store Linux formatted and wrote.
// Linux reads only the first 16 bytes of the header chunk. This package keeps
// a record of its base there, after those 16 bytes: the base size and a
// SHA-256 digest of 64 samples of it ([Base.Identity]), so [Open] refuses an
// overlay on the wrong image with [ErrBaseMismatch]. A store made by Linux
// has zeros there and opens on whatever base the caller gives. An empty or
// zero-filled file is a new store, as for Linux.
//
// # Crash safety
//
// The order of a first write is dm's: the new chunk's data is written and
// made durable (fdatasync) before the metadata record that points at it is
// written; the record is made durable before WriteAt returns. When an area
// fills, the next area is written (zeroed, or with the records that spill
// into it) and made durable before the full one, and the first commit after
// an Open rewrites the current area whole, so stale records beyond the end
// of the table can never come back. Concurrent first writes share one
// metadata write and its two fdatasyncs (group commit). Writes into chunks
// already copied are plain writes, durable after the next [Overlay.Sync] —
// what SCSI SYNCHRONIZE CACHE and FUA map to. After a crash, everything
// written before the last successful Sync reads back, and every sector reads
// either its state at that Sync or the data of a later write to it.
//
// # Running out of space
//
// [Options.MaxSize] caps the overlay file. A write that needs a new chunk
// beyond the cap, or on a full file system, fails with [ErrFull], which is
// also syscall.ENOSPC (an iSCSI target reports it as "space allocation
// failed"); it writes nothing. Reads, and writes to chunks already copied,
// keep working, and the overlay is not invalidated (Linux invalidates the
// whole snapshot instead). If an fdatasync fails, the overlay refuses further
// writes (the state of the file is unknown after a failed flush) but keeps
// serving reads.
//
// # Transient overlays, Reset, Discard
//
// [CreateTransient] makes dm's non-persistent "N" overlay: data in an unlinked
// temporary file, map in memory, nothing kept on Close or a crash, Sync a
// no-op — for stateless clients. [Overlay.Reset] throws any overlay's changes
// away. [Overlay.Discard] (TRIM/UNMAP) makes a range read as zeros, as the
// iscsi package's Discarder contract (LBPRZ) requires: copied chunks it
// covers whole are deallocated (hole punched), chunks never copied get a
// record pointing at a hole unless their base content is zero already, and
// partly covered chunks are zeroed by a write.
//
// # Memory
//
// An overlay's memory grows with the chunks it changed, never with the size
// of the base. Chunks are grouped by 64: a group with one changed chunk is
// one packed word in a hash map, a group with more is a bitmap plus the
// packed overlay chunk numbers. Measured (TestMemoryPerChangedChunk, heap
// after GC): 5 bytes per changed chunk when changes are dense, 7.8 for runs
// of 16 chunks, 24 when every changed chunk is alone in its group of 64
// (random writes over a large disk). An idle overlay costs about 700 bytes
// (TestManyOverlaysOneBase); the metadata area buffer (one chunk) exists
// only during a commit. 100 overlays that each changed 1 GiB in 64 KiB
// chunks need about 8 MB of map in total; a dense array of 4 bytes per base
// chunk would need 640 MB for 100 overlays of a 100 GiB base.
//
// # Choosing the chunk size
//
// [DefaultChunkSize] is 64 KiB, chosen with BenchmarkChunkSize (64 MiB base,
// 2 shared cores, load average 15-20, so single numbers are noisy):
//
//	chunk   first seq 1 MiB writes   first random 4 KiB writes: wamp   map per changed GiB
//	4 KiB    52 MB/s                  1.1                               1.3 MB
//	16 KiB   72 MB/s                  4.1                               330 KB
//	64 KiB  119 MB/s                 16.1                               80 KB
//	256 KiB 147 MB/s                 64.6                               20 KB
//	1 MiB    98 MB/s                  261                                5 KB
//
// Small chunks spend sequential writes on metadata (a 4 KiB chunk fills a
// metadata area per MiB); first random small writes cost about the same
// wall time at every size, being dominated by the two fdatasyncs, but copy
// ChunkSize bytes each. 64 KiB keeps sequential first writes near the raw
// file's speed with an fdatasync per write, keeps the copy of a small random
// write modest, and matches the defaults of qcow2 and nbdkit's cow filter
// (dm's own default is 16 KiB). Concurrent first writes share commits: with
// 32 writers, one commit per 15 first writes (BenchmarkWriteParallel).
// Reads of unchanged data run at 0.97-1.0 of the raw image, reads of copied
// data at about 0.92 (BenchmarkReadVsRaw, medians of interleaved reads).
package cow
