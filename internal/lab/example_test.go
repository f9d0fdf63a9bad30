package lab_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/netbootkit/netboot/internal/lab"
)

// The QEMU command line a Machine turns into (files go to the directory
// given; here the sercon file is not needed).
func ExampleMachine_Command() {
	m := lab.Machine{
		Name:     "ibft",
		Kernel:   "/cache/vmlinuz",
		Initrd:   "/tmp/initrd.cpio.gz",
		NoSercon: true,
		Args:     []string{"-acpitable", "file=/tmp/ibft.dat"},
	}
	argv, err := m.Command("/tmp")
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Join(argv, " "))
	// Output:
	// qemu-system-x86_64 -name ibft -machine pc,accel=tcg -m 256 -smp 1 -display none -vga none -monitor none -serial stdio -no-reboot -nodefaults -cpu max -kernel /cache/vmlinuz -append console=ttyS0,115200 panic=-1 loglevel=4 mitigations=off no_timer_check -initrd /tmp/initrd.cpio.gz -acpitable file=/tmp/ibft.dat
}

// Module names are matched the way the kernel does: no directory, no
// .ko[.xz|.zst|.gz], dashes as underscores.
func ExampleModuleName() {
	fmt.Println(lab.ModuleName("kernel/drivers/md/dm-snapshot.ko.xz"))
	// Output: dm_snapshot
}

// A Router Advertisement saying "no router here" (lifetime 0), which lets
// iPXE finish IPv6 configuration at once.
func ExampleRouterAdvertisement() {
	mac, _ := net.ParseMAC("52:54:00:77:00:01")
	fmt.Printf("% x\n", lab.RouterAdvertisement(mac))
	// Output: 86 00 00 00 40 00 00 00 00 00 00 00 00 00 00 00 01 01 52 54 00 77 00 01
}

// Booting a Debian kernel with a busybox initramfs that loads iscsi_ibft and
// prints what it finds (as in an ibft test; t is the test's *testing.T).
func ExampleBoot() {
	var t *testing.T // the test's t
	k := lab.Kernel(t)
	rd := lab.NewInitramfs(`ls /sys/firmware/ibft && echo "ibft: $(cat /sys/firmware/ibft/initiator/initiator-name)"`)
	if err := rd.AddModules(k, "iscsi_ibft"); err != nil {
		t.Fatal(err)
	}
	vm := lab.Boot(t, lab.Machine{Kernel: k.Vmlinuz, Initrd: rd.Build(t),
		Args: []string{"-acpitable", "file=/path/to/ibft.bin"}}) // a whole table, header included
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := vm.WaitFor(ctx, "lab: poweroff"); err != nil {
		t.Fatal(err)
	}
	fmt.Println(vm.Output())
}

// A network boot: a Go HTTP server in the server namespace, dnsmasq for
// DHCP, RAs so iPXE skips its IPv6 wait, and a BIOS machine whose iPXE NIC
// ROM chains the script.
func ExampleNewNet() {
	var t *testing.T // the test's t
	n := lab.NewNet(t)
	n.Server.StartRA(t)
	l, err := n.Server.Listen("tcp4", n.Server.IP().String()+":80")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "#!ipxe\necho booted ${net0/mac}\n")
	}))
	n.StartDnsmasq(t, "--dhcp-boot=http://10.77.0.1/boot.ipxe")
	mac, _ := net.ParseMAC("52:54:00:77:00:01")
	vm := lab.Boot(t, n.Machine(lab.Machine{NICs: []lab.NIC{{MAC: mac}}}))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := vm.WaitFor(ctx, "booted 52:54:00:77:00:01"); err != nil {
		t.Fatal(err)
	}
}
