package cow

import (
	"io"
	"os"
)

// storage is what an overlay needs from its file. *os.File provides it
// through osFile; tests substitute a recording fake to simulate power cuts.
type storage interface {
	io.ReaderAt
	io.WriterAt
	// Datasync makes every completed write durable (fdatasync).
	Datasync() error
	// Punch deallocates [off, off+n) so it reads as zeros, keeping the size.
	Punch(off, n int64) error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

type osFile struct{ f *os.File }

func (o osFile) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o osFile) Close() error                             { return o.f.Close() }

func (o osFile) Size() (int64, error) {
	fi, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Mode().IsRegular() {
		return fi.Size(), nil
	}
	return o.f.Seek(0, io.SeekEnd) // block device
}

// writeZeros is the portable fallback for Punch.
func writeZeros(w io.WriterAt, off, n int64) error {
	z := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, int64(len(z)))
		if _, err := w.WriteAt(z[:k], off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}
