// Package netboot is the root of a module of small, composable network-boot packages:
// everything a machine needs to boot from the network, from the first DHCP packet its
// PXE ROM sends to the iSCSI disk its operating system runs on.
//
// The root package holds no code; import the package for the protocol you need:
//
//   - [github.com/netbootkit/netboot/dhcpboot] classifies DHCP boot requests (PXE ROM,
//     iPXE, UEFI HTTP Boot; client architecture, UUID, user class) and writes the right
//     boot options into replies. It embeds into existing DHCP servers (the coredhcp
//     handler shape), runs as a proxyDHCP server next to one, or as a small lab DHCP
//     server with crash-safe leases.
//   - [github.com/netbootkit/netboot/tftpserve] serves boot files over TFTP from an
//     [io/fs.FS] or a per-request resolver, with safe names, tsize and blksize, and a cap
//     on concurrent transfers for boot storms.
//   - [github.com/netbootkit/netboot/ipxescript] builds, escapes, parses and validates
//     iPXE scripts, and renders one per machine over HTTP.
//   - [github.com/netbootkit/netboot/iscsi] is an iSCSI target (RFC 7143) serving any
//     block device, for iPXE's sanboot and the operating system that follows.
//   - [github.com/netbootkit/netboot/cow] gives every machine a persistent copy-on-write
//     overlay over one shared, read-only base image, in the on-disk format of Linux
//     dm-snapshot.
//   - [github.com/netbootkit/netboot/ibft] builds and parses iSCSI Boot Firmware Tables,
//     the ACPI table that tells an operating system which iSCSI disk it booted from.
//   - [github.com/netbootkit/netboot/rootpath] parses and prints root paths and SAN URIs
//     (RFC 4173 iscsi:, aoe:, NFS, http SAN) as they travel in DHCP option 17, iPXE
//     sanboot lines and kernel command lines.
//
// How they fit together when a machine boots:
//
//	NIC PXE ROM --DHCP--> dhcpboot: "undionly.kpxe" or "ipxe.efi" from TFTP
//	            --TFTP--> tftpserve: the iPXE binary
//	iPXE        --DHCP--> dhcpboot: "http://server/boot.ipxe?mac=${net0/mac}..."
//	            --HTTP--> ipxescript.Handler: this machine's script
//	            kernel + initrd over HTTP, or sanboot iscsi:... --> iscsi --> cow overlay
//	Linux       reads the iBFT (ibft) or root-path (rootpath), logs back into its disk
//
// The packages do not import each other: where two meet (an iSCSI target serving a
// copy-on-write overlay), the consumer declares a small interface that the other side
// satisfies implicitly. Runnable reference servers that wire them together are under
// examples/: examples/minimal is a complete lab boot server on built-in defaults.
package netboot
