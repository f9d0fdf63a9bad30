package cow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// Options configure Create, Open and CreateTransient. The zero value (or a
// nil *Options) gives the defaults.
type Options struct {
	// ChunkSize is the copy unit in bytes: a power of two between
	// MinChunkSize and MaxChunkSize; 0 means DefaultChunkSize. It is used
	// when a store is formatted; Open of an existing store uses the chunk
	// size in its header (as Linux does).
	ChunkSize int64

	// MaxSize caps the size of the overlay file in bytes, header and
	// metadata included. A write that needs a new chunk beyond it fails
	// with ErrFull (which is also syscall.ENOSPC); 0 means no cap other
	// than the file system's free space.
	MaxSize int64

	// ReadOnly opens an existing persistent store without ever writing to
	// it: writes, discards and Reset fail with ErrReadOnly.
	ReadOnly bool

	// Logger receives open/reset/full events; nil is silent.
	Logger *slog.Logger
}

func (o *Options) orDefault() Options {
	if o == nil {
		return Options{}
	}
	return *o
}

// Stats is a snapshot of an overlay's usage counters.
type Stats struct {
	Persistent bool  // dm "P" store (false: transient "N")
	ChunkSize  int64 // bytes
	Chunks     int   // base chunks that have their own copy in the overlay
	// MetadataChunks counts the header and the metadata areas in use
	// (0 for a transient overlay).
	MetadataChunks int
	// FileBytes is the high-water size of the overlay file: every chunk
	// handed out so far, data and metadata.
	FileBytes int64
	MaxSize   int64 // the quota in bytes, 0 = none

	BytesWritten         uint64 // bytes accepted by WriteAt
	DataBytesWritten     uint64 // data bytes written to the overlay file (including chunk copies)
	MetadataBytesWritten uint64 // metadata bytes written (areas, header)
	BaseBytesCopied      uint64 // bytes read from the base to complete partially written chunks
	Commits              uint64 // metadata commits (each ends with fdatasync)
}

// Overlay is a copy-on-write block device over a read-only Base. Reads of
// chunks never written come from the base; the first write to a chunk copies
// it into the overlay file. An Overlay is safe for concurrent use.
//
// It satisfies the block-device contract of the iscsi package without
// importing it: ReadAt, WriteAt, Size, Sync, Discard, ReadOnly.
type Overlay struct {
	base       *Base
	st         storage
	g          geometry
	size       int64
	persistent bool
	readOnly   bool
	maxChunks  uint64 // 0 = unlimited
	log        *slog.Logger

	life   sync.RWMutex // held shared by I/O, exclusively by Reset and Close
	closed bool

	mu       sync.RWMutex // guards the fields below
	m        chunkMap
	pending  map[uint64]*pendingChunk
	nextFree uint64
	broken   error // sticky metadata write/sync failure: writes and Sync fail

	// group commit; area* fields belong to the goroutine holding committing
	cmu        sync.Mutex
	ccond      sync.Cond
	queue      []*commitReq
	committing bool
	area       []byte // in-memory copy of the current metadata area
	areaIdx    uint64
	areaCount  uint64
	areaDirty  bool // disk copy of the current area may differ past areaCount: write it whole

	bufs sync.Pool // chunk-sized buffers for partial first writes

	areas                                                       atomic.Uint64 // metadata areas in use
	bytesWritten, dataWritten, metaWritten, baseCopied, commits atomic.Uint64
}

type pendingChunk struct{ done chan struct{} }

type commitReq struct {
	entries []entry
	done    bool
	err     error
}

// Create makes a new persistent overlay file at path (truncating any file
// there) on base, formatted as a Linux dm-snapshot persistent exception
// store, and records the base's size and identity in its header. The file is
// locked (flock) while the overlay is open: a second Create or Open of it
// fails with ErrInUse.
func Create(path string, base *Base, opts *Options) (*Overlay, error) {
	op := opts.orDefault()
	if op.ReadOnly {
		return nil, fmt.Errorf("cow: create %s: %w", path, ErrReadOnly)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cow: create overlay: %w", err)
	}
	if err := lockFile(f, true); err != nil {
		f.Close()
		return nil, fmt.Errorf("cow: create %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("cow: create overlay: %w", err)
	}
	o, err := openStorage(osFile{f}, base, op, true)
	if err != nil {
		f.Close()
		return nil, err
	}
	return o, nil
}

// Open opens the persistent overlay at path on base. A file that is empty
// or starts with four zero bytes is formatted as a new store (as Linux
// does with a zeroed COW device). A store made by this package refuses a base
// whose size or identity differs (ErrBaseMismatch); a store made by Linux
// dm-snapshot has no such record and is opened on the base given. The file
// is locked like Create's (shared with Options.ReadOnly, so several readers
// may inspect a store no writer has open); a conflict fails with ErrInUse.
func Open(path string, base *Base, opts *Options) (*Overlay, error) {
	op := opts.orDefault()
	flag := os.O_RDWR
	if op.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("cow: open overlay: %w", err)
	}
	if err := lockFile(f, !op.ReadOnly); err != nil {
		f.Close()
		return nil, fmt.Errorf("cow: open %s: %w", path, err)
	}
	o, err := openStorage(osFile{f}, base, op, false)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (overlay %s)", err, path)
	}
	return o, nil
}

// CreateTransient makes a transient overlay (dm's "N" store): chunks live
// in an unlinked temporary file in dir (os.TempDir() if empty) and the map
// only in memory, so everything vanishes on Close or a crash. Sync is a
// no-op. Use it for stateless clients that start from the base every boot.
func CreateTransient(dir string, base *Base, opts *Options) (*Overlay, error) {
	op := opts.orDefault()
	f, err := os.CreateTemp(dir, "cow-transient-*")
	if err != nil {
		return nil, fmt.Errorf("cow: create transient overlay: %w", err)
	}
	_ = os.Remove(f.Name()) // unlinked: the space is freed on Close or exit
	o, err := newOverlay(osFile{f}, base, op, false)
	if err != nil {
		f.Close()
		return nil, err
	}
	return o, nil
}

func newOverlay(st storage, base *Base, op Options, persistent bool) (*Overlay, error) {
	if base == nil {
		return nil, errors.New("cow: nil base")
	}
	if base.size < 0 {
		return nil, fmt.Errorf("cow: negative base size %d", base.size)
	}
	cs := op.ChunkSize
	if cs == 0 {
		cs = DefaultChunkSize
	}
	if !validChunkSize(cs) {
		return nil, fmt.Errorf("cow: chunk size %d is not a power of two in [%d, %d]", cs, MinChunkSize, MaxChunkSize)
	}
	if op.MaxSize < 0 {
		return nil, fmt.Errorf("cow: negative MaxSize %d", op.MaxSize)
	}
	o := &Overlay{
		base:       base,
		st:         st,
		size:       base.size,
		persistent: persistent,
		readOnly:   op.ReadOnly,
		log:        op.Logger,
		pending:    make(map[uint64]*pendingChunk),
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	o.ccond.L = &o.cmu
	o.setGeometry(cs, op.MaxSize)
	return o, nil
}

func (o *Overlay) setGeometry(cs, maxSize int64) {
	o.g = newGeometry(cs)
	o.maxChunks = uint64(maxSize / cs)
	o.bufs = sync.Pool{New: func() any { b := make([]byte, cs); return &b }}
}

// openStorage opens (or, with create, formats) a persistent store on st.
func openStorage(st storage, base *Base, op Options, create bool) (*Overlay, error) {
	o, err := newOverlay(st, base, op, true)
	if err != nil {
		return nil, err
	}
	if create {
		if err := o.format(); err != nil {
			return nil, err
		}
		o.log.Info("cow: created overlay", "chunk_size", o.g.cs, "base_size", o.size)
		return o, nil
	}
	fileSize, err := st.Size()
	if err != nil {
		return nil, fmt.Errorf("cow: size of overlay: %w", err)
	}
	hb := make([]byte, sectorSize)
	if _, err := st.ReadAt(hb, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("cow: read header: %w", err)
	}
	h, err := decodeHeader(hb)
	if err != nil {
		return nil, err
	}
	if h.magic == 0 {
		if op.ReadOnly {
			return nil, fmt.Errorf("%w: unformatted store opened read-only", ErrNotOverlay)
		}
		if err := o.format(); err != nil {
			return nil, err
		}
		o.log.Info("cow: formatted empty overlay", "chunk_size", o.g.cs)
		return o, nil
	}
	if h.valid == 0 {
		return nil, ErrInvalidated
	}
	if cs := int64(h.chunkSectors) * sectorSize; cs != o.g.cs {
		if op.ChunkSize != 0 {
			o.log.Warn("cow: on-disk chunk size overrides the requested one", "on_disk", cs, "requested", op.ChunkSize)
		}
		o.setGeometry(cs, op.MaxSize)
	}
	if h.rec != nil {
		if h.rec.size != base.size {
			return nil, fmt.Errorf("%w: overlay was made on a base of %d bytes, this base has %d", ErrBaseMismatch, h.rec.size, base.size)
		}
		id, err := base.Identity()
		if err != nil {
			return nil, err
		}
		if id != h.rec.digest {
			return nil, fmt.Errorf("%w: base content sample digest differs", ErrBaseMismatch)
		}
	}
	if err := o.load(fileSize); err != nil {
		return nil, err
	}
	o.log.Info("cow: opened overlay", "chunks", o.m.len(), "chunk_size", o.g.cs, "areas", o.areaIdx+1, "linux_made", h.rec == nil)
	return o, nil
}

// format writes an empty store: metadata area 0 zeroed and made durable
// before the header that makes the store valid.
func (o *Overlay) format() error {
	var rec *baseRecord
	id, err := o.base.Identity()
	if err != nil {
		return err
	}
	rec = &baseRecord{size: o.size, digest: id}
	cs := o.g.cs
	area := make([]byte, cs)
	if err := o.writeMeta(area, o.g.areaChunk(0)*uint64(cs)); err != nil {
		return o.ioErr(err)
	}
	if err := o.st.Datasync(); err != nil {
		return fmt.Errorf("cow: sync new store: %w", err)
	}
	hdr := make([]byte, cs)
	encodeHeader(hdr, cs, rec)
	if err := o.writeMeta(hdr, 0); err != nil {
		return o.ioErr(err)
	}
	if err := o.st.Datasync(); err != nil {
		return fmt.Errorf("cow: sync new store: %w", err)
	}
	o.m.reset()
	o.area, o.areaIdx, o.areaCount, o.areaDirty = nil, 0, 0, false
	o.areas.Store(1)
	o.nextFree = 2
	return nil
}

func (o *Overlay) writeMeta(b []byte, off uint64) error {
	if _, err := o.st.WriteAt(b, int64(off)); err != nil {
		return fmt.Errorf("cow: write metadata at %d: %w", off, err)
	}
	o.metaWritten.Add(uint64(len(b)))
	return nil
}

// load reads every metadata area into the chunk map, validating each record.
func (o *Overlay) load(fileSize int64) error {
	g := o.g
	cs := uint64(g.cs)
	fileChunks := uint64(fileSize) / cs
	baseChunks := (uint64(o.size) + cs - 1) / cs
	used := make([]uint64, fileChunks/64+1)
	next := uint64(2)
	var buf []byte
	for k := uint64(0); ; k++ {
		loc := g.areaChunk(k)
		var count uint64
		if loc < fileChunks || (loc == fileChunks && uint64(fileSize)%cs != 0) {
			if buf == nil {
				buf = make([]byte, cs)
			}
			n, err := o.st.ReadAt(buf, int64(loc*cs))
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("cow: read metadata area %d: %w", k, err)
			}
			clear(buf[n:])
			for ; count < g.epa; count++ {
				at := int64(loc*cs + count*entrySize)
				e := getEntry(buf[count*entrySize:])
				if e.new == 0 {
					break
				}
				switch {
				case g.isMetadata(e.new):
					return corruptf(at, "record maps chunk %d onto metadata chunk %d", e.old, e.new)
				case e.new >= fileChunks:
					return corruptf(at, "record maps chunk %d onto chunk %d past the end of the file (%d chunks)", e.old, e.new, fileChunks)
				case e.new > math.MaxUint32:
					return corruptf(at, "new chunk %d too large", e.new)
				case e.old >= baseChunks:
					return corruptf(at, "record maps chunk %d past the end of the base (%d chunks)", e.old, baseChunks)
				case used[e.new/64]&(1<<(e.new%64)) != 0:
					return corruptf(at, "chunk %d is the target of two records", e.new)
				}
				if _, dup := o.m.get(e.old); dup {
					return corruptf(at, "chunk %d has two records", e.old)
				}
				used[e.new/64] |= 1 << (e.new % 64)
				o.m.set(e.old, uint32(e.new))
				next = max(next, e.new+1)
			}
		}
		if count < g.epa {
			if buf != nil {
				clear(buf[count*entrySize:]) // stale records after the end marker
			}
			o.area, o.areaIdx, o.areaCount = buf, k, count // nil area: allocated at the first commit
			o.areaDirty = true                             // the disk may hold stale records after the end: rewrite whole
			o.areas.Store(k + 1)
			break
		}
	}
	o.nextFree = g.nextData(next)
	return nil
}

// Size returns the size of the device in bytes: the size of the base.
func (o *Overlay) Size() int64 { return o.size }

// ChunkSize returns the copy unit in bytes.
func (o *Overlay) ChunkSize() int64 { return o.g.cs }

// ReadOnly reports whether the overlay refuses writes (Options.ReadOnly).
func (o *Overlay) ReadOnly() bool { return o.readOnly }

// Base returns the base the overlay reads unchanged chunks from.
func (o *Overlay) Base() *Base { return o.base }

// ReadAt reads len(p) bytes at off, with io.ReaderAt semantics: chunks with
// a copy in the overlay come from the overlay file, the others from the base.
func (o *Overlay) ReadAt(p []byte, off int64) (int, error) {
	o.life.RLock()
	defer o.life.RUnlock()
	if o.closed {
		return 0, ErrClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("%w: read at negative offset %d", ErrOutOfRange, off)
	}
	if off >= o.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var eof bool
	if rem := o.size - off; int64(len(p)) > rem {
		p, eof = p[:rem], true
	}
	cs, shift := o.g.cs, o.g.shift
	// Coalesce runs of chunks that live contiguously in the same file.
	var (
		runFromCOW bool
		runFile    int64 // file offset of the run's start
		runLo      int   // start in p
	)
	flush := func(hi int) error {
		if hi == runLo {
			return nil
		}
		b := p[runLo:hi]
		var err error
		if runFromCOW {
			var n int
			n, err = o.st.ReadAt(b, runFile)
			if errors.Is(err, io.EOF) {
				clear(b[n:]) // a chunk not yet extended on disk reads as zeros
				err = nil
			}
		} else {
			var n int
			n, err = o.base.ReadAt(b, runFile)
			if n == len(b) && errors.Is(err, io.EOF) {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("cow: read at %d: %w", off+int64(runLo), err)
		}
		return nil
	}
	pos := 0
	for pos < len(p) {
		cur := off + int64(pos)
		c := uint64(cur) >> shift
		inner := cur & (cs - 1)
		n := int(min(cs-inner, int64(len(p)-pos)))
		o.mu.RLock()
		nc, mapped := o.m.get(c)
		o.mu.RUnlock()
		var fileOff int64
		if mapped {
			fileOff = int64(nc)<<shift + inner
		} else {
			fileOff = cur
		}
		if pos > runLo && (mapped != runFromCOW || fileOff != runFile+int64(pos-runLo)) {
			if err := flush(pos); err != nil {
				return runLo, err
			}
			runLo = pos
		}
		if pos == runLo {
			runFromCOW, runFile = mapped, fileOff
		}
		pos += n
	}
	if err := flush(len(p)); err != nil {
		return runLo, err
	}
	if eof {
		return len(p), io.EOF
	}
	return len(p), nil
}

// wseg is the part of one WriteAt that falls into one chunk.
type wseg struct {
	c      uint64 // base chunk
	nc     uint64 // overlay chunk
	owned  bool   // first write: this WriteAt allocated nc and must commit it
	skip   bool   // zeroing, and the base range is zero already
	inner  int64  // offset in the chunk
	lo, hi int    // range in p
}

func (s *wseg) full(cs int64) bool { return s.inner == 0 && int64(s.hi-s.lo) == cs }

// WriteAt writes len(p) bytes at off. A chunk written for the first time
// gets a new chunk in the overlay file; if the write covers it only in part,
// the rest is copied from the base first (in memory, so the chunk is written
// once). For a persistent overlay the new chunks' data is made durable before
// the metadata records that point at them, and the records are durable
// before WriteAt returns; writes into chunks already copied are ordinary
// writes, durable after the next Sync. A write that needs a new chunk when
// the overlay is full fails with ErrFull, and writes nothing.
func (o *Overlay) WriteAt(p []byte, off int64) (int, error) {
	o.life.RLock()
	defer o.life.RUnlock()
	if o.closed {
		return 0, ErrClosed
	}
	if o.readOnly {
		return 0, ErrReadOnly
	}
	if off < 0 || off > o.size || int64(len(p)) > o.size-off {
		return 0, fmt.Errorf("%w: write of %d bytes at %d on a device of %d bytes", ErrOutOfRange, len(p), off, o.size)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := o.write(p, off, int64(len(p))); err != nil {
		return 0, err
	}
	o.bytesWritten.Add(uint64(len(p)))
	return len(p), nil
}

// write writes p at off, or, with p == nil, zeros over [off, off+n): chunks
// wholly covered are deallocated (hole punched) instead of written, and
// chunks never copied whose base range is already zero are left alone.
func (o *Overlay) write(p []byte, off, n int64) error {
	cs, shift := o.g.cs, o.g.shift
	var stack [8]wseg
	segs := stack[:0]
	for pos := int64(0); pos < n; {
		cur := off + pos
		inner := cur & (cs - 1)
		k := min(cs-inner, n-pos)
		segs = append(segs, wseg{c: uint64(cur) >> shift, inner: inner, lo: int(pos), hi: int(pos + k)})
		pos += k
	}
	if p == nil {
		if err := o.markBaseZero(segs); err != nil {
			return err
		}
	}

	// Claim every chunk not yet copied, or wait for another write that is
	// copying one of ours. A claimer never waits while holding claims, so
	// writes cannot deadlock.
	var mine *pendingChunk
	owned := 0
	for {
		o.mu.Lock()
		if o.broken != nil {
			err := o.broken
			o.mu.Unlock()
			return err
		}
		var wait *pendingChunk
		for i := range segs {
			if pc := o.pending[segs[i].c]; pc != nil {
				wait = pc
				break
			}
		}
		if wait != nil {
			o.mu.Unlock()
			<-wait.done
			continue
		}
		saved := o.nextFree
		owned = 0
		var err error
		for i := range segs {
			s := &segs[i]
			s.owned = false
			if nc, ok := o.m.get(s.c); ok {
				s.nc, s.skip = uint64(nc), false
				continue
			}
			if s.skip {
				continue // zeroing a chunk whose base range is zero: nothing to do
			}
			if s.nc, err = o.allocLocked(); err != nil {
				break
			}
			s.owned = true
			owned++
		}
		if err != nil {
			o.nextFree = saved
			o.mu.Unlock()
			o.log.Warn("cow: overlay full", "err", err)
			return err
		}
		if owned > 0 {
			mine = &pendingChunk{done: make(chan struct{})}
			for i := range segs {
				if segs[i].owned {
					o.pending[segs[i].c] = mine
				}
			}
		}
		o.mu.Unlock()
		break
	}

	// New chunks first, then their records, then the chunks already copied:
	// a write that fails for want of space changes nothing.
	segsOut := func(owned bool) error {
		if p == nil {
			return o.zeroSegs(segs, owned)
		}
		return o.writeSegs(p, segs, owned)
	}
	err := segsOut(true)
	if err == nil && owned > 0 && o.persistent {
		entries := make([]entry, 0, owned)
		for _, s := range segs {
			if s.owned {
				entries = append(entries, entry{old: s.c, new: s.nc})
			}
		}
		err = o.commit(entries)
	}
	if err == nil {
		err = segsOut(false)
	}
	if owned > 0 {
		o.mu.Lock()
		for _, s := range segs {
			if s.owned {
				delete(o.pending, s.c)
				if err == nil {
					o.m.set(s.c, uint32(s.nc))
				}
			}
		}
		o.mu.Unlock()
		close(mine.done)
	}
	return err
}

// markBaseZero sets skip on the segments of chunks not copied whose base
// range reads as zeros: zeroing them needs no new chunk.
func (o *Overlay) markBaseZero(segs []wseg) error {
	bp := o.bufs.Get().(*[]byte)
	defer o.bufs.Put(bp)
	for i := range segs {
		s := &segs[i]
		o.mu.RLock()
		_, mapped := o.m.get(s.c)
		o.mu.RUnlock()
		if mapped {
			continue
		}
		at := int64(s.c)<<o.g.shift + s.inner
		b := (*bp)[:min(int64(s.hi-s.lo), o.size-at)]
		k, err := o.base.ReadAt(b, at)
		if k < len(b) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("cow: read base at %d: %w", at, err)
		}
		s.skip = isZero(b)
	}
	return nil
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// zeroSegs zeroes the segments of a discard that are new chunks (owned)
// or chunks copied before (!owned): whole chunks are punched
// (a new chunk is first extended to its end, so its record never points
// past the end of the file), partial ones written with zeros.
func (o *Overlay) zeroSegs(segs []wseg, owned bool) error {
	cs := o.g.cs
	for _, s := range segs {
		if s.owned != owned || !s.owned && s.skip {
			continue
		}
		at := int64(s.nc)<<o.g.shift + s.inner
		switch {
		case s.owned && s.full(cs):
			if _, err := o.st.WriteAt([]byte{0}, at+cs-1); err != nil {
				return o.ioErr(fmt.Errorf("cow: extend for chunk %d: %w", s.nc, err))
			}
			if err := o.st.Punch(at, cs); err != nil {
				return o.ioErr(fmt.Errorf("cow: discard chunk %d: %w", s.nc, err))
			}
		case s.owned:
			if err := o.copyWrite(make([]byte, s.hi-s.lo), s); err != nil {
				return err
			}
		case s.full(cs):
			if err := o.st.Punch(at, cs); err != nil {
				return o.ioErr(fmt.Errorf("cow: discard chunk %d: %w", s.nc, err))
			}
		default:
			if _, err := o.st.WriteAt(make([]byte, s.hi-s.lo), at); err != nil {
				return o.ioErr(fmt.Errorf("cow: zero at %d: %w", at, err))
			}
			o.dataWritten.Add(uint64(s.hi - s.lo))
		}
	}
	return nil
}

// writeSegs writes the data of one WriteAt into either its new chunks
// (owned) or the chunks copied before, coalescing segments that are
// contiguous both in p and in the overlay file.
func (o *Overlay) writeSegs(p []byte, segs []wseg, owned bool) error {
	cs := o.g.cs
	for i := 0; i < len(segs); {
		s := segs[i]
		if s.owned != owned {
			i++
			continue
		}
		if s.owned && !s.full(cs) {
			if err := o.copyWrite(p[s.lo:s.hi], s); err != nil {
				return err
			}
			i++
			continue
		}
		fileOff := int64(s.nc)<<o.g.shift + s.inner
		j := i + 1
		for j < len(segs) {
			t := segs[j]
			if t.owned != owned || t.owned && !t.full(cs) || int64(t.nc)<<o.g.shift+t.inner != fileOff+int64(t.lo-s.lo) {
				break
			}
			j++
		}
		hi := segs[j-1].hi
		if _, err := o.st.WriteAt(p[s.lo:hi], fileOff); err != nil {
			return o.ioErr(fmt.Errorf("cow: write at %d: %w", fileOff, err))
		}
		o.dataWritten.Add(uint64(hi - s.lo))
		i = j
	}
	return nil
}

// copyWrite writes a whole new chunk: base content with data laid over it.
func (o *Overlay) copyWrite(data []byte, s wseg) error {
	cs := o.g.cs
	bp := o.bufs.Get().(*[]byte)
	defer o.bufs.Put(bp)
	buf := *bp
	baseOff := int64(s.c) << o.g.shift
	n := min(cs, o.size-baseOff)
	k, err := o.base.ReadAt(buf[:n], baseOff)
	if k < int(n) || (err != nil && !errors.Is(err, io.EOF)) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("cow: copy base chunk %d: %w", s.c, err)
	}
	o.baseCopied.Add(uint64(n))
	clear(buf[n:])
	copy(buf[s.inner:], data)
	if _, err := o.st.WriteAt(buf, int64(s.nc)<<o.g.shift); err != nil {
		return o.ioErr(fmt.Errorf("cow: write chunk %d: %w", s.nc, err))
	}
	o.dataWritten.Add(uint64(cs))
	return nil
}

// ioErr marks an out-of-space error as ErrFull, so that errors.Is works
// with both ErrFull and syscall.ENOSPC.
func (o *Overlay) ioErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	return err
}

// allocLocked hands out the next free chunk of the overlay file. o.mu is held.
func (o *Overlay) allocLocked() (uint64, error) {
	n := o.nextFree
	need := n + 1
	if o.persistent && (n+1)%(o.g.epa+1) == 1 {
		need++ // the last data chunk of an area: the next area must fit too
	}
	if n > math.MaxUint32 || (o.maxChunks > 0 && need > o.maxChunks) {
		return 0, fmt.Errorf("%w: %d of %d chunks used (MaxSize %d bytes)", ErrFull, n, o.maxChunks, int64(o.maxChunks)*o.g.cs)
	}
	o.nextFree = n + 1
	if o.persistent {
		o.nextFree = o.g.nextData(o.nextFree)
	}
	return n, nil
}

// commit makes entries durable, batching concurrent callers into one
// metadata write (group commit).
func (o *Overlay) commit(entries []entry) error {
	req := &commitReq{entries: entries}
	o.cmu.Lock()
	defer o.cmu.Unlock()
	o.queue = append(o.queue, req)
	for !req.done {
		if o.committing {
			o.ccond.Wait()
			continue
		}
		o.committing = true
		batch := o.queue
		o.queue = nil
		o.cmu.Unlock()
		err := o.commitBatch(batch)
		o.cmu.Lock()
		for _, r := range batch {
			r.done, r.err = true, err
		}
		o.committing = false
		o.ccond.Broadcast()
	}
	return req.err
}

type areaWrite struct {
	data []byte
	off  uint64
	full []byte // whole-area copy, for rollback
}

// commitBatch is the crash-consistency core, in the order of dm-snapshot's
// persistent_commit_exception:
//  1. fdatasync: the data of every new chunk is durable before any record
//     points at it;
//  2. append the records to the in-memory area; when an area fills, the
//     next one (zeroed or with the records that overflowed) is written and
//     made durable before the full one, so a reader that walks into it never
//     finds stale records;
//  3. write the current area (only the sectors that changed, relying on
//     sector-atomic writes as dm does) and fdatasync.
func (o *Overlay) commitBatch(batch []*commitReq) error {
	if err := o.st.Datasync(); err != nil {
		return o.commitErr(fmt.Errorf("cow: sync data: %w", err))
	}
	g := o.g
	cs := uint64(g.cs)
	if o.area == nil {
		// Dropped after the last commit (idle overlays keep no area
		// buffer): the disk copy is exact unless areaDirty, in which case
		// the area is known to be empty.
		o.area = make([]byte, cs)
		if !o.areaDirty {
			if _, err := o.st.ReadAt(o.area, int64(g.areaChunk(o.areaIdx)*cs)); err != nil && !errors.Is(err, io.EOF) {
				o.area = nil
				return o.commitErr(fmt.Errorf("cow: read metadata area: %w", err))
			}
		}
	}
	saveIdx, saveCount := o.areaIdx, o.areaCount
	var writes []areaWrite
	lo := o.areaCount
	span := func(lo uint64) areaWrite {
		base := g.areaChunk(o.areaIdx) * cs
		if o.areaDirty {
			return areaWrite{data: o.area, off: base}
		}
		from := lo * entrySize / sectorSize * sectorSize
		to := min((o.areaCount*entrySize+sectorSize-1)/sectorSize*sectorSize, cs)
		return areaWrite{data: o.area[from:to], off: base + from}
	}
	for _, r := range batch {
		for _, e := range r.entries {
			putEntry(o.area[o.areaCount*entrySize:], e)
			o.areaCount++
			if o.areaCount == g.epa {
				w := span(lo)
				w.full = append([]byte(nil), o.area...)
				w.data = w.full[w.off-g.areaChunk(o.areaIdx)*cs:][:len(w.data)]
				writes = append(writes, w)
				o.areaIdx++
				clear(o.area)
				o.areaCount, lo, o.areaDirty = 0, 0, true
			}
		}
	}
	writes = append(writes, span(lo))
	var err error
	for i := len(writes) - 1; i >= 0 && err == nil; i-- {
		if err = o.writeMeta(writes[i].data, writes[i].off); err == nil {
			if err = o.st.Datasync(); err != nil {
				err = fmt.Errorf("cow: sync metadata: %w", err)
			}
		}
	}
	if err != nil {
		// Roll the in-memory area back; the disk copy may hold some of
		// these records, so the next commit rewrites the area whole.
		if len(writes) > 1 {
			copy(o.area, writes[0].full)
		}
		o.areaIdx, o.areaCount = saveIdx, saveCount
		clear(o.area[saveCount*entrySize:])
		o.areaDirty = true
		return o.commitErr(err)
	}
	o.areaDirty = false
	o.area = nil // the disk copy is exact now; reread at the next commit
	o.areas.Store(o.areaIdx + 1)
	o.commits.Add(1)
	return nil
}

// commitErr turns out-of-space into ErrFull (the overlay stays usable) and
// any other failure into a sticky error: after a failed fdatasync the state
// of the file is unknown, so further writes and Syncs fail (reads go on).
func (o *Overlay) commitErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	o.mu.Lock()
	if o.broken == nil {
		o.broken = err
		o.log.Error("cow: metadata commit failed; overlay refuses further writes", "err", err)
	}
	o.mu.Unlock()
	return err
}

// Sync makes every completed write durable (fdatasync of the overlay file).
// It is what SYNCHRONIZE CACHE and FUA map to. For a transient overlay it
// does nothing.
func (o *Overlay) Sync() error {
	o.life.RLock()
	defer o.life.RUnlock()
	if o.closed {
		return ErrClosed
	}
	if !o.persistent || o.readOnly {
		return nil
	}
	o.mu.RLock()
	err := o.broken
	o.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := o.st.Datasync(); err != nil {
		return o.commitErr(fmt.Errorf("cow: sync: %w", err))
	}
	return nil
}

// Discard makes [off, off+n) read as zeros (UNMAP / WRITE SAME with
// UNMAP; the iscsi package's Discarder contract). Chunks with a copy that
// the range covers whole are deallocated in the overlay file (hole punched),
// like dm's discard_zeroes_cow; chunks never copied whose base content in
// the range is not zero already get a record pointing at a hole (so Discard
// can fail with ErrFull, like a write); partly covered chunks are zeroed by
// an ordinary write. The base is never touched. Durable after Sync, like
// writes to copied chunks.
func (o *Overlay) Discard(off, n int64) error {
	o.life.RLock()
	defer o.life.RUnlock()
	if o.closed {
		return ErrClosed
	}
	if o.readOnly {
		return ErrReadOnly
	}
	if off < 0 || n < 0 || off > o.size || n > o.size-off {
		return fmt.Errorf("%w: discard of %d bytes at %d on a device of %d bytes", ErrOutOfRange, n, off, o.size)
	}
	// In batches, so that a discard of a whole large device needs bounded memory.
	batch := 256 * o.g.cs
	for n > 0 {
		k := min(n, batch-off&(o.g.cs-1))
		if err := o.write(nil, off, k); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// Reset throws the overlay's changes away: afterwards every read returns
// base content again. It waits for I/O in progress. For a persistent overlay
// the file is truncated and reformatted; a crash during Reset leaves either
// the old overlay or an empty one.
func (o *Overlay) Reset() error {
	o.life.Lock()
	defer o.life.Unlock()
	if o.closed {
		return ErrClosed
	}
	if o.readOnly {
		return ErrReadOnly
	}
	if err := o.st.Truncate(0); err != nil {
		return fmt.Errorf("cow: reset: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.broken = nil
	if o.persistent {
		if err := o.format(); err != nil {
			o.broken = err
			return err
		}
	} else {
		o.m.reset()
		o.nextFree = 0
	}
	o.log.Info("cow: overlay reset")
	return nil
}

// Flatten writes the whole device, the base with this overlay's changes,
// to w, for instance to make a client's disk the new base image. (Merging
// an overlay back into a shared base, as dm's snapshot-merge does, would
// change every other client's disk, so this package does not offer it.) It
// reads like any reader: stop writers first for a consistent image.
func (o *Overlay) Flatten(w io.Writer) (int64, error) {
	buf := make([]byte, max(1<<20, o.g.cs))
	var total int64
	for off := int64(0); off < o.size; {
		n := min(int64(len(buf)), o.size-off)
		if _, err := o.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return total, err
		}
		k, err := w.Write(buf[:n])
		total += int64(k)
		if err != nil {
			return total, fmt.Errorf("cow: flatten: %w", err)
		}
		off += n
	}
	return total, nil
}

// Stats returns the overlay's usage counters.
func (o *Overlay) Stats() Stats {
	o.mu.RLock()
	s := Stats{
		Persistent: o.persistent,
		ChunkSize:  o.g.cs,
		Chunks:     o.m.len(),
		FileBytes:  int64(o.nextFree) * o.g.cs,
		MaxSize:    int64(o.maxChunks) * o.g.cs,
	}
	o.mu.RUnlock()
	if o.persistent {
		s.MetadataChunks = int(o.areas.Load()) + 1
	}
	s.BytesWritten = o.bytesWritten.Load()
	s.DataBytesWritten = o.dataWritten.Load()
	s.MetadataBytesWritten = o.metaWritten.Load()
	s.BaseBytesCopied = o.baseCopied.Load()
	s.Commits = o.commits.Load()
	return s
}

// Close syncs a persistent overlay and closes its file; a transient
// overlay's data is gone afterwards. The base stays open.
func (o *Overlay) Close() error {
	o.life.Lock()
	defer o.life.Unlock()
	if o.closed {
		return ErrClosed
	}
	o.closed = true
	var err error
	if o.persistent && !o.readOnly && o.broken == nil {
		if serr := o.st.Datasync(); serr != nil {
			err = fmt.Errorf("cow: sync on close: %w", serr)
		}
	}
	if cerr := o.st.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("cow: close: %w", cerr)
	}
	return err
}
