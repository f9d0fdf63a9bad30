// Command pool is a reference network-boot server for a pool of headless,
// diskless machines, with a web page where an administrator picks, per machine,
// which OS image it boots. It is built on the netboot packages: dhcpboot
// (proxyDHCP and the chainload policy), tftpserve (the iPXE binaries),
// ipxescript (every script a machine receives), and iscsi with cow for the
// disks it serves.
//
// # How a machine boots
//
//  1. Its PXE ROM asks DHCP and gets iPXE over TFTP (-dhcp proxy, or your own
//     DHCP server configured to hand out iPXE).
//  2. iPXE asks DHCP again and gets the short URL /bootstrap.ipxe (a DHCP boot
//     file name must stay under 255 bytes). That script chains to /boot.ipxe
//     with the machine's identity in the query (MAC, UUID, architecture,
//     platform, SMBIOS strings), filled in by iPXE itself.
//  3. /boot.ipxe records the machine (it joins the pool on its first boot) and
//     answers with its assigned image's script (a Linux kernel, initrds and
//     command line, a SAN boot, or a sanboot of its own served disk), or, without an assignment, a waiting screen
//     that asks again every 30 seconds. As soon as the administrator assigns an
//     image, the next ask boots it.
//  4. The image's kernel and initrd come from /files/IMAGE/FILE?mac=MAC, which
//     records how far the machine got.
//
// # State
//
// Machines, names and assignments live in one JSON file (-state). Every change
// writes a new file next to it, fsyncs it, renames it over the old one and
// fsyncs the directory, so a crash or power cut leaves the old or the new state,
// never a mix, and nothing acknowledged is lost. A state file that does not
// parse stops the server at start: it is never silently replaced by an empty
// pool.
//
// # Images
//
// -images is a directory of NAME.json files, one per image, with kernel and
// initrd files in NAME/:
//
//	{"description": "Debian live", "kernel": "vmlinuz", "initrds": ["initrd.gz"],
//	 "cmdline": "console=ttyS0 boot=live"}
//	{"description": "Windows on iSCSI", "san": "iscsi:192.0.2.10::::iqn.2026-01.lab:win"}
//
//	{"description": "Debian on its own disk", "base": "disk.img"}
//
// kernel and initrds are file names inside NAME/ or absolute http(s) URLs. Every
// value is validated and the generated script must pass ipxescript's builder
// and parser, so an image file can neither inject iPXE commands nor point
// outside its directory. The directory is read on every use.
//
// # Served disks
//
// A "base" image is a disk image file the pool serves itself over iSCSI (the
// iscsi package, listening on -iscsi): the file is the shared read-only base and
// every machine boots its own persistent copy-on-write overlay of it (the cow
// package), -overlays/IMAGE/MAC.cow, made at its first read or write after a
// successful login. The machine's script sets its initiator name and the CHAP
// credentials (-chap-file) and sanboots its own target; iPXE hands the same
// names to the booted system in the iBFT. Only that initiator may log in to
// that target. Overlays of different images are different files; the admin page
// shows them with their sizes and resets one on request, never while the
// machine is logged in to it, and the pool never deletes one. The logic is
// internal/sanfleet, shared with examples/sanboot.
//
// # Security
//
// The admin pages need the password in -password-file (at least 12
// characters; there is no default, and the server does not start without it).
// It is compared in constant time; failed logins are rate limited. A session
// is a random cookie (HttpOnly, SameSite=Strict, Secure over TLS); every
// change is a POST that must carry the session's CSRF token and come from the
// same origin. MACs, names and image names are checked against strict
// patterns. The boot endpoints need no login and are read-only: GET and HEAD
// only, and nothing a machine sends can change an assignment. The admin side
// should still be exposed only to the administration network, or behind TLS.
package main
