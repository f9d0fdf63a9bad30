//go:build !linux

package cow

import "os"

func (o osFile) Datasync() error          { return o.f.Sync() }
func (o osFile) Punch(off, n int64) error { return writeZeros(o, off, n) }

func lockFile(*os.File, bool) error { return nil }
