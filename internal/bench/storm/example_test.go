package storm_test

import (
	"fmt"
	"os"

	"github.com/netbootkit/netboot/internal/bench/harness"
	"github.com/netbootkit/netboot/internal/bench/storm"
)

// The storm workloads: one per machine count, each against our lab server
// and the dnsmasq + nginx stack. Nothing starts until harness.Run runs them.
func ExampleWorkloads() {
	for _, w := range storm.Workloads(harness.Config{Dir: os.TempDir()}) {
		var subjects []string
		for _, s := range w.Subjects {
			subjects = append(subjects, s.Name)
		}
		fmt.Printf("%s (%s, headline %s in %s): %q\n", w.ID, w.Group, w.Metrics[0].Key, w.Metrics[0].Unit, subjects)
	}
	// Output:
	// storm-50 (Boot storm, headline last in s): ["netboot minimal" "dnsmasq+nginx"]
	// storm-200 (Boot storm, headline last in s): ["netboot minimal" "dnsmasq+nginx"]
	// storm-1000 (Boot storm, headline last in s): ["netboot minimal" "dnsmasq+nginx"]
}
