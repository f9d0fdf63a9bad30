package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
)

// mainEnv makes the test binary act as the sanboot command, so the end-to-end
// test runs the real main (flags, logging) inside a lab namespace.
const mainEnv = "NETBOOT_SANBOOT_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// guestInit is the base image's /init body. It finds its disk the way a diskless
// system does: the iBFT iPXE left in memory names the NIC, the target and the
// CHAP credentials; iscsistart -N brings the NIC up with the iBFT's address and
// iscsistart -b logs in. Then it mounts the disk (the FAT file system holding this
// very kernel and initramfs). On the first boot it writes a file named after its
// MAC, unmounts and reboots (QEMU resets the machine: SeaBIOS, iPXE, DHCP and
// sanboot run again); on the next boot it reports what it finds, and the lab's
// epilogue syncs and powers off.
const guestInit = `
mac=$(cat /sys/firmware/ibft/ethernet0/mac 2>/dev/null)
echo "SANBOOT-IBFT mac=$mac target=$(cat /sys/firmware/ibft/target0/target-name 2>/dev/null)"
mkdir -p /etc/iscsi /var/lock /run/lock /mnt
iscsistart -N || echo "SANBOOT-ERROR iscsistart -N failed"
iscsistart -b || echo "SANBOOT-ERROR iscsistart -b failed"
i=0
while [ ! -b /dev/sda ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done
name=$(echo "$mac" | tr ':' '-').txt
if ! mount -t vfat /dev/sda /mnt; then
	echo "SANBOOT-ERROR mount failed"
elif [ -f "/mnt/$name" ]; then
	echo "SANBOOT-SECOND mac=$mac own=$(cat "/mnt/$name") files=$(ls /mnt | grep '\.txt$' | tr '\n' ',')"
else
	echo "written by $mac" > "/mnt/$name"
	sync
	echo "SANBOOT-FIRST mac=$mac files=$(ls /mnt | grep '\.txt$' | tr '\n' ',')"
	umount /mnt
	sync
	echo "SANBOOT-REBOOT"
	reboot -f
fi
umount /mnt 2>/dev/null
`

// buildBase makes the shared base image: a lab.BootDisk (64 MiB, one FAT16 file
// system with SYSLINUX in its boot sector) holding a Debian kernel and the
// initramfs above, with iscsistart and the modules an iBFT boot needs.
func buildBase(t *testing.T) string {
	t.Helper()
	lab.RequireBootDiskTools(t)
	if lab.ISCSIStartPath() == "" {
		t.Skip("iscsistart not installed (Debian package open-iscsi)")
	}
	k := lab.Kernel(t)
	rd := lab.NewInitramfs(guestInit)
	require.NoError(t, rd.AddISCSIBoot(k))
	// virtio-net: the UEFI machine's NIC (OVMF drives only virtio-net itself).
	require.NoError(t, rd.AddModules(k, "virtio_pci", "virtio_net"))
	lab.Require(t, lab.SystemdBootEFI, "mmd")
	// One image for both firmwares: SYSLINUX in the boot sector for BIOS,
	// systemd-boot at \EFI\BOOT\BOOTX64.EFI for UEFI.
	return lab.BootDisk{Kernel: k.Vmlinuz, Initrd: rd.Build(t), Label: "SANBOOT", UEFI: true}.Build(t)
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

// startSanboot runs the sanboot command in host h's namespace.
func startSanboot(t *testing.T, h *lab.Host, args ...string) *lab.Process {
	t.Helper()
	return h.StartMain(t, mainEnv, "msg=serving", append([]string{"-iface", h.Iface, "-addr", h.IP().String()}, args...)...)
}

// bootRound boots every machine at once (BIOS, e1000 with QEMU's iPXE ROM) and
// returns the marker lines each one printed: the first boot's, then (after the
// guest's own reboot) the second boot's.
// uefiMAC marks the fleet machine that boots with UEFI firmware (OVMF's own
// PXE on virtio-net → ipxe.efi → sanboot --filename → systemd-boot); the
// others are BIOS machines with the e1000 iPXE ROM.
var uefiMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x5b, 0x00, 0x03}

func bootRound(t *testing.T, n *lab.Net, round string, macs []net.HardwareAddr) [][2]string {
	t.Helper()
	first := regexp.MustCompile(`^SANBOOT-(FIRST|SECOND|ERROR).*`)
	second := regexp.MustCompile(`^SANBOOT-(SECOND|ERROR).*`)
	got := make([][2]string, len(macs))
	var wg sync.WaitGroup
	errs := make([]error, len(macs))
	vms := make([]*lab.VM, len(macs))
	start := time.Now()
	for i, mac := range macs {
		fw, nic := lab.BIOS, lab.NIC{MAC: mac, BootIndex: 1}
		if mac.String() == uefiMAC.String() {
			fw, nic = lab.UEFI, lab.NIC{MAC: mac, Model: "virtio-net-pci", ROM: lab.NoROM, BootIndex: 1}
		}
		vms[i] = lab.Boot(t, n.Machine(lab.Machine{
			Name: fmt.Sprintf("%s-%d", round, i), MemoryMB: 512, Firmware: fw,
			NICs: []lab.NIC{nic},
			// The lab runs QEMU with -no-reboot; this later option makes a
			// guest reboot reset the machine again (poweroff still ends QEMU).
			Args: []string{"-action", "reboot=reset"},
		}))
	}
	for i := range macs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
			defer cancel()
			for j, re := range []*regexp.Regexp{first, second} {
				m, err := vms[i].WaitForLine(ctx, re)
				if err != nil {
					errs[i] = err
					return
				}
				got[i][j] = strings.TrimSpace(m[0])
			}
			// Let the guest finish (sync, poweroff) before the next round reuses its disk.
			_ = vms[i].Wait(ctx)
		}()
	}
	wg.Wait()
	for i := range macs {
		require.NoError(t, errs[i], "%s: %s never printed its SANBOOT markers; serial console:\n%s", round, macs[i], lab.Tail(vms[i].Output(), 80))
		require.True(t, strings.HasPrefix(got[i][0], "SANBOOT-FIRST") && strings.HasPrefix(got[i][1], "SANBOOT-SECOND"),
			"%s: %s printed %q; serial console:\n%s", round, macs[i], got[i], lab.Tail(vms[i].Output(), 80))
	}
	for i, mac := range macs {
		if mac.String() == uefiMAC.String() {
			// iPXE started the named EFI loader from the SAN disk, and the
			// kernel came up through its EFI stub.
			assert.Contains(t, vms[i].Output(), `Booting \EFI\BOOT\BOOTX64.EFI from SAN device`, "%s: %s", round, mac)
			assert.Contains(t, vms[i].Output(), "EFI stub", "%s: %s", round, mac)
		}
	}
	t.Logf("%s: %d machines power-on to second boot's marker in %v", round, len(macs), time.Since(start).Round(100*time.Millisecond))
	return got
}

// TestFleetBoot is the end-to-end test: three machines, two BIOS and one
// UEFI, boot one base image over iSCSI at once (DHCP → iPXE → per-MAC script →
// sanboot with CHAP → SYSLINUX, or on UEFI systemd-boot, from the iSCSI disk → Debian kernel → iscsistart from the iBFT
// → mount), each writes a file naming its MAC into its own overlay and reboots
// (the whole chain again, in the same QEMU), then sees its own file and no one
// else's. The base stays byte-identical. Then `reset` of one machine gives it
// the base again.
func TestFleetBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU machines")
	}
	lab.RequireRoot(t)
	lab.Require(t, "qemu-system-x86_64", lab.IPXEROMDir)
	base := buildBase(t)
	sum := sha256File(t, base)
	overlays := t.TempDir()

	n := lab.NewNet(t)
	n.Server.StartRA(t)
	b := n.Subnet.Addr().As4()
	args := []string{"-dhcp", "lab", "-range", fmt.Sprintf("%d.%d.%d.100-%d.%d.%d.150", b[0], b[1], b[2], b[0], b[1], b[2]),
		"-base", base, "-overlays", overlays, "-chap", "fleet:twelvebytes+"}
	p := startSanboot(t, n.Server, args...)

	macs := []net.HardwareAddr{
		{0x52, 0x54, 0x00, 0x5b, 0x00, 0x01},
		{0x52, 0x54, 0x00, 0x5b, 0x00, 0x02},
		uefiMAC,
	}
	got := bootRound(t, n, "fleet", macs)
	for i, mac := range macs {
		// A fresh overlay: the machine sees only the file it has just written;
		// after its reboot it finds that file again, and still no other.
		assert.Equal(t, fmt.Sprintf("SANBOOT-FIRST mac=%s files=%s.txt,", mac, macName(mac)), got[i][0])
		assert.Equal(t, fmt.Sprintf("SANBOOT-SECOND mac=%s own=written by %s files=%s.txt,", mac, mac, macName(mac)), got[i][1])
	}
	out := p.Output()
	for _, mac := range macs {
		assert.Contains(t, out, fmt.Sprintf(`msg=overlay mac=%s file=%s created=true`, mac, filepath.Join(overlays, macName(mac)+".cow")))
		assert.Contains(t, out, fmt.Sprintf(`msg="iscsi login" initiator=%s target=%s`, initiatorName(mac), targetName(mac)))
	}
	assert.Equal(t, sum, sha256File(t, base), "the base image is never written")
	for _, mac := range macs {
		if st, err := os.Stat(filepath.Join(overlays, macName(mac)+".cow")); assert.NoError(t, err) {
			t.Logf("overlay of %s after two boots each: %d KiB (base %d MiB)", mac, st.Size()>>10, 64)
		}
	}

	// reset is refused while the server holds the overlays, then works.
	var so, se strings.Builder
	assert.Equal(t, 1, run([]string{"-base", base, "-overlays", overlays, "reset", macs[0].String()}, &so, &se))
	assert.Contains(t, se.String(), "stop the server first")
	p.Stop()
	se.Reset()
	require.Equal(t, 0, run([]string{"-base", base, "-overlays", overlays, "reset", macs[0].String()}, &so, &se), se.String())

	startSanboot(t, n.Server, args...)
	again := bootRound(t, n, "after-reset", macs[:1])
	assert.Equal(t, fmt.Sprintf("SANBOOT-FIRST mac=%s files=%s.txt,", macs[0], macName(macs[0])), again[0][0], "reset: the base again")
	assert.Equal(t, sum, sha256File(t, base))
}
