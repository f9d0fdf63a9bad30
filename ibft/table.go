package ibft

import (
	"fmt"
	"net"
	"net/netip"
)

// Table is an iSCSI Boot Firmware Table as plain Go values.
//
// The zero value is an empty table signed "iBFT". A table that a booting
// operating system can use needs an Initiator, at least one NIC and one
// Target, each with [FlagValid] and [FlagBootSelected] set (see
// [Table.Validate]).
//
// Every field round-trips exactly: for any Table t that [Table.MarshalBinary]
// accepts, unmarshalling its bytes yields a Table equal to t (an empty
// NICs or Targets slice comes back nil).
type Table struct {
	// Signature selects the four signature bytes. The zero value is the
	// spec's "iBFT".
	Signature Signature

	// OEMID is the 6-byte ACPI OEM ID (iPXE writes "FENSYS"). Shorter
	// values are padded with NULs; it must not end in a NUL.
	OEMID string
	// OEMTableID is the 8-byte ACPI OEM table ID (iPXE writes "iPXE").
	OEMTableID string
	// OEMRevision is the ACPI OEM revision.
	OEMRevision uint32
	// CreatorID is the ACPI creator ("ASL compiler") ID, 4 bytes.
	CreatorID string
	// CreatorRevision is the ACPI creator revision.
	CreatorRevision uint32

	// ControlFlags are the flags of the control structure.
	ControlFlags ControlFlags

	// Initiator describes this machine as an iSCSI initiator; nil means
	// the table has no initiator structure.
	Initiator *Initiator
	// NICs are the network interfaces, at most two; NICs[i] is written in
	// NIC slot i of the control structure.
	NICs []NIC
	// Targets are the boot targets, at most two; Targets[i] is written in
	// target slot i of the control structure.
	Targets []Target
}

// MaxNICs and MaxTargets are the number of NIC and target slots in the
// 18-byte control structure. Linux rejects a table whose control structure
// has any other length, so a table cannot describe more.
const (
	MaxNICs    = 2
	MaxTargets = 2
)

// DefaultPort is the well-known iSCSI TCP port.
const DefaultPort = 3260

// Signature is the choice of the four signature bytes of a table.
type Signature uint8

// Signatures Linux looks for. The zero value is the spec's spelling.
const (
	// SignatureIBFT is "iBFT", written by the iBFT spec and by iPXE, and
	// the only spelling Linux's legacy base-memory scan matches besides
	// "BIFT".
	SignatureIBFT Signature = iota
	// SignatureACPI is "IBFT", ACPICA's spelling (ACPI_SIG_IBFT), the only
	// one ACPICA tools such as iasl accept as a valid ACPI signature.
	SignatureACPI
	// SignatureBroadcom is "BIFT", used by Broadcom iSCSI offload firmware.
	SignatureBroadcom
)

// String returns the four signature characters, or a description of an
// invalid value.
func (s Signature) String() string {
	switch s {
	case SignatureIBFT:
		return "iBFT"
	case SignatureACPI:
		return "IBFT"
	case SignatureBroadcom:
		return "BIFT"
	}
	return fmt.Sprintf("Signature(%d)", uint8(s))
}

func (s Signature) valid() bool { return s <= SignatureBroadcom }

// Flags are the flags byte of an initiator, NIC or target structure.
type Flags uint8

// Flag bits. Valid and BootSelected mean the same in every structure; the
// others depend on the structure.
const (
	// FlagValid marks the structure as filled in ("block valid").
	FlagValid Flags = 1 << 0
	// FlagBootSelected marks the structure as the one the firmware booted
	// from. open-iscsi picks the first NIC and the first target with this
	// bit set and ignores structures without it.
	FlagBootSelected Flags = 1 << 1
	// FlagNICGlobal marks a NIC address as global rather than link-local.
	FlagNICGlobal Flags = 1 << 2
	// FlagTargetRADIUSCHAP says CHAP is done through RADIUS.
	FlagTargetRADIUSCHAP Flags = 1 << 2
	// FlagTargetRADIUSReverseCHAP says reverse CHAP is done through RADIUS.
	FlagTargetRADIUSReverseCHAP Flags = 1 << 3
)

// ControlFlags are the flags byte of the control structure.
type ControlFlags uint8

// ControlSingleLogin tells the OS to log in only to the targets in the
// table (iPXE's reading of bit 0, "single login only").
const ControlSingleLogin ControlFlags = 1 << 0

// Origin says where a NIC's IP address came from (the values of RFC 4293
// IpAddressOriginTC, as iPXE uses them).
type Origin uint8

// Address origins.
const (
	OriginOther     Origin = 0
	OriginManual    Origin = 1
	OriginWellKnown Origin = 2
	OriginDHCP      Origin = 3
	OriginRouterAdv Origin = 4
	OriginUnchanged Origin = 0x0f
)

// String names the origin.
func (o Origin) String() string {
	switch o {
	case OriginOther:
		return "other"
	case OriginManual:
		return "manual"
	case OriginWellKnown:
		return "well-known"
	case OriginDHCP:
		return "dhcp"
	case OriginRouterAdv:
		return "router-advertisement"
	case OriginUnchanged:
		return "unchanged"
	}
	return fmt.Sprintf("Origin(%d)", uint8(o))
}

// CHAPType is the authentication a target requires.
type CHAPType uint8

// CHAP types.
const (
	CHAPNone   CHAPType = 0
	CHAPOneWay CHAPType = 1
	CHAPMutual CHAPType = 2
)

// String names the CHAP type.
func (c CHAPType) String() string {
	switch c {
	case CHAPNone:
		return "none"
	case CHAPOneWay:
		return "one-way"
	case CHAPMutual:
		return "mutual"
	}
	return fmt.Sprintf("CHAPType(%d)", uint8(c))
}

// Initiator is the initiator structure: who this machine is.
//
// An address field left as the zero netip.Addr means "none" and is written
// as 16 zero bytes.
type Initiator struct {
	Flags Flags
	// Name is the iSCSI initiator name, e.g. "iqn.2024-01.org.example:client1".
	Name string
	// ISNSServer, SLPServer, PrimaryRADIUS and SecondaryRADIUS are rarely
	// used service addresses.
	ISNSServer      netip.Addr
	SLPServer       netip.Addr
	PrimaryRADIUS   netip.Addr
	SecondaryRADIUS netip.Addr
}

// NIC is a NIC structure: the network interface used to reach a target and
// how it was configured.
//
// An address field left as the zero netip.Addr means "none". IPv4 addresses
// are written in IPv4-mapped IPv6 form and read back as plain IPv4.
type NIC struct {
	// Index is the structure's index: Linux shows the NIC as
	// /sys/firmware/ibft/ethernet<Index> and Target.NIC refers to it. The
	// NICs of a table need distinct indexes (0 and 1 when there are two).
	Index uint8
	Flags Flags
	// IP is the interface address and PrefixLen its prefix length
	// (e.g. 24 for a 255.255.255.0 mask).
	IP        netip.Addr
	PrefixLen uint8
	Origin    Origin
	Gateway   netip.Addr
	// PrimaryDNS and SecondaryDNS are the DNS servers.
	PrimaryDNS   netip.Addr
	SecondaryDNS netip.Addr
	// DHCPServer is the DHCP server that configured the interface.
	DHCPServer netip.Addr
	// VLAN is the 802.1Q VLAN ID; 0 means untagged.
	VLAN uint16
	// MAC is the 6-byte hardware address; nil means all zero.
	MAC net.HardwareAddr
	// PCI is the NIC's PCI bus/device/function (domain 0).
	PCI PCIAddress
	// Hostname is this machine's host name.
	Hostname string
}

// Prefix returns IP and PrefixLen as a netip.Prefix. It is invalid when IP
// is not set or PrefixLen is too long for it.
func (n *NIC) Prefix() netip.Prefix {
	if !n.IP.IsValid() || int(n.PrefixLen) > n.IP.BitLen() {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(n.IP, int(n.PrefixLen))
}

// PCIAddress is a PCI bus/device/function in PCI domain 0.
type PCIAddress struct {
	Bus      uint8
	Device   uint8 // 0–31
	Function uint8 // 0–7
}

// BDF returns the 16-bit encoding stored in the table: bus in bits 15–8,
// device in 7–3, function in 2–0.
func (p PCIAddress) BDF() uint16 {
	return uint16(p.Bus)<<8 | uint16(p.Device&0x1f)<<3 | uint16(p.Function&7)
}

// PCIAddressFromBDF decodes the 16-bit encoding stored in the table.
func PCIAddressFromBDF(bdf uint16) PCIAddress {
	return PCIAddress{Bus: uint8(bdf >> 8), Device: uint8(bdf>>3) & 0x1f, Function: uint8(bdf) & 7}
}

// String formats the address as Linux does without the domain, e.g. "00:03.0".
func (p PCIAddress) String() string {
	return fmt.Sprintf("%02x:%02x.%x", p.Bus, p.Device, p.Function)
}

// Target is a target structure: the iSCSI target and LUN to boot from, and
// the credentials to log in with.
type Target struct {
	// Index is the structure's index: Linux shows the target as
	// /sys/firmware/ibft/target<Index>. The targets of a table need
	// distinct indexes (0 and 1 when there are two).
	Index uint8
	Flags Flags
	// IP and Port are the target portal. Port is normally DefaultPort.
	IP   netip.Addr
	Port uint16
	// LUN is the boot LUN in 8-byte SAM format.
	LUN LUN
	// NIC is the index of the NIC used to reach the target.
	NIC uint8
	// Name is the target's iSCSI name.
	Name string
	// CHAPType is the authentication the target requires. The CHAP
	// secrets are stored in clear text: the table is a credential.
	CHAPType          CHAPType
	CHAPName          string
	CHAPSecret        string
	ReverseCHAPName   string
	ReverseCHAPSecret string
}

// AddrPort returns the target portal.
func (t *Target) AddrPort() netip.AddrPort { return netip.AddrPortFrom(t.IP, t.Port) }

// LUN is an 8-byte SAM logical unit number, as carried in iSCSI PDUs and
// in the iBFT (byte 0 first).
type LUN [8]byte

// LUNFromInt returns the single-level LUN for n: peripheral device
// addressing (00 nn) below 256, flat space addressing (01 in the top two
// bits) up to 16383. It returns false for larger n.
func LUNFromInt(n int) (LUN, bool) {
	var l LUN
	switch {
	case n < 0:
		return l, false
	case n < 256:
		l[1] = byte(n)
	case n < 1<<14:
		l[0] = 0x40 | byte(n>>8)
		l[1] = byte(n)
	default:
		return l, false
	}
	return l, true
}

// Int returns the LUN number of a single-level peripheral or flat-space
// LUN, and false for any other form.
func (l LUN) Int() (int, bool) {
	for _, b := range l[2:] {
		if b != 0 {
			return 0, false
		}
	}
	switch l[0] >> 6 {
	case 0:
		if l[0] != 0 {
			return 0, false // bus number: not a plain LUN
		}
		return int(l[1]), true
	case 1:
		return int(l[0]&0x3f)<<8 | int(l[1]), true
	}
	return 0, false
}

// String formats the LUN as RFC 4173 does: up to four big-endian 16-bit
// groups in lower-case hex joined by "-", trailing zero groups dropped,
// "0" for LUN 0. LUN 1 is "1", LUN 16 is "10".
func (l LUN) String() string {
	n := 4
	for n > 1 && l[2*n-2] == 0 && l[2*n-1] == 0 {
		n--
	}
	s := ""
	for i := 0; i < n; i++ {
		if i > 0 {
			s += "-"
		}
		s += fmt.Sprintf("%x", uint16(l[2*i])<<8|uint16(l[2*i+1]))
	}
	return s
}
