// Command cowload is the benchmark-only worker of internal/bench's COW
// workloads. It runs one workload against one block device in its own
// process, so the runner can measure its resident memory the way it
// measures a server's: an overlay of the cow package (the same code a
// target serving overlays runs) or the raw image file it is compared with.
//
//	cowload -device overlay|raw|raw-dsync -work read|first|second \
//	        -base BASE -file FILE -seconds S
//
// Devices:
//   - overlay: cow.Create(FILE, base) for read and first (a new, empty
//     overlay), cow.Open(FILE, base) for second (an overlay whose chunks
//     were all copied beforehand).
//   - raw: FILE opened read-write, plain pread/pwrite through the page cache.
//   - raw-dsync: FILE opened O_DSYNC, so every write is durable when it
//     returns, as an overlay's first write is.
//
// Work (every phase stops after S/2 seconds or when its region is used up):
//   - read: 1 MiB sequential reads over the device, then 4 KiB random reads.
//   - first and second: 1 MiB sequential writes over the first half of the
//     device, then 4 KiB writes at random offsets, each in a different
//     64 KiB-aligned chunk of the second half, never the same chunk twice
//     (for a new overlay: every write copies a chunk and commits metadata).
//
// It prints one line "RESULT {json}" with the measured values and the
// number of failed operations, then waits for SIGTERM or SIGINT (so the
// runner can read its peak memory), and exits.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/netbootkit/netboot/cow"
)

// device is what the workloads need from an overlay or a raw file.
type device interface {
	io.ReaderAt
	io.WriterAt
}

// chunk is the stride of random first writes: the cow package's default
// chunk size, so every random write lands in a chunk of its own.
const chunk = cow.DefaultChunkSize

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cowload:", err)
		os.Exit(1)
	}
}

type result struct {
	Values   map[string]float64 `json:"values"`
	Failures int                `json:"failures"`
}

func run(args []string) error {
	fs := flag.NewFlagSet("cowload", flag.ContinueOnError)
	kind := fs.String("device", "overlay", "overlay, raw or raw-dsync")
	work := fs.String("work", "read", "read, first or second")
	basePath := fs.String("base", "", "base image (overlay)")
	file := fs.String("file", "", "overlay file (overlay) or image file (raw)")
	seconds := fs.Float64("seconds", 10, "duration of the run; each phase gets half")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" || (*kind == "overlay" && *basePath == "") {
		return errors.New("-file (and -base for an overlay) are required")
	}
	// Ready before the work starts: the runner samples memory from here on.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)

	var (
		dev   device
		size  int64
		ov    *cow.Overlay
		close func() error
	)
	switch *kind {
	case "overlay":
		base, err := cow.OpenBase(*basePath)
		if err != nil {
			return err
		}
		defer base.Close()
		if *work == "second" {
			ov, err = cow.Open(*file, base, nil)
		} else {
			ov, err = cow.Create(*file, base, nil)
		}
		if err != nil {
			return err
		}
		dev, size, close = ov, ov.Size(), ov.Close
	case "raw", "raw-dsync":
		flags := os.O_RDWR
		if *kind == "raw-dsync" {
			flags |= syscall.O_DSYNC
		}
		f, err := os.OpenFile(*file, flags, 0)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			return err
		}
		dev, size, close = f, st.Size(), f.Close
	default:
		return fmt.Errorf("unknown -device %q", *kind)
	}
	phase := time.Duration(*seconds / 2 * float64(time.Second))

	var heap0 uint64
	if ov != nil {
		heap0 = heapInUse()
	}
	res := result{Values: map[string]float64{}}
	switch *work {
	case "read":
		seq, f1 := sequential(dev, 0, size, phase, false, true)
		rnd, f2 := random(dev, 0, size, 4096, phase, false)
		res.Values["seq_mbps"], res.Values["rand_iops"] = seq, rnd
		res.Failures = f1 + f2
	case "first", "second":
		half := size / 2 / chunk * chunk
		st0 := stats(ov)
		seq, f1 := sequential(dev, 0, half, phase, true, *work == "second")
		st1 := stats(ov)
		rnd, f2 := random(dev, half, size-half, chunk, phase, true)
		st2 := stats(ov)
		res.Values["seq_mbps"], res.Values["rand_iops"] = seq, rnd
		res.Failures = f1 + f2
		if ov != nil && *work == "first" {
			res.Values["seq_wamp"] = wamp(st0, st1)
			res.Values["rand_wamp"] = wamp(st1, st2)
		}
	default:
		return fmt.Errorf("unknown -work %q", *work)
	}
	if ov != nil {
		st := ov.Stats()
		res.Values["chunks"] = float64(st.Chunks)
		if *work == "first" && st.Chunks > 0 {
			// The map's memory per changed chunk: live heap growth after GC.
			res.Values["map_bytes_per_chunk"] = float64(int64(heapInUse())-int64(heap0)) / float64(st.Chunks)
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Printf("RESULT %s\n", b)
	select {
	case <-sig:
	case <-time.After(10 * time.Minute):
	}
	return close()
}

// stats returns the overlay's counters (zero for a raw file).
func stats(o *cow.Overlay) cow.Stats {
	if o == nil {
		return cow.Stats{}
	}
	return o.Stats()
}

// wamp is the write amplification between two counter snapshots: bytes
// written to the overlay file (data, chunk copies, metadata) per byte the
// caller wrote.
func wamp(a, b cow.Stats) float64 {
	in := b.BytesWritten - a.BytesWritten
	if in == 0 {
		return 0
	}
	return float64(b.DataBytesWritten-a.DataBytesWritten+b.MetadataBytesWritten-a.MetadataBytesWritten) / float64(in)
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// sequential reads or writes 1 MiB blocks over [off, off+n) for up to d
// (wrapping only when wrap is set: first writes must not rewrite a chunk)
// and returns MB/s (10^6 bytes) and the failed operations.
func sequential(dev device, off, n int64, d time.Duration, write, wrap bool) (float64, int) {
	const bs = 1 << 20
	buf := make([]byte, bs)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	var done int64
	failures := 0
	start := time.Now()
	for pos := int64(0); time.Since(start) < d; pos += bs {
		if pos+bs > n {
			if !wrap {
				break
			}
			pos = 0
		}
		var err error
		if write {
			_, err = dev.WriteAt(buf, off+pos)
		} else {
			_, err = dev.ReadAt(buf, off+pos)
		}
		if err != nil {
			failures++
			if failures > 100 {
				break
			}
			continue
		}
		done += bs
	}
	return float64(done) / 1e6 / time.Since(start).Seconds(), failures
}

// random does 4 KiB reads or writes at random 4 KiB-aligned offsets of
// [off, off+n): for writes one per stride-sized slot, never the same slot
// twice (so each first write hits a new chunk), for reads anywhere. It
// returns operations per second and the failed operations.
func random(dev device, off, n, stride int64, d time.Duration, write bool) (float64, int) {
	const bs = 4096
	buf := make([]byte, bs)
	for i := range buf {
		buf[i] = byte(i*5 + 3)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var perm []int
	if write {
		perm = rng.Perm(int(n / stride))
	}
	ops, failures := 0, 0
	start := time.Now()
	for i := 0; time.Since(start) < d; i++ {
		var at int64
		if write {
			if i >= len(perm) {
				break
			}
			at = off + int64(perm[i])*stride + rng.Int64N(stride/bs)*bs
		} else {
			at = off + rng.Int64N(n/bs)*bs
		}
		var err error
		if write {
			_, err = dev.WriteAt(buf, at)
		} else {
			_, err = dev.ReadAt(buf, at)
		}
		if err != nil {
			failures++
			if failures > 100 {
				break
			}
			continue
		}
		ops++
	}
	return float64(ops) / time.Since(start).Seconds(), failures
}
