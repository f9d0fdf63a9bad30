package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
	"github.com/netbootkit/netboot/ipxescript"
)

// mainEnv makes the test binary act as the minimal command, so the end-to-end tests
// run the real main (flags, defaults, logging) inside a lab namespace without a
// separate go build.
const mainEnv = "NETBOOT_MINIMAL_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// guest is a machine of an end-to-end test: its MAC, firmware and the kernel command
// line word its per-MAC script gives it.
type guest struct {
	name string
	mac  net.HardwareAddr
	fw   lab.Firmware
	word string // passed as netboot.who=<word>; the initramfs prints it
}

// initScript is /init's body: it prints the marker the test waits for, with what the
// kernel command line says, then the lab's epilogue powers the machine off.
const initScript = `
who=$(sed -n 's/.*netboot\.who=\([^ ]*\).*/\1/p' /proc/cmdline)
mac=$(sed -n 's/.*netboot\.mac=\([^ ]*\).*/\1/p' /proc/cmdline)
echo "NETBOOT-MARKER who=$who mac=$mac"
`

// bootDir writes the -dir of a test: a kernel, an initramfs, and one script per guest
// built with ipxescript (which adds initrd=<name> for UEFI kernels on its own).
func bootDir(t *testing.T, serverURL string, guests []guest) string {
	t.Helper()
	k := lab.Kernel(t)
	dir := t.TempDir()
	kernel, err := os.ReadFile(k.Vmlinuz)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vmlinuz"), kernel, 0o644))
	initrd := lab.NewInitramfs(initScript).Build(t)
	data, err := os.ReadFile(initrd)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "initrd.gz"), data, 0o644))

	for _, g := range guests {
		s := ipxescript.New().
			Echo("netboot e2e: booting " + g.word).
			LinuxBoot(ipxescript.Linux{
				Kernel:  serverURL + "/vmlinuz",
				Initrds: []string{serverURL + "/initrd.gz"},
				Args:    append(strings.Fields(lab.DefaultAppend), "netboot.who="+g.word),
			})
		// The MAC comes from iPXE at run time, not from the file name: it proves the
		// machine that ran the script is the one the file is named for. (The builder
		// refuses "$" in literal arguments, so the expansion is added to its text.)
		text := strings.Replace(s.String(), "netboot.who="+g.word, "netboot.who="+g.word+" netboot.mac=${net0/mac}", 1)
		_, err := ipxescript.ParseString(text)
		require.NoError(t, err, "generated script must parse:\n%s", text)
		require.NoError(t, os.WriteFile(filepath.Join(dir, g.mac.String()+".ipxe"), []byte(text), 0o644))
	}
	require.NoError(t, os.Chmod(dir, 0o755))
	return dir
}

// startMinimal runs the minimal command in host h's namespace.
func startMinimal(t *testing.T, h *lab.Host, args ...string) *lab.Process {
	t.Helper()
	return h.StartMain(t, mainEnv, "msg=serving", append([]string{"-iface", h.Iface, "-addr", h.IP().String()}, args...)...)
}

// bootAll starts every guest at once and waits for each one's marker.
func bootAll(t *testing.T, n *lab.Net, guests []guest) {
	t.Helper()
	start := time.Now()
	vms := make([]*lab.VM, len(guests))
	for i, g := range guests {
		nic := lab.NIC{MAC: g.mac, BootIndex: 1} // BIOS: e1000 with QEMU's iPXE ROM
		if g.fw == lab.UEFI {
			// OVMF's own PXE client: a genuine non-iPXE firmware on virtio-net.
			nic = lab.NIC{MAC: g.mac, Model: "virtio-net-pci", ROM: lab.NoROM, BootIndex: 1}
		}
		vms[i] = lab.Boot(t, n.Machine(lab.Machine{Name: g.name, Firmware: g.fw, NICs: []lab.NIC{nic}}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	for i, g := range guests {
		want := fmt.Sprintf("NETBOOT-MARKER who=%s mac=%s", g.word, g.mac)
		_, err := vms[i].WaitFor(ctx, want)
		require.NoError(t, err, "%s never printed %q; serial console:\n%s", g.name, want, lab.Tail(vms[i].Output(), 60))
		t.Logf("%s (%s): power-on to marker %v", g.name, g.fw, time.Since(start).Round(100*time.Millisecond))
	}
}

func requireLab(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots QEMU machines")
	}
	lab.RequireRoot(t)
	lab.Require(t, "qemu-system-x86_64", lab.IPXEROMDir, lab.OVMFCode, "/usr/lib/ipxe/ipxe.efi")
}

// TestBootLabMode is the whole chain with our DHCP server handing out addresses:
// a UEFI machine (OVMF PXE → DHCP → TFTP ipxe.efi → iPXE DHCP → HTTP script → kernel +
// initrd) and a BIOS machine (NIC iPXE ROM → DHCP → script → kernel + initrd) boot at
// once, each into the command line its own per-MAC script gives it.
func TestBootLabMode(t *testing.T) {
	requireLab(t)
	n := lab.NewNet(t)
	n.Server.StartRA(t) // spares iPXE its wait for an IPv6 router
	guests := []guest{
		{name: "uefi", mac: net.HardwareAddr{0x52, 0x54, 0x00, 0x6e, 0x62, 0x01}, fw: lab.UEFI, word: "alpha"},
		{name: "bios", mac: net.HardwareAddr{0x52, 0x54, 0x00, 0x6e, 0x62, 0x02}, fw: lab.BIOS, word: "beta"},
	}
	base := n.Subnet.Addr().As4()
	dir := bootDir(t, "http://"+n.Server.IP().String(), guests)
	p := startMinimal(t, n.Server, "-dhcp", "lab", "-dir", dir,
		"-range", fmt.Sprintf("%d.%d.%d.100-%d.%d.%d.150", base[0], base[1], base[2], base[0], base[1], base[2]))
	bootAll(t, n, guests)

	// Every stage left its line in the server's log.
	out := p.Output()
	for _, want := range []string{
		`msg=dhcp mac=52:54:00:6e:62:01 stage=`, // OVMF, then iPXE
		`file=ipxe.efi`,                         // the NBP decision for x64 UEFI
		`msg="tftp: sent"`,                      // ipxe.efi over TFTP
		`"ipxescript: script from file" mac=52:54:00:6e:62:01 file=52:54:00:6e:62:01.ipxe`, // per-MAC scripts
		`"ipxescript: script from file" mac=52:54:00:6e:62:02 file=52:54:00:6e:62:02.ipxe`,
		`path=/vmlinuz status=200`, `path=/initrd.gz status=200`,
	} {
		require.Contains(t, out, want, "server log lacks %q", want)
	}
	_, err := os.Stat(filepath.Join(dir, "leases"))
	require.NoError(t, err, "lab mode keeps its leases in DIR/leases")
}

// TestBootProxyMode runs the server as proxyDHCP beside dnsmasq, which owns the
// addresses and knows nothing of network boot; a BIOS iPXE machine still boots its
// per-MAC script, the boot file coming from our proxy offer.
func TestBootProxyMode(t *testing.T) {
	requireLab(t)
	lab.Require(t, "dnsmasq")
	n := lab.NewNet(t)
	n.Server.StartRA(t)
	dhcp := n.AddHost("dhcp")
	base := n.Subnet.Addr().As4()
	dhcp.Start(t, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
		"--interface="+dhcp.Iface, "--bind-interfaces",
		fmt.Sprintf("--dhcp-range=%d.%d.%d.100,%d.%d.%d.150,255.255.255.0,1h", base[0], base[1], base[2], base[0], base[1], base[2]),
		"--dhcp-authoritative", "--no-ping", "--leasefile-ro", "--pid-file=", "--log-dhcp", "--log-facility=-", "--user=root")

	guests := []guest{{name: "proxied", mac: net.HardwareAddr{0x52, 0x54, 0x00, 0x6e, 0x62, 0x03}, fw: lab.BIOS, word: "gamma"}}
	dir := bootDir(t, "http://"+n.Server.IP().String(), guests)
	p := startMinimal(t, n.Server, "-dhcp", "proxy", "-dir", dir)
	bootAll(t, n, guests)
	require.Contains(t, p.Output(), "file=52:54:00:6e:62:03.ipxe")
}
