// Package diskload holds benchmark workloads of internal/bench.
package diskload

import "github.com/netbootkit/netboot/internal/bench/harness"

// Workloads returns this package's workloads.
func Workloads(cfg harness.Config) []harness.Workload { return nil }
