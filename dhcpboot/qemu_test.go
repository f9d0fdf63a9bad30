package dhcpboot

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/netbootkit/netboot/internal/lab"
	"github.com/stretchr/testify/require"
)

// TestQEMUOVMFThroughProxy boots real UEFI firmware (OVMF's own PXE client
// on virtio-net, no iPXE ROM) on a network whose addresses come from
// dnsmasq, with ProxyServer on the same host sharing port 67. The firmware
// must take the proxy offer without a file, ask on port 4011, fetch
// snponly.efi over TFTP (tftpd-hpa), and the iPXE it starts must DHCP
// again, be recognised as iPXE (no chainload loop) and fetch the script URL
// over HTTP. Several minutes under TCG; skipped with -short.
func TestQEMUOVMFThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a QEMU machine")
	}
	lab.Require(t, "dnsmasq", "in.tftpd", "qemu-system-x86_64", filepath.Join(lab.IPXEDir, "snponly.efi"))
	n := lab.NewNet(t)
	srv := n.Server
	dir := t.TempDir()
	srv.Start(t, "dnsmasq", "-k", "--conf-file=/dev/null", "--port=0", "--user=root",
		"--interface="+srv.Iface, "--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,1h",
		"--dhcp-leasefile="+filepath.Join(dir, "dnsmasq.leases"), "--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
		"--no-ping", "--log-dhcp", "--log-facility=-")
	// The address server must hold port 67 before the proxy starts (a
	// dnsmasq without --bind-interfaces cannot bind next to a socket that
	// is already there).
	waitFor(t, 20*time.Second, func() bool {
		out, _ := srv.Run("ss", "-ulnp")
		return strings.Contains(out, ":67 ") && strings.Contains(out, "dnsmasq")
	}, func() string { return "dnsmasq did not bind port 67" })
	srv.Start(t, "in.tftpd", "--foreground", "--listen", "--address", srv.IP().String()+":69", "--secure", lab.IPXEDir)

	var mu sync.Mutex
	var events []string
	record := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, s)
	}
	got := make(chan string, 1)
	hl, err := srv.Listen("tcp", srv.IP().String()+":8080")
	require.NoError(t, err)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("http " + r.URL.String())
		select {
		case got <- r.URL.Path + " mac=" + r.URL.Query().Get("mac"):
		default:
		}
		_, _ = w.Write([]byte("#!ipxe\necho DHCPBOOT-SCRIPT-FETCHED\npoweroff\n"))
	})}
	go func() { _ = hs.Serve(hl) }()
	t.Cleanup(func() { hs.Close() })

	p := &ProxyServer{
		Interface: srv.Iface,
		Addr:      srv.IP(),
		Policy: &Chainload{
			TFTPServer: srv.IP(),
			NBP:        map[iana.Arch]string{iana.EFI_X86_64: "snponly.efi"},
			Script:     "http://10.77.0.1:8080/boot.ipxe?mac=${net0/mac}",
		},
		OnReply: func(c *Client, port int, r *dhcpv4.DHCPv4) {
			record(c.Stage.String() + " " + r.MessageType().String() + " port " + strconv.Itoa(port) + " file=" + r.BootFileName)
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Do(p.ListenAndServe) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
		<-errc
	})

	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x64, 0x62, 0x01}
	vm := lab.Boot(t, n.Machine(lab.Machine{Name: "ovmf-proxy", Firmware: lab.UEFI, MemoryMB: 512,
		NICs: []lab.NIC{{MAC: mac, Model: "virtio-net-pci", ROM: lab.NoROM, BootIndex: 1}}}))
	deadline := time.After(8 * time.Minute)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case u := <-got:
			require.Equal(t, "/boot.ipxe mac="+mac.String(), u, "iPXE expanded ${net0/mac}")
			break wait
		case <-tick.C:
			if !strings.Contains(vm.Output(), "Shell>") {
				continue
			}
		case <-deadline:
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("no script fetch (firmware gave up or timed out); events:\n%s", strings.Join(events, "\n"))
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("events:\n%s", strings.Join(events, "\n"))
	joined := strings.Join(events, "\n")
	require.Contains(t, joined, "pxe OFFER port 67 file=\n", "UEFI got a proxy offer without file")
	require.Contains(t, joined, "pxe ACK port 4011 file=snponly.efi", "UEFI asked the boot server on 4011")
	require.Contains(t, joined, "ipxe OFFER port 67 file=http://10.77.0.1:8080/boot.ipxe", "iPXE recognised: script, not iPXE again")
}
