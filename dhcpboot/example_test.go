package dhcpboot_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/netbootkit/netboot/dhcpboot"
)

func discover(mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	d, _ := dhcpv4.NewDiscovery(net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, mods...)
	return d
}

// Classify says who is asking: here a UEFI firmware PXE client, then the
// iPXE it chainloaded (which still sends PXEClient and option 93).
func ExampleClassify() {
	rom := discover(
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
	)
	c, ok := dhcpboot.Classify(rom)
	fmt.Println(ok, c.Stage, c.Arch)

	ipxe := discover(
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003010")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
		dhcpv4.WithUserClass("iPXE", false),
	)
	c, ok = dhcpboot.Classify(ipxe)
	fmt.Println(ok, c.Stage, c.UserClasses)

	plain := discover()
	_, ok = dhcpboot.Classify(plain)
	fmt.Println(ok)
	// Output:
	// true pxe EFI x86-64
	// true ipxe [iPXE]
	// false
}

// Chainload is the classic policy; Handler4 writes its decision into a
// reply the way a coredhcp plugin would.
func ExampleChainload() {
	policy := &dhcpboot.Chainload{
		TFTPServer: netip.MustParseAddr("192.168.1.10"),
		HTTPBase:   "http://192.168.1.10:8080/",
		Script:     "http://192.168.1.10:8080/boot.ipxe?mac=${net0/mac}",
	}
	handle := dhcpboot.Handler4(policy)

	req := discover(
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.INTEL_X86PC)),
	)
	resp, _ := dhcpv4.NewReplyFromRequest(req)
	resp, _ = handle(req, resp)
	fmt.Println(resp.ServerIPAddr, resp.BootFileName, resp.ClassIdentifier())

	req = discover(dhcpv4.WithUserClass("iPXE", false))
	resp, _ = dhcpv4.NewReplyFromRequest(req)
	resp, _ = handle(req, resp)
	fmt.Println(resp.BootFileName)
	// Output:
	// 192.168.1.10 undionly.kpxe PXEClient
	// http://192.168.1.10:8080/boot.ipxe?mac=${net0/mac}
}

// A PolicyFunc can decide anything from the Client, here per machine GUID.
func ExamplePolicyFunc() {
	policy := dhcpboot.PolicyFunc(func(ctx context.Context, c *dhcpboot.Client) (dhcpboot.Boot, error) {
		if c.Stage != dhcpboot.StageIPXE {
			return dhcpboot.Boot{Ignore: true}, nil
		}
		return dhcpboot.Boot{File: "http://10.0.0.1/machines/" + c.UUID() + ".ipxe"}, nil
	})
	req := discover(
		dhcpv4.WithUserClass("iPXE", false),
		dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier,
			[]byte{0, 0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}),
	)
	resp, _ := dhcpv4.NewReplyFromRequest(req)
	h := &dhcpboot.Handler{Policy: policy}
	ok, err := h.Answer(context.Background(), req, resp)
	fmt.Println(ok, err, resp.BootFileName)
	// Output:
	// true <nil> http://10.0.0.1/machines/00112233-4455-6677-8899-aabbccddeeff.ipxe
}
