package cow

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Base is the read-only image that overlays are layered on. It is never
// written. One Base is meant to be shared by every overlay of the same image,
// so the image is opened once and its pages are cached once; Base is safe for
// concurrent use as long as the underlying io.ReaderAt is (an *os.File is).
type Base struct {
	r      io.ReaderAt
	size   int64
	closer io.Closer

	once   sync.Once
	digest [32]byte
	err    error
}

// NewBase wraps r, whose content is size bytes long and must not change
// while overlays use it.
func NewBase(r io.ReaderAt, size int64) *Base {
	return &Base{r: r, size: size}
}

// OpenBase opens the file or block device at path read-only as a Base.
// Close it after closing every overlay that uses it.
func OpenBase(path string) (*Base, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cow: open base: %w", err)
	}
	// Seek works for block devices too, whose Stat size is 0.
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cow: size of base %s: %w", path, err)
	}
	return &Base{r: f, size: size, closer: f}, nil
}

// Size returns the size of the base in bytes; every overlay on it has this size.
func (b *Base) Size() int64 { return b.size }

// ReadAt reads from the base. Reads past the end return io.EOF.
func (b *Base) ReadAt(p []byte, off int64) (int, error) {
	if off >= b.size {
		return 0, io.EOF
	}
	if rem := b.size - off; int64(len(p)) > rem {
		n, err := b.r.ReadAt(p[:rem], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return b.r.ReadAt(p, off)
}

// Close closes the file opened by OpenBase; it does nothing for a Base made by NewBase.
func (b *Base) Close() error {
	if b.closer == nil {
		return nil
	}
	return b.closer.Close()
}

// identity sampling: the digest covers the size and sampleCount blocks of
// sampleSize bytes spread evenly over the base (the whole base if it is small).
const (
	sampleSize  = 4096
	sampleCount = 64
)

// Identity returns a SHA-256 digest of the base's size and of 64 4-KiB
// samples spread over it (the whole content for bases up to 256 KiB). It is
// computed once and cached. Overlays record it so that Open refuses an
// overlay made on another image. It detects a wrong or replaced image, not a
// deliberate edit that avoids the sampled blocks.
func (b *Base) Identity() ([32]byte, error) {
	b.once.Do(func() { b.digest, b.err = b.computeIdentity() })
	return b.digest, b.err
}

func (b *Base) computeIdentity() ([32]byte, error) {
	h := sha256.New()
	var sz [8]byte
	binary.LittleEndian.PutUint64(sz[:], uint64(b.size))
	h.Write(sz[:])
	buf := make([]byte, sampleSize)
	read := func(off int64) error {
		n := min(int64(sampleSize), b.size-off)
		k, err := b.ReadAt(buf[:n], off)
		if int64(k) == n && (err == nil || errors.Is(err, io.EOF)) {
			h.Write(buf[:n])
			return nil
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("cow: read base sample at %d: %w", off, err)
	}
	if b.size <= sampleSize*sampleCount {
		for off := int64(0); off < b.size; off += sampleSize {
			if err := read(off); err != nil {
				return [32]byte{}, err
			}
		}
	} else {
		span := b.size - sampleSize
		for i := int64(0); i < sampleCount; i++ {
			off := span / (sampleCount - 1) * i
			if i == sampleCount-1 {
				off = span
			}
			if err := read(off); err != nil {
				return [32]byte{}, err
			}
		}
	}
	var d [32]byte
	h.Sum(d[:0])
	return d, nil
}
