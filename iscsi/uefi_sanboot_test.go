package iscsi

// UEFI SAN boot end to end (ANCHORS pain point 20: "UEFI sanboot picks the
// wrong loader or hangs unless --filename is set"): OVMF PXE-boots Debian's
// snponly.efi from dnsmasq on a namespace LAN; iPXE runs
// `sanboot --filename \EFI\BOOT\BOOTX64.EFI` against this package's target
// with mutual CHAP; the disk is an MBR disk whose EFI system partition holds
// systemd-boot, a Debian kernel and an initramfs. The kernel finds the iBFT
// iPXE installed through the firmware's ACPI protocol, logs in again from it
// with iscsistart, mounts the same partition over its own iSCSI session,
// reads a token written at build time and writes a file, which the test then
// finds in the image on the host.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
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

// uefiGuestInit is the initramfs /init body: find the disk the way a
// diskless system does (iBFT → iscsistart), check the token, write a file.
const uefiGuestInit = `
mac=$(cat /sys/firmware/ibft/ethernet0/mac 2>/dev/null)
echo "UEFI-IBFT mac=$mac target=$(cat /sys/firmware/ibft/target0/target-name 2>/dev/null) initiator=$(cat /sys/firmware/ibft/initiator/initiator-name 2>/dev/null)"
mkdir -p /etc/iscsi /var/lock /run/lock /mnt
iscsistart -N || echo "UEFI-ERROR iscsistart -N failed"
iscsistart -b || echo "UEFI-ERROR iscsistart -b failed"
i=0
while [ ! -b /dev/sda1 ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done
if mount -t vfat /dev/sda1 /mnt; then
	echo "from the booted kernel" > /mnt/WRITTEN.TXT
	sync
	echo "UEFI-DISK token=$(cat /mnt/TOKEN.TXT)"
	umount /mnt
	sync
else
	echo "UEFI-ERROR mount /dev/sda1 failed"
fi
`

// espOffset is where the EFI system partition starts (1 MiB, as partitioning
// tools align it).
const espOffset = 1 << 20

// buildUEFIDisk writes an MBR disk with one EFI system partition (type 0xEF)
// holding systemd-boot as \EFI\BOOT\BOOTX64.EFI, a loader entry, the kernel,
// the initramfs and TOKEN.TXT. Host tools only (mkfs.vfat, mcopy), no loop
// devices.
func buildUEFIDisk(t *testing.T, vmlinuz, initrd, token string) string {
	t.Helper()
	dir := t.TempDir()
	part := filepath.Join(dir, "esp.img")
	const espSectors = 96 << 20 / 512
	files := map[string]string{
		"loader.conf": "default netboot.conf\ntimeout 0\nconsole-mode keep\n",
		"entry.conf":  "title netboot UEFI SAN boot\nlinux /vmlinuz\ninitrd /initrd.img\noptions " + lab.DefaultAppend + "\n",
		"token.txt":   token + "\n",
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	for _, c := range [][]string{
		{"mkfs.vfat", "-F", "32", "-n", "NETBOOTESP", "-C", part, fmt.Sprint(espSectors / 2)},
		{"mmd", "-i", part, "::/EFI", "::/EFI/BOOT", "::/loader", "::/loader/entries"},
		{"mcopy", "-i", part, lab.SystemdBootEFI, "::/EFI/BOOT/BOOTX64.EFI"},
		{"mcopy", "-i", part, filepath.Join(dir, "loader.conf"), "::/loader/loader.conf"},
		{"mcopy", "-i", part, filepath.Join(dir, "entry.conf"), "::/loader/entries/netboot.conf"},
		{"mcopy", "-i", part, filepath.Join(dir, "token.txt"), "::/TOKEN.TXT"},
		{"mcopy", "-i", part, vmlinuz, "::/vmlinuz"},
		{"mcopy", "-i", part, initrd, "::/initrd.img"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, c[0], c[1:]...).CombinedOutput()
		cancel()
		require.NoError(t, err, "%v: %s", c, out)
	}
	esp, err := os.ReadFile(part)
	require.NoError(t, err)
	require.Len(t, esp, espSectors*512)

	mbr := make([]byte, 512)
	e := mbr[446:462] // first partition entry
	e[0] = 0x00       // not active: UEFI ignores the flag
	copy(e[1:4], []byte{0xFE, 0xFF, 0xFF})
	e[4] = 0xEF // EFI system partition
	copy(e[5:8], []byte{0xFE, 0xFF, 0xFF})
	binary.LittleEndian.PutUint32(e[8:], espOffset/512)
	binary.LittleEndian.PutUint32(e[12:], espSectors)
	binary.LittleEndian.PutUint32(mbr[440:], 0x4e42_5553) // disk signature
	mbr[510], mbr[511] = 0x55, 0xAA

	img := filepath.Join(dir, "disk.img")
	f, err := os.Create(img)
	require.NoError(t, err)
	_, err = f.Write(mbr)
	require.NoError(t, err)
	_, err = f.WriteAt(esp, espOffset)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return img
}

func TestIPXEUEFISanboot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	nbp := filepath.Join(lab.IPXEDir, "snponly.efi")
	lab.Require(t, "qemu-system-x86_64", "dnsmasq", "mkfs.vfat", "mcopy", "mmd", nbp, lab.OVMFCode, lab.SystemdBootEFI)
	iscsistart := lab.ISCSIStartPath()
	if iscsistart == "" {
		t.Skip("iscsistart not installed (Debian package open-iscsi)")
	}
	const (
		iqn       = "iqn.2026-11.org.netboot:uefi-disk"
		initiator = "iqn.2026-11.org.netboot:uefi-client"
	)
	k := lab.Kernel(t)
	rd := lab.NewInitramfs(uefiGuestInit)
	require.NoError(t, rd.AddModules(k, "virtio_pci", "virtio_net", "iscsi_ibft", "iscsi_tcp", "sd_mod",
		"crc32c_generic", "vfat", "nls_cp437", "nls_ascii", "nls_utf8"))
	_, err := rd.AddBinary(iscsistart)
	require.NoError(t, err)
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	img := buildUEFIDisk(t, k.Vmlinuz, rd.Build(t), token)

	n := lab.NewNet(t)
	n.Server.StartRA(t)
	dev, err := OpenFile(img, false)
	require.NoError(t, err)
	defer dev.Close()
	var mu sync.Mutex
	var logins []LoginEvent
	srv := &Server{
		Targets: []*Target{{Name: iqn, LUNs: []LUN{{Device: dev}}, Initiators: []string{initiator},
			CHAP: &CHAP{User: "uefiuser", Secret: "uefisecret1234", MutualUser: "tgt", MutualSecret: "targetsecret56"}}},
		OnLogin: func(e LoginEvent) {
			mu.Lock()
			logins = append(logins, e)
			mu.Unlock()
		},
	}
	il, err := n.Server.Listen("tcp4", n.Server.IP().String()+":3260")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(il) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})

	script := strings.Join([]string{
		"#!ipxe",
		"set initiator-iqn " + initiator,
		"set username uefiuser",
		"set password uefisecret1234",
		"set reverse-username tgt",
		"set reverse-password targetsecret56",
		`sanboot --filename \EFI\BOOT\BOOTX64.EFI iscsi:` + n.Server.IP().String() + "::3260:0:" + iqn + " || goto failed",
		":failed",
		"echo sanboot-failed",
		"poweroff",
	}, "\n") + "\n"
	hl, err := n.Server.Listen("tcp4", n.Server.IP().String()+":8080")
	require.NoError(t, err)
	hs := &http.Server{ReadHeaderTimeout: 30 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(script))
	})}
	go func() { _ = hs.Serve(hl) }()
	t.Cleanup(func() { hs.Close() })

	tftp := t.TempDir()
	data, err := os.ReadFile(nbp)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(tftp, "snponly.efi"), data, 0o644))
	require.NoError(t, os.Chmod(tftp, 0o755))
	n.StartDnsmasq(t, "--enable-tftp", "--tftp-root="+tftp,
		"--dhcp-userclass=set:ipxe,iPXE",
		"--dhcp-boot=tag:!ipxe,snponly.efi",
		"--dhcp-boot=tag:ipxe,http://"+hl.Addr().String()+"/boot.ipxe")

	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x5a, 0x1e, 0xf1}
	start := time.Now()
	vm := lab.Boot(t, n.Machine(lab.Machine{Name: "uefi-sanboot", Firmware: lab.UEFI, MemoryMB: 512,
		NICs: []lab.NIC{{MAC: mac, Model: "virtio-net-pci", ROM: lab.NoROM, BootIndex: 1}}}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	m, err := vm.WaitForRegexp(ctx, regexp.MustCompile(`UEFI-IBFT mac=(\S*) target=(\S*) initiator=(\S*)\r?\n|sanboot-failed`))
	require.NoError(t, err, "serial:\n%s", vm.Output())
	require.NotEqual(t, "sanboot-failed", m[0], "iPXE sanboot failed:\n%s", vm.Output())
	t.Logf("UEFI power-on to the SAN-booted kernel's initramfs: %v", time.Since(start).Round(time.Millisecond))
	assert.Equal(t, mac.String(), m[1], "iBFT NIC is the boot NIC")
	assert.Equal(t, iqn, m[2], "iBFT target")
	assert.Equal(t, initiator, m[3], "iBFT initiator")

	m, err = vm.WaitForRegexp(ctx, regexp.MustCompile(`(UEFI-DISK token=\S*|UEFI-ERROR [^\r\n]*)\r?\n`))
	require.NoError(t, err, "serial:\n%s", vm.Output())
	require.Equal(t, "UEFI-DISK token="+token, m[1], "serial:\n%s", vm.Output())
	_, err = vm.WaitFor(ctx, "lab: poweroff")
	require.NoError(t, err)
	vm.Stop()

	// The kernel's write reached the image through our target.
	out, err := exec.Command("mtype", "-i", fmt.Sprintf("%s@@%d", img, espOffset), "::/WRITTEN.TXT").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "from the booted kernel\n", string(out))

	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(logins), 2, "iPXE's login and the kernel's")
	for _, l := range logins {
		assert.NoError(t, l.Err)
		assert.Equal(t, initiator, l.InitiatorName)
	}
}
