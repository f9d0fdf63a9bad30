package diskload_test

import (
	"fmt"

	"github.com/netbootkit/netboot/internal/bench/diskload"
)

// The load client prints one line per run; ParseLoadgen reads it and
// Sample turns it into the report's values for the block size used.
func ExampleParseLoadgen() {
	r, err := diskload.ParseLoadgen("20000 2.000000 95.2 310.0 0\n")
	if err != nil {
		fmt.Println(err)
		return
	}
	s := r.Sample(4096)
	fmt.Printf("%.0f IOPS, %.1f MB/s, avg %.1f µs, p99 %.0f µs, %d failed\n",
		s.Values["IOPS"], s.Values["MB/s"], s.Values["lat_avg"], s.Values["lat_p99"], s.Failures)
	// Output: 10000 IOPS, 41.0 MB/s, avg 95.2 µs, p99 310 µs, 0 failed
}
