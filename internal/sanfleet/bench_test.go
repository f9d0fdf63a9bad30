package sanfleet

import (
	"context"
	"testing"

	"github.com/netbootkit/netboot/cow"
)

// BenchmarkRead reads 4 KiB blocks of a machine's disk through the fleet
// (disk → overlay → base) from parallel goroutines, against the same reads
// straight from a cow.Overlay: the fleet's wrapper should cost nothing.
func BenchmarkRead(b *testing.B) {
	for _, via := range []string{"fleet", "overlay"} {
		b.Run(via, func(b *testing.B) {
			bs, _, _ := newBase(b, 0)
			f := &Fleet{TargetPrefix: tPrefix, InitiatorPrefix: iPrefix, Dir: b.TempDir(),
				Base: func(string) (*cow.Base, error) { return bs, nil }}
			defer f.Close()
			tg, err := f.Lookup(context.Background(), f.InitiatorName(mac1), f.TargetName("", mac1))
			if err != nil {
				b.Fatal(err)
			}
			dev := tg.LUNs[0].Device
			var r interface {
				ReadAt([]byte, int64) (int, error)
			} = dev
			if via == "overlay" {
				if _, err := dev.ReadAt(make([]byte, 512), 0); err != nil {
					b.Fatal(err)
				}
				r = dev.(*disk).opened()
			}
			size := dev.Size()
			b.SetBytes(4096)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				p := make([]byte, 4096)
				var off int64
				for pb.Next() {
					if _, err := r.ReadAt(p, off); err != nil {
						b.Error(err)
						return
					}
					off = (off + 4096) % size
				}
			})
		})
	}
}
