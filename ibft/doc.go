// Package ibft builds and parses iSCSI Boot Firmware Tables (iBFT).
//
// A machine that boots from an iSCSI disk needs to tell the operating
// system it loads which network interface it used, what its initiator name
// is, and which target and LUN it booted from, so that the OS can log back
// in to the same disk and mount its root file system. Firmware (a NIC's
// iSCSI option ROM, iPXE's sanboot, a Go bootloader) writes that
// information into an iBFT, an ACPI-style table in memory; Linux's
// iscsi_ibft driver shows it under /sys/firmware/ibft, where open-iscsi's
// iscsistart and dracut read it.
//
// # The table
//
// [Table] holds the whole table as plain Go values: the ACPI header fields,
// an [Initiator] (name and flags), up to two [NIC] values (address and
// prefix, gateway, DNS, DHCP server, VLAN, MAC, PCI address, host name,
// origin) and up to two [Target] values (address, port, 8-byte SAM [LUN],
// name, CHAP and reverse CHAP credentials, the NIC used to reach it).
// Addresses are net/netip values; the zero netip.Addr means "none". The
// table stores IPv4 addresses in IPv4-mapped IPv6 form (::ffff:a.b.c.d) and
// they come back as plain IPv4; IPv6 addresses are stored as they are.
//
// Structures carry flags: iPXE sets [FlagValid] and [FlagBootSelected] on
// every structure it writes, and open-iscsi only looks at structures with
// FlagBootSelected. [Table.Validate] points out such traps;
// [Table.MarshalBinary] refuses only what it cannot encode.
//
// # Bytes
//
// The layout, little-endian throughout:
//
//	0x00  ACPI header: signature "iBFT", length, revision 1, checksum,
//	      OEM ID, OEM table ID, OEM revision, creator ID and revision,
//	      then 12 reserved bytes
//	0x30  control structure (18 bytes): offsets of the initiator,
//	      NIC 0, target 0, NIC 1, target 1 (0 = absent)
//	...   initiator (74 bytes), NICs (102), targets (54), each starting
//	      with a 6-byte header: id, version, length, index, flags
//	...   string heap: (length, offset) pairs in the structures point here
//
// [Table.MarshalBinary] writes the compact layout: structures one after
// the other on 16-byte boundaries, then the strings, each followed by a
// NUL the length does not count. iPXE instead reserves fixed slots for two
// NICs and two targets (NICs at 0xa0 and 0x110, targets at 0x180 and
// 0x1c0, strings at 0x200). [Table.UnmarshalBinary] reads both, and any
// other placement Linux reads: it follows the control structure's offsets
// and goes by each structure's id. It is strict about defects: a wrong
// signature, length, revision or checksum, a control structure Linux would
// reject, a structure or string that lies outside the table, a structure
// with the wrong length, a duplicate, each is an [*Error] that names the
// byte offset and field and wraps a sentinel such as [ErrChecksum] or
// [ErrOffset]. [ParseLenient] reads what Linux reads instead, skipping and
// reporting the structures Linux would skip.
//
// Round trips are exact: a Table that MarshalBinary accepts decodes to an
// equal Table, and the bytes of a table in the compact layout re-encode to
// the same bytes.
//
// # Where the table goes
//
// Placing the table is the firmware's job, not this package's. On UEFI the
// table is installed as an ACPI table (Linux looks for the signatures IBFT,
// iBFT and BIFT); on legacy BIOS it sits in base memory between 0x80000 and
// 0xFFFFF on a 16-byte boundary, where Linux scans for it when it was not
// booted through EFI; [Find] scans an image of that memory (e.g. read from
// /dev/mem) the same way. A raw ACPI table, e.g.
// /sys/firmware/acpi/tables/iBFT, is just bytes for [Parse]. In QEMU,
// `-acpitable file=table.bin` installs one.
// ACPICA tools (iasl) only accept the upper-case IBFT spelling, see
// [SignatureACPI].
//
// # Reading it back in Linux
//
// [ReadSysfs] reads the table as the kernel shows it, from
// os.DirFS([SysfsDir]); [Table.BootTarget] picks the target and NIC the way
// open-iscsi's iscsistart does, and [Target.RootPath] turns a target into
// the RFC 4173 root path ("iscsi:192.168.1.10::::iqn…") that iPXE and
// dracut understand.
//
// The table holds CHAP secrets in clear text: treat its bytes, and the
// sysfs files (readable only with CAP_SYS_ADMIN), as credentials.
package ibft
