package dhcpboot

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Stage says which piece of boot software sent a request.
type Stage uint8

const (
	// StageNone: not a network-boot request (an ordinary DHCP client, or a
	// message type that never carries a boot decision).
	StageNone Stage = iota
	// StagePXE: a firmware PXE client (a BIOS NIC option ROM or a UEFI PXE
	// driver). It wants a network bootstrap program over TFTP.
	StagePXE
	// StageIPXE: iPXE (or its predecessor gPXE), either a NIC ROM that is
	// iPXE or an iPXE we chainloaded. It wants the script URL; handing it
	// the iPXE binary again is the classic chainload loop.
	StageIPXE
	// StageHTTP: UEFI HTTP Boot (option 60 starts with "HTTPClient"). It
	// wants an absolute http(s) URL of an EFI binary.
	StageHTTP
)

// String returns "none", "pxe", "ipxe" or "http".
func (s Stage) String() string {
	switch s {
	case StageNone:
		return "none"
	case StagePXE:
		return "pxe"
	case StageIPXE:
		return "ipxe"
	case StageHTTP:
		return "http"
	}
	return "stage(" + strconv.Itoa(int(s)) + ")"
}

// Option codes this package reads or writes that insomniacslk/dhcp does not
// name.
const (
	// OptionIPXE is iPXE's encapsulated option 175. Only iPXE sends it.
	OptionIPXE = dhcpv4.GenericOptionCode(175)
)

// NDI is the Client Network Device Interface (option 94, RFC 4578 §2.2).
type NDI struct {
	Type, Major, Minor uint8 // Type 1 = UNDI
}

// Client is what a DHCPv4 (or DHCPv6, see Classify6) boot request says about
// the machine and the software asking. Classify builds it; a Policy reads it.
// All fields are copies: a Client does not alias the packet.
type Client struct {
	// Stage is the software asking; StageNone for a request that is not a
	// boot request.
	Stage Stage
	// MAC is the client hardware address (chaddr; for DHCPv6 the link-layer
	// address from the DUID when it has one).
	MAC net.HardwareAddr
	// Archs are the client architectures as sent (option 93, or the
	// "Arch:NNNNN" field of option 60 when 93 is absent or malformed), first
	// = primary. Empty when the request names no architecture.
	Archs []iana.Arch
	// Arch is the primary architecture, normalised: the obsolete value 9
	// that old firmware sends for x64 UEFI is reported as iana.EFI_X86_64.
	// Meaningless when Archs is empty; check ArchKnown.
	Arch iana.Arch
	// ArchFromVendorClass is true when Archs came from option 60 because
	// option 93 was absent or malformed.
	ArchFromVendorClass bool
	// MachineID is the 16-byte GUID of option 97 exactly as on the wire
	// (valid only when HasMachineID). See UUID for the printed form.
	MachineID [16]byte
	// HasMachineID is true when option 97 was present and well formed
	// (17 bytes, type 0). A missing or odd option 97 never makes a request
	// fail classification.
	HasMachineID bool
	// NDI is option 94 (zero when absent or malformed).
	NDI NDI
	// VendorClass is option 60 with trailing NULs removed, e.g.
	// "PXEClient:Arch:00007:UNDI:003000".
	VendorClass string
	// UserClasses is option 77, decoded as RFC 3004 tuples when it parses as
	// such, else as one raw string (iPXE sends the raw 4 bytes "iPXE").
	UserClasses []string
	// IPXE holds iPXE's option 175 (nil when absent).
	IPXE IPXEOptions
	// GPXE is true when the user class is the legacy "gPXE".
	GPXE bool
	// Relay is giaddr when the request came through a relay agent (nil
	// otherwise).
	Relay net.IP
	// MessageType is the DHCPv4 message type (zero for DHCPv6).
	MessageType dhcpv4.MessageType
	// V6 is true for a client classified from DHCPv6 (Classify6).
	V6 bool
}

// ArchKnown reports whether the request named an architecture.
func (c *Client) ArchKnown() bool { return len(c.Archs) > 0 }

// UUID returns the machine GUID of option 97 printed the way iPXE prints
// ${uuid}: the wire carries the first three fields little-endian (EFI GUID
// order, RFC 4578), so they are swapped back. Empty when there is none.
func (c *Client) UUID() string {
	if !c.HasMachineID {
		return ""
	}
	var u [16]byte
	m := c.MachineID
	u[0], u[1], u[2], u[3] = m[3], m[2], m[1], m[0]
	u[4], u[5] = m[5], m[4]
	u[6], u[7] = m[7], m[6]
	copy(u[8:], m[8:])
	return formatUUID(u)
}

// UUIDWire returns option 97's GUID printed without byte swapping, for
// inventories keyed by ROMs that do not swap. Empty when there is none.
func (c *Client) UUIDWire() string {
	if !c.HasMachineID {
		return ""
	}
	return formatUUID(c.MachineID)
}

func formatUUID(u [16]byte) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 36)
	for i, v := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[v>>4], hex[v&0xf])
	}
	return string(b)
}

// HasUserClass reports whether uc is one of the client's user classes.
func (c *Client) HasUserClass(uc string) bool {
	for _, u := range c.UserClasses {
		if u == uc {
			return true
		}
	}
	return false
}

// String summarises the client for logs.
func (c *Client) String() string {
	arch := "unknown"
	if c.ArchKnown() {
		arch = strconv.Itoa(int(c.Arch))
	}
	return fmt.Sprintf("%s stage=%s arch=%s", c.MAC, c.Stage, arch)
}

// Classify reads a DHCPv4 request and says who is asking. ok is false (and
// Stage is StageNone) when the request is not a network-boot request: not a
// BOOTREQUEST, not a DISCOVER/REQUEST/INFORM, or carrying none of option 60
// PXEClient/HTTPClient, option 93, iPXE's user class or option 175. The
// returned Client is filled as far as the packet allows even then.
//
// Classification order (first match wins), following dhcp-pxe.md §3:
// iPXE (user class "iPXE"/"gPXE" raw or RFC 3004, or option 175 present)
// before UEFI HTTP Boot ("HTTPClient") before a PXE ROM (arch from 93, else
// from option 60). The iPXE test comes first because iPXE also sends
// PXEClient and option 93; getting this order wrong is the chainload loop.
//
// Classify is lenient: malformed option 93 falls back to option 60's digits,
// malformed option 97 or 94 is ignored, trailing NULs are trimmed.
func Classify(req *dhcpv4.DHCPv4) (Client, bool) {
	var c Client
	if req == nil {
		return c, false
	}
	if len(req.ClientHWAddr) > 0 {
		c.MAC = append(net.HardwareAddr(nil), req.ClientHWAddr...)
	}
	if gi := req.GatewayIPAddr.To4(); gi != nil && !gi.IsUnspecified() {
		c.Relay = append(net.IP(nil), gi...)
	}
	c.MessageType = req.MessageType()
	opts := req.Options

	// Option 93: list of uint16; odd or empty => malformed, ignore.
	if v := opts.Get(dhcpv4.OptionClientSystemArchitectureType); len(v) > 0 && len(v)%2 == 0 {
		c.Archs = req.ClientArch()
	}
	c.VendorClass = trimString(opts.Get(dhcpv4.OptionClassIdentifier))
	if len(c.Archs) == 0 {
		if a, ok := archFromVendorClass(c.VendorClass); ok {
			c.Archs = []iana.Arch{a}
			c.ArchFromVendorClass = true
		}
	}
	if len(c.Archs) > 0 {
		c.Arch = NormalizeArch(c.Archs[0])
	}
	if v := opts.Get(dhcpv4.OptionClientMachineIdentifier); len(v) == 17 && v[0] == 0 {
		copy(c.MachineID[:], v[1:])
		c.HasMachineID = true
	}
	if v := opts.Get(dhcpv4.OptionClientNetworkInterfaceIdentifier); len(v) == 3 {
		c.NDI = NDI{Type: v[0], Major: v[1], Minor: v[2]}
	}
	if v := opts.Get(dhcpv4.OptionUserClassInformation); len(v) > 0 {
		var ucs []string
		if int(v[0])+1 > len(v) {
			// Cannot be RFC 3004 tuples: the raw form iPXE and gPXE send.
			ucs = []string{string(v)}
		} else {
			ucs = req.UserClass()
		}
		for _, u := range ucs {
			u = strings.TrimRight(u, "\x00")
			if u != "" {
				c.UserClasses = append(c.UserClasses, u)
			}
		}
	}
	if v, ok := opts[OptionIPXE.Code()]; ok {
		c.IPXE = append(IPXEOptions{}, v...)
	}

	if req.OpCode != dhcpv4.OpcodeBootRequest {
		return c, false
	}
	switch c.MessageType {
	case dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform:
	default:
		return c, false
	}
	switch {
	case c.HasUserClass("iPXE") || opts.Has(OptionIPXE):
		c.Stage = StageIPXE
	case c.HasUserClass("gPXE"):
		c.Stage = StageIPXE
		c.GPXE = true
	case strings.HasPrefix(c.VendorClass, "HTTPClient"):
		c.Stage = StageHTTP
	case strings.HasPrefix(c.VendorClass, "PXEClient") || len(c.Archs) > 0:
		c.Stage = StagePXE
	default:
		return c, false
	}
	return c, true
}

// trimString turns option bytes into a string without trailing NULs (seen in
// the wild, insomniacslk/dhcp#286) or stray 0xFF bytes.
func trimString(b []byte) string {
	b = bytes.TrimRight(b, "\x00\xff")
	return string(b)
}

// archFromVendorClass parses the "Arch:NNNNN" field of a PXEClient or
// HTTPClient vendor class.
func archFromVendorClass(vc string) (iana.Arch, bool) {
	if !strings.HasPrefix(vc, "PXEClient:") && !strings.HasPrefix(vc, "HTTPClient:") {
		return 0, false
	}
	_, rest, _ := strings.Cut(vc, ":")
	if !strings.HasPrefix(rest, "Arch:") {
		return 0, false
	}
	digits, _, _ := strings.Cut(rest[len("Arch:"):], ":")
	if len(digits) == 0 || len(digits) > 5 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 16)
	if err != nil {
		return 0, false
	}
	return iana.Arch(n), true
}

// NormalizeArch maps the obsolete option 93 value 9, which old x64 UEFI
// firmware sends (RFC 4578 erratum 4624), to iana.EFI_X86_64. Other values
// are returned unchanged.
func NormalizeArch(a iana.Arch) iana.Arch {
	if a == iana.EFI_BC {
		return iana.EFI_X86_64
	}
	return a
}

// BaseArch maps an HTTP Boot architecture to the PXE architecture of the
// same machine (16 x64 UEFI HTTP → 7 x64 UEFI, 19 → 11, 20 → 0, …), so one
// table of binaries serves both. Other values pass through NormalizeArch.
func BaseArch(a iana.Arch) iana.Arch {
	switch a {
	case iana.EFI_X86_HTTP:
		return iana.EFI_IA32
	case iana.EFI_X86_64_HTTP, iana.EFI_BC_HTTP:
		return iana.EFI_X86_64
	case iana.EFI_ARM32_HTTP:
		return iana.EFI_ARM32
	case iana.EFI_ARM64_HTTP:
		return iana.EFI_ARM64
	case iana.INTEL_X86PC_HTTP:
		return iana.INTEL_X86PC
	case iana.UBOOT_ARM32_HTTP:
		return iana.UBOOT_ARM32
	case iana.UBOOT_ARM64_HTTP:
		return iana.UBOOT_ARM64
	case iana.EFI_RISCV32_HTTP:
		return iana.EFI_RISCV32
	case iana.EFI_RISCV64_HTTP:
		return iana.EFI_RISCV64
	case iana.EFI_RISCV128_HTTP:
		return iana.EFI_RISCV128
	case 38: // LoongArch 32 UEFI HTTP
		return 37
	case 40: // LoongArch 64 UEFI HTTP
		return 39
	}
	return NormalizeArch(a)
}

// IPXEOptions is the raw payload of iPXE's option 175: sub-options as
// {code, length, value} triples. Its presence in a request means the client
// is iPXE; its feature flags say what the build can do.
type IPXEOptions []byte

// iPXE option 175 sub-option codes (iPXE include/ipxe/dhcp.h, features.h).
const (
	IPXEPriority         byte = 0x01
	IPXEFeaturePXE       byte = 0x10
	IPXEFeatureISCSI     byte = 0x11
	IPXEFeatureAoE       byte = 0x12
	IPXEFeatureHTTP      byte = 0x13
	IPXEFeatureHTTPS     byte = 0x14
	IPXEFeatureTFTP      byte = 0x15
	IPXEFeatureDNS       byte = 0x17
	IPXEFeatureBzImage   byte = 0x18
	IPXEFeatureMultiboot byte = 0x19
	IPXEFeatureEFI       byte = 0x24
	IPXEFeatureNFS       byte = 0x29
	IPXEBusID            byte = 0xb1
	IPXEVersion          byte = 0xeb
	// IPXENoPXEDHCP (176): in a reply, non-zero tells iPXE not to wait for
	// ProxyDHCP offers (saves ~2 s per DHCP).
	IPXENoPXEDHCP byte = 0xb0
)

// Value returns the value of sub-option code, or nil. Malformed trailing
// bytes are ignored.
func (o IPXEOptions) Value(code byte) []byte {
	for i := 0; i+1 < len(o); {
		c, n := o[i], int(o[i+1])
		if c == 0 { // pad
			i++
			continue
		}
		if c == 0xff {
			return nil
		}
		if i+2+n > len(o) {
			return nil
		}
		if c == code {
			return o[i+2 : i+2+n : i+2+n]
		}
		i += 2 + n
	}
	return nil
}

// Has reports whether sub-option code (usually a feature flag) is present.
func (o IPXEOptions) Has(code byte) bool { return o.Value(code) != nil }

// Version returns iPXE's version from sub-option 0xeb (major, minor, patch).
func (o IPXEOptions) Version() (major, minor, patch uint8, ok bool) {
	v := o.Value(IPXEVersion)
	if len(v) != 3 {
		return 0, 0, 0, false
	}
	return v[0], v[1], v[2], true
}
