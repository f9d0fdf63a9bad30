package lab_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
)

// serveScript serves an iPXE script at /boot.ipxe from the server namespace
// and returns the URL.
func serveScript(t *testing.T, n *lab.Net, script string) string {
	t.Helper()
	l, err := n.Server.Listen("tcp4", n.Server.IP().String()+":8080")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/boot.ipxe" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, script)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String() + "/boot.ipxe"
}

// TestNetBIOSiPXE boots a BIOS machine whose e1000 NIC ROM (iPXE from
// ipxe-qemu) gets an address from dnsmasq in the server namespace and
// chains an iPXE script from a Go HTTP server there; the script's echo shows
// up on the serial console through SeaBIOS's sercon. Two machines boot at
// once.
func TestNetBIOSiPXE(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	lab.Require(t, "qemu-system-x86_64", "dnsmasq", lab.IPXEROMDir)
	n := lab.NewNet(t)
	if os.Getenv("LAB_NO_RA") == "" {
		n.Server.StartRA(t)
	}
	url := serveScript(t, n, "#!ipxe\necho lab-bios-ok mac=${net0/mac} ip=${net0/ip}\n")
	n.StartDnsmasq(t, "--dhcp-boot="+url)

	// Two machines at once, each with its own MAC, on the same bridge.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	macs := []net.HardwareAddr{{0x52, 0x54, 0x00, 0x77, 0x00, 0x01}, {0x52, 0x54, 0x00, 0x77, 0x00, 0x02}}
	vms := make([]*lab.VM, len(macs))
	for i, mac := range macs {
		vms[i] = lab.Boot(t, n.Machine(lab.Machine{Name: fmt.Sprintf("bios%d", i), NICs: []lab.NIC{{MAC: mac, BootIndex: 1}}}))
	}
	ips := map[string]bool{}
	for i, vm := range vms {
		m, err := vm.WaitForRegexp(ctx, regexp.MustCompile(`lab-bios-ok mac=(\S+) ip=(\S+)\r?\n`))
		require.NoError(t, err)
		t.Logf("%s: power-on to script echo: %v", vm.Name, time.Since(start).Round(time.Millisecond))
		require.Equal(t, macs[i].String(), m[1])
		require.Regexp(t, `^10\.77\.0\.1\d\d$`, m[2])
		ips[m[2]] = true
	}
	require.Len(t, ips, len(macs), "each machine got its own lease")
}

// TestNetUEFIPXE boots OVMF with a virtio-net NIC whose ROM is disabled, so
// OVMF's own (non-iPXE) PXE client does DHCP and fetches iPXE over TFTP from
// dnsmasq; iPXE then does DHCP again, is recognised by its user class, and
// chains the script from the Go HTTP server.
func TestNetUEFIPXE(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	nbp := filepath.Join(lab.IPXEDir, "snponly.efi")
	lab.Require(t, "qemu-system-x86_64", "dnsmasq", nbp, lab.OVMFCode)
	n := lab.NewNet(t)
	n.Server.StartRA(t)
	url := serveScript(t, n, "#!ipxe\necho lab-uefi-ok mac=${net0/mac}\n")
	tftp := t.TempDir()
	data, err := os.ReadFile(nbp)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(tftp, "snponly.efi"), data, 0o644))
	require.NoError(t, os.Chmod(tftp, 0o755))
	n.StartDnsmasq(t,
		"--enable-tftp", "--tftp-root="+tftp,
		"--dhcp-userclass=set:ipxe,iPXE",
		"--dhcp-boot=tag:!ipxe,snponly.efi",
		"--dhcp-boot=tag:ipxe,"+url)

	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, 0x02}
	start := time.Now()
	vm := lab.Boot(t, n.Machine(lab.Machine{Name: "uefi", Firmware: lab.UEFI,
		NICs: []lab.NIC{{MAC: mac, Model: "virtio-net-pci", ROM: lab.NoROM, BootIndex: 1}}}))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	_, err = vm.WaitFor(ctx, "lab-uefi-ok mac="+mac.String())
	if errors.Is(err, lab.ErrTimeout) && !strings.Contains(vm.Output(), "iPXE") {
		t.Log("iPXE never started: OVMF PXE stage failed")
	}
	require.NoError(t, err)
	t.Logf("power-on to script echo: %v", time.Since(start).Round(time.Millisecond))
}

// TestNetLinuxGuest boots the Debian kernel on the LAN (virtio-net, ROM
// off): /init loads virtio_net, gets a lease from dnsmasq with busybox
// udhcpc and fetches a page from the Go HTTP server in the server
// namespace, the path an iSCSI or COW guest takes to reach its target.
func TestNetLinuxGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	lab.Require(t, "qemu-system-x86_64", "dnsmasq")
	k := lab.Kernel(t)
	n := lab.NewNet(t)
	url := serveScript(t, n, "guest-fetch-ok\n")
	n.StartDnsmasq(t)
	rd := lab.NewInitramfs(`
udhcpc -i eth0 -f -q -n -t 20 -T 2 -s ` + lab.UdhcpcScriptPath + `
wget -O /tmp/page ` + url + ` 2>&1
echo "got: $(cat /tmp/page)"
`)
	require.NoError(t, rd.AddModules(k, "virtio_pci", "virtio_net"))
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, 0x10}
	start := time.Now()
	vm := lab.Boot(t, n.Machine(lab.Machine{Name: "linux", Kernel: k.Vmlinuz, Initrd: rd.Build(t),
		NICs: []lab.NIC{{MAC: mac, Model: "virtio-net-pci", ROM: lab.NoROM}}}))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	m, err := vm.WaitForLine(ctx, regexp.MustCompile(`got: (\S*)`))
	require.NoError(t, err)
	require.Equal(t, "guest-fetch-ok", m[1])
	require.Regexp(t, `lab: udhcpc eth0 10\.77\.0\.1\d\d`, vm.Output())
	t.Logf("power-on to fetched page: %v", time.Since(start).Round(time.Millisecond))
}

// TestNetPXEStandIn boots Debian's ipxe.lkrn as a stand-in for a BIOS PXE
// ROM: its DHCP carries user class PXEClient (not iPXE) and it chains what
// dnsmasq hands out.
func TestNetPXEStandIn(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	lab.Require(t, "qemu-system-x86_64", "dnsmasq", filepath.Join(lab.IPXEDir, "ipxe.lkrn"))
	n := lab.NewNet(t)
	n.Server.StartRA(t)
	url := serveScript(t, n, "#!ipxe\necho lab-standin-ok uc=${user-class}\n")
	d := n.StartDnsmasq(t, "--dhcp-boot="+url)
	m, err := lab.PXEStandIn(lab.Machine{Name: "standin",
		NICs: []lab.NIC{{MAC: net.HardwareAddr{0x52, 0x54, 0x00, 0x77, 0x00, 0x20}}}}, t.TempDir())
	require.NoError(t, err)
	start := time.Now()
	vm := lab.Boot(t, n.Machine(m))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	_, err = vm.WaitForRegexp(ctx, regexp.MustCompile(`lab-standin-ok uc=PXEClient\r?\n`))
	require.NoError(t, err)
	t.Logf("power-on to script echo: %v", time.Since(start).Round(time.Millisecond))
	require.Contains(t, d.Output(), "user class: PXEClient")
	require.NotContains(t, d.Output(), "user class: iPXE")
}
