package cow

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

// On-disk format: the Linux dm-snapshot persistent exception store
// (drivers/md/dm-snap-persistent.c). Everything is little-endian and
// addressed in chunks of ChunkSize bytes.
//
//	chunk 0              header: magic "SnAp", valid, version 1, chunk size in sectors
//	                     (bytes 16.. are ignored by Linux; this package keeps its base record there)
//	chunk 1              metadata area 0: ChunkSize/16 records {u64 old_chunk, u64 new_chunk}
//	chunks 2..E+1        data chunks handed out while area 0 fills
//	chunk 1+(E+1)*k      metadata area k, and so on
//
// A record with new_chunk == 0 ends the table; a full area continues in the next.
const (
	sectorSize    = 512
	headerMagic   = 0x70416E53 // "SnAp" as little-endian bytes
	formatVersion = 1
	entrySize     = 16

	// MinChunkSize is the smallest chunk size: one 512-byte sector.
	MinChunkSize = sectorSize
	// MaxChunkSize is the largest chunk size this package opens (16 MiB).
	MaxChunkSize = 16 << 20
	// DefaultChunkSize is the chunk size used when Options.ChunkSize is 0.
	// 64 KiB was chosen by measurement (see the package documentation):
	// smaller chunks cost more metadata commits and memory for sequential
	// writes; larger ones multiply the copy cost of small random writes.
	DefaultChunkSize = 64 << 10

	// base record, stored in the header chunk after dm's 16 bytes
	recordOff   = 16
	recordMagic = "NBKTCOW1"
	recordLen   = 8 + 8 + 32 + 4 // magic, base size, base digest, crc32c
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// geometry holds the derived sizes of a store with a given chunk size.
type geometry struct {
	cs    int64  // chunk size in bytes
	shift uint   // log2(cs)
	epa   uint64 // exceptions (records) per metadata area
}

func newGeometry(cs int64) geometry {
	return geometry{cs: cs, shift: uint(bits.TrailingZeros64(uint64(cs))), epa: uint64(cs) / entrySize}
}

// validChunkSize reports whether cs is a power of two in [MinChunkSize, MaxChunkSize].
func validChunkSize(cs int64) bool {
	return cs >= MinChunkSize && cs <= MaxChunkSize && cs&(cs-1) == 0
}

// areaChunk is the chunk holding metadata area k.
func (g geometry) areaChunk(k uint64) uint64 { return 1 + (g.epa+1)*k }

// isMetadata reports whether chunk c is the header or a metadata area.
func (g geometry) isMetadata(c uint64) bool { return c == 0 || c%(g.epa+1) == 1 }

// nextData returns the first data chunk at or after c.
func (g geometry) nextData(c uint64) uint64 {
	for g.isMetadata(c) {
		c++
	}
	return c
}

// header is the decoded header chunk.
type header struct {
	magic        uint32
	valid        uint32
	version      uint32
	chunkSectors uint32
	rec          *baseRecord // nil when bytes 16.. hold no record of ours
}

// baseRecord identifies the base an overlay was made on.
type baseRecord struct {
	size   int64
	digest [32]byte
}

// encodeHeader fills b (at least one sector, zeroed by the caller) with a valid header.
func encodeHeader(b []byte, cs int64, rec *baseRecord) {
	binary.LittleEndian.PutUint32(b[0:], headerMagic)
	binary.LittleEndian.PutUint32(b[4:], 1)
	binary.LittleEndian.PutUint32(b[8:], formatVersion)
	binary.LittleEndian.PutUint32(b[12:], uint32(cs/sectorSize))
	if rec != nil {
		r := b[recordOff : recordOff+recordLen]
		copy(r, recordMagic)
		binary.LittleEndian.PutUint64(r[8:], uint64(rec.size))
		copy(r[16:48], rec.digest[:])
		binary.LittleEndian.PutUint32(r[48:], crc32.Checksum(r[:48], castagnoli))
	}
}

// decodeHeader parses the first sector of a store. It checks only what
// can be checked without knowing the base.
func decodeHeader(b []byte) (header, error) {
	if len(b) < sectorSize {
		return header{}, corruptf(0, "header shorter than a sector (%d bytes)", len(b))
	}
	h := header{
		magic:        binary.LittleEndian.Uint32(b[0:]),
		valid:        binary.LittleEndian.Uint32(b[4:]),
		version:      binary.LittleEndian.Uint32(b[8:]),
		chunkSectors: binary.LittleEndian.Uint32(b[12:]),
	}
	if h.magic == 0 {
		return h, nil // a new store; the rest is meaningless
	}
	if h.magic != headerMagic {
		return h, ErrNotOverlay
	}
	if h.version != formatVersion {
		return h, corruptf(8, "unsupported version %d", h.version)
	}
	cs := int64(h.chunkSectors) * sectorSize
	if h.chunkSectors == 0 || !validChunkSize(cs) {
		return h, corruptf(12, "invalid on-disk chunk size %d sectors", h.chunkSectors)
	}
	r := b[recordOff : recordOff+recordLen]
	switch {
	case bytes.Equal(r[:8], []byte(recordMagic)):
		if crc32.Checksum(r[:48], castagnoli) != binary.LittleEndian.Uint32(r[48:]) {
			return h, corruptf(recordOff, "base record checksum mismatch")
		}
		rec := &baseRecord{size: int64(binary.LittleEndian.Uint64(r[8:]))}
		copy(rec.digest[:], r[16:48])
		if rec.size < 0 {
			return h, corruptf(recordOff+8, "negative base size")
		}
		h.rec = rec
	default:
		// Zeros (Linux made it) or someone else's bytes: no record; the
		// caller's base is taken on trust, as dm does.
	}
	return h, nil
}

// entry is one exception record.
type entry struct{ old, new uint64 }

func putEntry(b []byte, e entry) {
	binary.LittleEndian.PutUint64(b[0:], e.old)
	binary.LittleEndian.PutUint64(b[8:], e.new)
}

func getEntry(b []byte) entry {
	return entry{old: binary.LittleEndian.Uint64(b[0:]), new: binary.LittleEndian.Uint64(b[8:])}
}
