// Package lab is the project's one network + QEMU test lab: every
// end-to-end test boots real firmware (SeaBIOS + iPXE, OVMF) or a real
// Debian kernel in QEMU, on a private network made of Linux network
// namespaces, and watches the serial console. It is internal: an API for
// this module's tests, kept small and stable.
//
// # Pieces
//
//   - [CacheDir]: where downloads live ($NETBOOT_LAB_CACHE or
//     <module root>/.cache/lab, git-ignored). Entries are keyed by Debian
//     package versions, so re-runs are fast and upgrades refetch.
//   - [Require], [RequireRoot]: skip a test with the Debian package to
//     install when a tool is missing, or when not root.
//   - [Kernel]: a Debian linux-image-*-amd64 fetched with `apt-get download`
//     and unpacked with `dpkg-deb -x` into the cache; nothing is installed
//     on the host. modules.dep is generated with depmod when the package
//     leaves it to its postinst.
//   - [Initramfs]: a gzip newc cpio image written in pure Go: static busybox
//     with applet symlinks, an /init shell script ([Prelude] + your body +
//     [Epilogue]), extra files, host binaries with the shared libraries ldd
//     reports, and kernel modules with their dependencies in load order
//     (bookworm ships plain .ko; .ko.xz/.zst/.gz of later kernels are
//     decompressed, because busybox insmod may not read them).
//   - [Machine], [VM], [Boot]: QEMU x86_64 with BIOS or UEFI firmware,
//     kernel/initrd, NICs on tap devices with chosen MAC/model/ROM, disks and
//     extra arguments; serial console captured in memory and to a file;
//     [VM.WaitFor] a marker (or [VM.WaitForLine], a regexp on complete
//     lines) with a context deadline; [VM.Stop] kills by PID.
//   - [Accel]: "kvm" only if a kernel really boots under KVM within ten
//     seconds (on these hosts /dev/kvm exists but guests hang), else "tcg";
//     probed once per host boot and remembered in the cache.
//   - [NewNet]: namespaces named with a per-run prefix (nbl<4 hex>p<pid>): a
//     "lan" namespace holding bridge br0 and the tap devices QEMU uses, and
//     host namespaces (the server, 10.77.0.1/24 by default) connected to the
//     bridge by veth pairs. Commands run inside with `ip netns exec`; Go code
//     runs inside with [InNetns], which pins a goroutine to an OS thread and
//     setns(2)s it. Sockets keep the namespace they were created in, so a
//     server can Listen inside and Serve from any goroutine. Call AddHost
//     and AddTap from the goroutine of the test that created the Net (they
//     fail it with t.Fatal).
//   - [Host.StartRA]: sends IPv6 Router Advertisements with router lifetime
//     0, which ends iPXE's 13–16 s wait for an IPv6 router after DHCP.
//   - [Net.StartDnsmasq]: a reference DHCP (and optionally TFTP) server in
//     the server namespace, for tests whose subject is not DHCP.
//   - [PXEStandIn]: a BIOS machine whose "PXE ROM" is Debian's ipxe.lkrn
//     with user class PXEClient (Debian has no non-iPXE BIOS PXE ROM).
//   - Linux guests on the LAN: add the virtio_pci and virtio_net modules and
//     run `udhcpc -i eth0 -f -q -n` in /init; every image carries a udhcpc
//     hook ([UdhcpcScript]) that configures the lease.
//
// # Typical test
//
//	k := lab.Kernel(t)
//	rd := lab.NewInitramfs(`echo "marker: $(cat /sys/firmware/ibft/initiator/initiator-name)"`)
//	if err := rd.AddModules(k, "iscsi_ibft"); err != nil { t.Fatal(err) }
//	vm := lab.Boot(t, lab.Machine{Kernel: k.Vmlinuz, Initrd: rd.Build(t),
//		Args: []string{"-acpitable", "file=" + table}})
//	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
//	defer cancel()
//	if _, err := vm.WaitFor(ctx, "marker:"); err != nil { t.Fatal(err) }
//
// A network boot adds a [Net]: start servers in n.Server (with
// [Host.Start] for a process, [Net.StartDnsmasq] for a reference DHCP/TFTP
// server, or [Host.Listen] for an in-process Go server), start
// [Host.StartRA], and boot n.Machine(m): QEMU runs in n.LAN and each NIC
// gets a tap on the bridge. [RemoveStale] deletes namespaces of dead runs.
//
// # Timing on the development hosts (TCG, 2 shared cores)
//
// Measured by this package's own tests (go test -v -run … ./internal/lab):
//
//   - Debian kernel + busybox initramfs (with a module and a host binary)
//     to its marker and poweroff: 6–11 s on a quiet host, ~50 s when eight
//     engineers' tests share the two cores (load average 18): every wait in
//     the tests allows minutes.
//   - BIOS: SeaBIOS → e1000 iPXE ROM → DHCP (dnsmasq) → HTTP script echo:
//     6.2 s with [Host.StartRA], 20.5 s without (iPXE waits for an IPv6
//     router; turning IPv6 off on the bridge does not shorten that wait,
//     only an RA does). With iPXE option 175.176 no-pxedhcp=1 in the DHCP
//     reply as well (as [Net.DnsmasqArgs] sets) about 4–5 s, against 8–13 s
//     without it in the same loaded runs. Two machines at once: 4.8 s each.
//   - UEFI: OVMF's own PXE client on virtio-net → TFTP snponly.efi → iPXE
//     DHCP → HTTP script echo: about 17 s (about 42 s under load).
//   - ipxe.lkrn PXE stand-in → DHCP → HTTP script echo: 42 s under load.
//   - Debian kernel on the LAN, udhcpc lease, wget from the server: 71 s
//     under load.
//   - The KVM probe costs 10 s once per host boot where KVM hangs.
//
// The guest's serial output is the only clock the tests rely on, and every
// wait is bounded by a context. Tests never assert durations.
//
// # Namespaces and Go
//
// A network namespace belongs to an OS thread, and Go moves goroutines
// between threads. [InNetns] (and Host.Do/Listen/ListenPacket) runs a
// function on a locked thread switched into the namespace; sockets opened
// there stay in it for life, so serve them from any goroutine. Two traps:
// goroutines started inside the function are not in the namespace, and
// interface names in zones ("fe80::1%eth0") resolve in the namespace of
// whichever thread parses them, so use interface indexes (from
// net.InterfaceByName called inside) outside the function.
//
// # Firmware facts the lab encodes
//
//   - SeaBIOS and iPXE print to VGA; the lab passes
//     -fw_cfg name=etc/sercon-port,file=<0x3f8 LE> so both appear on serial
//     (Machine.NoSercon turns it off).
//   - QEMU's NIC ROMs in ipxe-qemu are iPXE; NIC.ROM = [NoROM] disables the
//     ROM so OVMF's own PXE client drives a virtio-net card.
//   - -no-reboot makes a guest poweroff, reboot or panic end QEMU.
//   - [DefaultAppend] carries no_timer_check: without it a TCG kernel on a
//     loaded host can panic with "IO-APIC + timer doesn't work!".
//   - QEMU warns on stderr that etc/sercon-port lacks the "opt/" prefix;
//     SeaBIOS only reads that exact name, so the warning is expected.
package lab
