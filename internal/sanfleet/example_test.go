package sanfleet_test

import (
	"fmt"
	"net"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/internal/sanfleet"
	"github.com/netbootkit/netboot/iscsi"
)

// A fleet with several base images, keyed by image name: each machine gets one
// target and one overlay file per image it boots. Hook plugs it into an iSCSI
// server; the names below go into the machine's iPXE script.
func ExampleFleet() {
	bases := map[string]*cow.Base{} // e.g. bases["debian"], _ = cow.OpenBase("/srv/debian.img")
	f := &sanfleet.Fleet{
		TargetPrefix:    "iqn.2026-11.org.example:pool:",
		InitiatorPrefix: "iqn.2026-11.org.example:pool:client:",
		Dir:             "/srv/overlays",
		Base: func(image string) (*cow.Base, error) {
			if b, ok := bases[image]; ok {
				return b, nil
			}
			return nil, fmt.Errorf("%w: no image %q", iscsi.ErrTargetNotFound, image)
		},
	}
	srv := &iscsi.Server{}
	f.Hook(srv) // Lookup, Discover, and session counting for Reset
	defer f.Close()

	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	fmt.Println("set initiator-iqn", f.InitiatorName(mac))
	fmt.Println("sanboot", f.RootPath("debian", mac, "10.0.0.1", 3260))
	fmt.Println(f.OverlayPath("debian", mac))
	// Output:
	// set initiator-iqn iqn.2026-11.org.example:pool:client:52-54-00-12-34-56
	// sanboot iscsi:10.0.0.1::::iqn.2026-11.org.example:pool:debian:52-54-00-12-34-56
	// /srv/overlays/debian/52-54-00-12-34-56.cow
}
