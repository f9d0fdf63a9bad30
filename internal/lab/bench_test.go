package lab_test

import (
	"io"
	"testing"

	"github.com/netbootkit/netboot/internal/lab"
)

// BenchmarkInitramfsWriteTo measures building a busybox image with a few
// kernel modules (gzip at BestSpeed dominates).
func BenchmarkInitramfsWriteTo(b *testing.B) {
	lab.Require(b, lab.BusyboxPath)
	k := lab.Kernel(b)
	rd := lab.NewInitramfs(`echo bench`)
	if err := rd.AddModules(k, "iscsi_ibft", "virtio_net", "virtio_pci"); err != nil {
		b.Fatal(err)
	}
	var size int64
	for b.Loop() {
		n, err := rd.WriteTo(io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	b.ReportMetric(float64(size), "bytes/image")
}
