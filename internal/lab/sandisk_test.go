package lab_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netbootkit/netboot/internal/lab"
)

// TestBootDiskLayout builds a disk from stand-in files and checks what BIOS
// and SYSLINUX need: the boot signature, the files in the root directory, and
// the configuration.
func TestBootDiskLayout(t *testing.T) {
	lab.RequireBootDiskTools(t)
	dir := t.TempDir()
	k, rd := dir+"/k", dir+"/rd"
	if err := os.WriteFile(k, []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rd, []byte("initrd"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := lab.BootDisk{Kernel: k, Initrd: rd, SizeMiB: 16, Append: "console=ttyS0 marker=1"}
	if err := (lab.BootDisk{Kernel: k, Initrd: rd, SizeMiB: 8}).WriteFile(context.Background(), dir+"/small.img"); err == nil {
		t.Error("an 8 MiB FAT16 disk was accepted")
	}
	p := d.Build(t)
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(img) != 16<<20 {
		t.Errorf("size %d, want 16 MiB", len(img))
	}
	if img[510] != 0x55 || img[511] != 0xaa {
		t.Errorf("no boot signature: % x", img[510:512])
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o444 {
		t.Errorf("mode %v, want read-only", st.Mode())
	}
	out, err := exec.Command("mtype", "-i", p, "::/syslinux.cfg").CombinedOutput()
	if err != nil {
		t.Fatalf("mtype: %v: %s", err, out)
	}
	if string(out) != d.SyslinuxConfig() || !strings.Contains(string(out), "APPEND console=ttyS0 marker=1\n") {
		t.Errorf("syslinux.cfg:\n%s", out)
	}
	out, err = exec.Command("mdir", "-a", "-i", p, "::/").CombinedOutput() // -a: ldlinux.sys is hidden
	if err != nil {
		t.Fatalf("mdir: %v: %s", err, out)
	}
	for _, f := range []string{"vmlinuz", "initrd   gz", "ldlinux  sys", "ldlinux  c32", "syslinux cfg"} {
		if !strings.Contains(strings.ToLower(string(out)), f) {
			t.Errorf("%q missing from the root directory:\n%s", f, out)
		}
	}
	if !strings.Contains(lab.BootDisk{}.SyslinuxConfig(), "APPEND "+lab.DefaultAppend+" edd=off\n") {
		t.Error("default APPEND")
	}
}

// TestBootDiskBoots boots a BootDisk as a local IDE disk in QEMU (SeaBIOS →
// SYSLINUX → Debian kernel → initramfs marker): the same path iPXE's sanboot
// takes with the disk on iSCSI.
func TestBootDiskBoots(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	lab.Require(t, "qemu-system-x86_64")
	k := lab.Kernel(t)
	rd := lab.NewInitramfs(`echo "BOOTDISK-OK $(cat /proc/cmdline)"`)
	disk := lab.BootDisk{Kernel: k.Vmlinuz, Initrd: rd.Build(t)}.Build(t)
	vm := lab.Boot(t, lab.Machine{Name: "bootdisk", Disks: []lab.Disk{{Path: disk, Interface: "ide", Snapshot: true}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m, err := vm.WaitForLine(ctx, regexp.MustCompile(`^BOOTDISK-OK .*`))
	if err != nil {
		t.Fatalf("%v; serial console:\n%s", err, vm.Output())
	}
	line := m[0]
	t.Logf("power-on to marker: %s", line)
	if !strings.Contains(line, "edd=off") {
		t.Errorf("booted with another command line: %q", line)
	}
}

// TestBootDiskBootsUEFI boots the same kind of disk, made with UEFI set,
// under OVMF (UEFI → systemd-boot from \EFI\BOOT\BOOTX64.EFI → Debian
// kernel → initramfs marker) and under SeaBIOS: one image, both firmwares.
func TestBootDiskBootsUEFI(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	lab.Require(t, "qemu-system-x86_64", lab.SystemdBootEFI, "mmd")
	k := lab.Kernel(t)
	rd := lab.NewInitramfs(`echo "BOOTDISK-OK $(cat /proc/cmdline)"`)
	disk := lab.BootDisk{Kernel: k.Vmlinuz, Initrd: rd.Build(t), UEFI: true, Append: lab.DefaultAppend + " uefi-disk=1"}.Build(t)
	for _, fw := range []lab.Firmware{lab.UEFI, lab.BIOS} {
		vm := lab.Boot(t, lab.Machine{Name: "bootdisk-hybrid", Firmware: fw, MemoryMB: 512,
			Disks: []lab.Disk{{Path: disk, Interface: "ide", Snapshot: true}}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		m, err := vm.WaitForLine(ctx, regexp.MustCompile(`^BOOTDISK-OK .*`))
		cancel()
		if err != nil {
			t.Fatalf("firmware %v: %v; serial console:\n%s", fw, err, vm.Output())
		}
		if !strings.Contains(m[0], "uefi-disk=1") {
			t.Errorf("firmware %v booted with another command line: %q", fw, m[0])
		}
		if fw == lab.UEFI && !strings.Contains(vm.Output(), "EFI stub") {
			t.Errorf("UEFI boot did not go through the kernel's EFI stub:\n%s", vm.Output())
		}
		vm.Stop()
	}
}
