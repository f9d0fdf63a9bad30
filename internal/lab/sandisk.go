package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// ISCSIBootModules returns the kernel modules a guest needs to find its disk
// over iSCSI from the iBFT that iPXE's sanboot leaves in memory, and to mount
// a BootDisk: the e1000 NIC, iscsi_ibft (the /sys/firmware/ibft view),
// iscsi_tcp, sd_mod, crc32c_generic (without a crc32c implementation
// iscsi_tcp's connection setup fails with ENOMEM), and vfat with its code
// pages.
func ISCSIBootModules() []string {
	return []string{"e1000", "iscsi_ibft", "iscsi_tcp", "sd_mod", "crc32c_generic", "vfat", "nls_cp437", "nls_ascii", "nls_utf8"}
}

// ISCSIStartPath returns the host path of open-iscsi's iscsistart, or "".
func ISCSIStartPath() string {
	p, err := lookTool("iscsistart")
	if err != nil {
		return ""
	}
	return p
}

// AddISCSIBoot adds open-iscsi's iscsistart (with its libraries) and the
// ISCSIBootModules of k, so that /init can run `iscsistart -N` (bring the NIC
// up with the iBFT's address) and `iscsistart -b` (log in to the iBFT's
// target) and mount the disk as /dev/sda. It returns an error when iscsistart
// is missing (Debian package open-iscsi) or a module is unknown.
func (r *Initramfs) AddISCSIBoot(k *KernelImage) error {
	p := ISCSIStartPath()
	if p == "" {
		return fmt.Errorf("lab: iscsistart not installed (Debian package open-iscsi)")
	}
	if err := r.AddModules(k, ISCSIBootModules()...); err != nil {
		return err
	}
	_, err := r.AddBinary(p)
	return err
}

// BootDisk is a BIOS-bootable (and with UEFI set, UEFI-bootable) raw disk image holding a Linux kernel and
// initramfs: one FAT16 file system without a partition table, SYSLINUX in its
// boot sector, and a syslinux.cfg that boots vmlinuz and initrd.gz with the
// console on the first serial port. BIOS runs the boot sector at LBA 0, and so
// does iPXE's sanboot for an iSCSI disk, so the same image boots as a local
// disk and as a SAN disk. It is made with host tools only (mkfs.vfat,
// syslinux --install, mcopy), without loop devices or root.
//
// A BIOS iSCSI disk must be at least one 255×63 cylinder (7.8 MiB): iPXE's
// INT 13h emulation cannot read the boot sector of a smaller one.
type BootDisk struct {
	// Kernel and Initrd are host paths of the bzImage and the initramfs.
	Kernel, Initrd string
	// Append is the kernel command line; empty means DefaultAppend plus
	// edd=off (the EDD probe of a SAN disk only costs time).
	Append string
	// SizeMiB is the disk size; 0 means 64. At least 16 (FAT16).
	SizeMiB int
	// Label is the file system label; empty means "NETBOOT".
	Label string
	// UEFI also makes the disk bootable by UEFI firmware: systemd-boot
	// (Debian package systemd-boot-efi) as the removable-media loader
	// \EFI\BOOT\BOOTX64.EFI with a loader entry for the same kernel,
	// initramfs and command line. UEFI reads a FAT file system that fills
	// the whole disk as readily as a partition, so one image boots both
	// ways, locally and through iPXE's sanboot (give UEFI machines
	// `sanboot --filename \EFI\BOOT\BOOTX64.EFI`).
	UEFI bool
}

// SystemdBootEFI is where Debian's systemd-boot-efi puts the loader.
const SystemdBootEFI = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// LoaderEntry is the systemd-boot entry of a UEFI disk.
func (d BootDisk) LoaderEntry() string {
	return "title netboot lab disk\nlinux /vmlinuz\ninitrd /initrd.gz\noptions " + d.appendLine() + "\n"
}

func (d BootDisk) appendLine() string {
	if d.Append == "" {
		return DefaultAppend + " edd=off"
	}
	return d.Append
}

// bootDiskTools are the host commands Build runs, with their Debian packages.
var bootDiskTools = [][2]string{{"mkfs.vfat", "dosfstools"}, {"mcopy", "mtools"}, {"syslinux", "syslinux"}}

// RequireBootDiskTools skips the test unless the tools BootDisk.Build runs
// are installed, naming the Debian packages.
func RequireBootDiskTools(t testing.TB) {
	t.Helper()
	for _, tool := range bootDiskTools {
		if _, err := lookTool(tool[0]); err != nil {
			t.Skipf("lab: %s not installed (Debian package %s)", tool[0], tool[1])
		}
	}
}

// SyslinuxConfig is the syslinux.cfg of the disk.
func (d BootDisk) SyslinuxConfig() string {
	return "SERIAL 0 115200\nDEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  INITRD initrd.gz\n  APPEND " + d.appendLine() + "\n"
}

// WriteFile builds the disk image at path (which must not exist).
func (d BootDisk) WriteFile(ctx context.Context, path string) error {
	size := d.SizeMiB
	if size == 0 {
		size = 64
	}
	if size < 16 {
		return fmt.Errorf("lab: BootDisk of %d MiB: FAT16 needs at least 16", size)
	}
	label := d.Label
	if label == "" {
		label = "NETBOOT"
	}
	if d.Kernel == "" || d.Initrd == "" {
		return fmt.Errorf("lab: BootDisk needs Kernel and Initrd")
	}
	cfg := path + ".syslinux.cfg"
	if err := os.WriteFile(cfg, []byte(d.SyslinuxConfig()), 0o644); err != nil {
		return err
	}
	defer os.Remove(cfg)
	steps := [][]string{
		{"mkfs.vfat", "-F", "16", "-n", label, "-C", path, strconv.Itoa(size * 1024)},
		{"syslinux", "--install", path},
		{"mcopy", "-i", path, d.Kernel, "::/vmlinuz"},
		{"mcopy", "-i", path, d.Initrd, "::/initrd.gz"},
		{"mcopy", "-i", path, cfg, "::/syslinux.cfg"},
	}
	if d.UEFI {
		if _, err := os.Stat(SystemdBootEFI); err != nil {
			return fmt.Errorf("lab: UEFI BootDisk: %w (Debian package systemd-boot-efi)", err)
		}
		loader, entry := path+".loader.conf", path+".entry.conf"
		if err := os.WriteFile(loader, []byte("default netboot.conf\ntimeout 0\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(loader)
		if err := os.WriteFile(entry, []byte(d.LoaderEntry()), 0o644); err != nil {
			return err
		}
		defer os.Remove(entry)
		steps = append(steps,
			[]string{"mmd", "-i", path, "::/EFI", "::/EFI/BOOT", "::/loader", "::/loader/entries"},
			[]string{"mcopy", "-i", path, SystemdBootEFI, "::/EFI/BOOT/BOOTX64.EFI"},
			[]string{"mcopy", "-i", path, loader, "::/loader/loader.conf"},
			[]string{"mcopy", "-i", path, entry, "::/loader/entries/netboot.conf"})
	}
	for _, c := range steps {
		bin, err := lookTool(c[0])
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		out, err := exec.CommandContext(ctx, bin, c[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("lab: %v: %w: %s", c, err, out)
		}
	}
	return nil
}

// Build writes the disk image into the test's temporary directory, read-only
// (mode 0444), and returns its path. It skips when a tool is missing and
// fails the test on other errors.
func (d BootDisk) Build(t testing.TB) string {
	t.Helper()
	RequireBootDiskTools(t)
	p := filepath.Join(t.TempDir(), "disk.img")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.WriteFile(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o444); err != nil {
		t.Fatal(err)
	}
	return p
}
