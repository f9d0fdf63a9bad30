// Command sanboot serves a fleet of diskless machines from one shared base disk
// image over iSCSI, with no kernel modules: DHCP (proxy or lab), TFTP for the iPXE
// binaries, HTTP for a per-machine iPXE script that runs `sanboot` of the machine's
// own iSCSI target, and the iSCSI target itself, which backs each machine's disk
// with its own copy-on-write overlay of the base.
//
// The base (-base IMG) is opened read-only once and shared; it is never written.
// Each machine gets DIR/<mac>.cow in -overlays (the MAC lower-case and hyphenated,
// e.g. 52-54-00-12-34-56.cow), created at the machine's first read or write after
// a successful login (a login that fails CHAP leaves no file): a Linux dm-snapshot
// persistent store (package cow), so `dmsetup` can map it too.
//
//	go run -exec sudo ./examples/sanboot -base debian.img -overlays /srv/overlays
//	go run -exec sudo ./examples/sanboot -base debian.img -overlays /srv/overlays \
//		-dhcp lab -range 10.0.0.100-10.0.0.200 -chap fleet:twelvebytes+
//	go run ./examples/sanboot -base debian.img -overlays /srv/overlays reset 52:54:00:12:34:56
//
// Each machine's iPXE script sets its initiator name
// (iqn.2026-11.org.netbootkit:sanboot:client:<mac>) and boots
// iscsi:<addr>::<port>::iqn.2026-11.org.netbootkit:sanboot:<mac>. iPXE describes
// the disk in an iBFT, so the booted system's initramfs (open-iscsi's iscsistart -b,
// dracut, Windows) logs back in to the same target with the same initiator name.
// The target admits only that initiator name to each machine's disk, and with -chap
// also requires CHAP. Both are shared knowledge of the fleet, not a secret per
// machine: they keep one machine from using another's disk by mistake, not a
// hostile machine on the boot network from reading it.
//
// `reset MAC` throws one machine's changes away (its next boot sees the base
// again). Once opened, overlays stay open (and locked) while the server runs, so
// reset refuses with "in use" until the server is stopped.
//
// The base image is any bootable disk whose system finds its root over iSCSI
// from the iBFT: BIOS machines run its boot sector, UEFI machines (the identity
// iPXE sends says platform=efi) get `sanboot --filename \EFI\BOOT\BOOTX64.EFI`,
// the removable-media loader every UEFI firmware knows. TestFleetBoot builds
// one image for both with host tools only: a 64 MiB FAT16 file system with
// SYSLINUX in its boot sector and systemd-boot as \EFI\BOOT\BOOTX64.EFI
// (mkfs.vfat, syslinux --install, mcopy), a Debian kernel, and a busybox
// initramfs with open-iscsi's iscsistart and the iscsi_tcp, iscsi_ibft and
// crc32c_generic modules (iscsi_tcp's connection setup fails with ENOMEM without
// a crc32c implementation). Three QEMU machines, two BIOS and one UEFI, boot it
// at once through DHCP, iPXE, their scripts and sanboot with CHAP; each writes a
// file naming its MAC, reboots and finds only its own file; the base's SHA-256
// is unchanged.
//
// A BIOS iSCSI disk must be at least one 255×63 cylinder (7.8 MiB): iPXE's
// INT 13h emulation cannot read the boot sector of a smaller one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "sanboot:", err)
		return 2
	}
	level := slog.LevelInfo
	if c.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if c.ResetMAC != nil {
		if err := resetOverlay(c, log); err != nil {
			fmt.Fprintln(stderr, "sanboot:", err)
			return 1
		}
		fmt.Fprintf(stdout, "reset %s: its next boot sees the base image again\n", c.ResetMAC)
		return 0
	}

	ifc, addr, err := c.ResolveNetwork()
	if err != nil {
		fmt.Fprintln(stderr, "sanboot:", err)
		return 1
	}
	s, err := newServer(c, log, ifc, addr)
	if err != nil {
		fmt.Fprintln(stderr, "sanboot:", err)
		return 1
	}
	defer s.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.run(ctx); err != nil {
		fmt.Fprintln(stderr, "sanboot:", err)
		return 1
	}
	return 0
}
