// Package sanfleet serves a fleet of diskless machines from shared base disk
// images over iSCSI, each machine with its own persistent copy-on-write overlay
// of each base it boots. It is the iSCSI side that examples/sanboot and
// examples/pool share: they plug a *Fleet into an iscsi.Server.
//
// # Names
//
// A machine is known by its Ethernet MAC. Its disk of image IMAGE is the target
//
//	TargetPrefix + IMAGE + ":" + MAC     e.g. iqn.2026-11.org.netbootkit:pool:debian:52-54-00-12-34-56
//	TargetPrefix + MAC                   when IMAGE is "" (a fleet with one base, as in examples/sanboot)
//
// with the MAC lower-case and hyphenated (colons are not portable in file
// names, and a colon already separates the image). Only the initiator
// InitiatorPrefix + MAC may log in to it: the machine's iPXE script sets that
// initiator name (InitiatorName and RootPath give the values), iPXE writes it to the iBFT, so
// the booted system logs back in with the same name. With Fleet.CHAP set every
// login must also prove the fleet's CHAP secret. Both are shared knowledge of
// the fleet: they keep one machine from using another's disk by mistake, not a
// hostile machine on the boot network from reading it.
//
// # Overlays
//
// The overlay of IMAGE for MAC is the file Dir/IMAGE/MAC.cow (Dir/MAC.cow for
// image ""), a Linux dm-snapshot persistent store (package cow). It is opened,
// or created, at the first SCSI command that touches the disk after a
// successful login, so a login that fails authentication leaves no file
// behind, and it then stays open (and locked against other processes) until
// Close. Overlays of different images are different files: a machine switched
// from one base to another and back finds its first disk as it left it.
// Nothing in this package ever deletes an overlay file.
//
// # Reset
//
// Reset throws one overlay's changes away so the machine's next boot sees the
// base again. It is refused with ErrInUse while the machine has an iSCSI
// session to that disk: the fleet counts sessions through the server's
// OnLogin and OnLogout hooks (Fleet.Hook wires them). A login that completes
// during a Reset sees the reset disk. A machine that is powered off never logs
// out, and iPXE abandons its own session when the booted OS takes over: serve
// the target on a DeadPeerListener so that such sessions end about a minute
// after the machine went away instead of after TCP's ~15-minute retransmission
// timeout.
package sanfleet
