package netload_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/netbootkit/netboot/internal/bench/harness"
	"github.com/netbootkit/netboot/internal/bench/netload"
)

// The workloads and, for each, the subjects it alternates: ours first, then
// the peers. Building the list starts nothing; harness.Run does (as root).
func ExampleWorkloads() {
	cfg := harness.Config{Quick: true, Dir: os.TempDir(), Logger: slog.New(slog.DiscardHandler)}
	for _, w := range netload.Workloads(cfg) {
		var names []string
		for _, s := range w.Subjects {
			names = append(names, s.Name)
		}
		fmt.Printf("%-5s %-16s %s %v\n", w.Group, w.ID, w.Metrics[0].Unit, names)
	}
	// Output:
	// DHCP  dhcp-rate        ms [netboot lab kea-dhcp4 dnsmasq]
	// DHCP  dhcp-saturation  DORA/s [netboot lab kea-dhcp4 dnsmasq]
	// DHCP  dhcp-proxy       DO/s [netboot proxy dnsmasq proxy]
	// TFTP  tftp-512         MB/s [netboot tftpd-hpa dnsmasq atftpd]
	// TFTP  tftp-1468        MB/s [netboot tftpd-hpa dnsmasq atftpd]
	// TFTP  tftp-65464       MB/s [netboot tftpd-hpa dnsmasq atftpd]
	// TFTP  tftp-window16    MB/s [netboot tftpd-hpa dnsmasq atftpd]
	// TFTP  tftp-storm       s (last done) [netboot tftpd-hpa dnsmasq atftpd]
	// HTTP  http-storm       s (last done) [netboot nginx busybox httpd]
}
