package dhcpboot

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

// wire builds a request with modifiers and returns it as parsed from its
// wire bytes, so tests see what a server sees.
func wire(t testing.TB, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	d, err := dhcpv4.NewDiscovery(testMAC, mods...)
	require.NoError(t, err)
	p, err := dhcpv4.FromBytes(d.ToBytes())
	require.NoError(t, err)
	return p
}

func gen(code uint8, v string) dhcpv4.Modifier {
	return dhcpv4.WithGeneric(dhcpv4.GenericOptionCode(code), []byte(v))
}

var (
	uuid97   = "\x00\x33\x22\x11\x00\x55\x44\x77\x66\x88\x99\xaa\xbb\xcc\xdd\xee\xff"
	ipxe175  = "\xb1\x05\x01\x80\x86\x10\x0e\xeb\x03\x01\x00\x00\x17\x01\x01\x13\x01\x01\x11\x01\x01"
	biosVC   = "PXEClient:Arch:00000:UNDI:002001"
	uefiVC   = "PXEClient:Arch:00007:UNDI:003016"
	arch     = func(a ...byte) dhcpv4.Modifier { return gen(93, string(a)) }
	userRaw  = func(s string) dhcpv4.Modifier { return gen(77, s) }
	vendorCl = func(s string) dhcpv4.Modifier { return gen(60, s) }
)

func TestClassifyHandBuilt(t *testing.T) {
	tests := []struct {
		name      string
		mods      []dhcpv4.Modifier
		wantOK    bool
		stage     Stage
		arch      iana.Arch // normalised primary, when archs != nil
		archs     []iana.Arch
		fromVC    bool
		gpxe      bool
		uuid      string
		userClass []string
		vendor    string
	}{
		{name: "BIOS PXE ROM", mods: []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), gen(97, uuid97), gen(94, "\x01\x02\x01")},
			wantOK: true, stage: StagePXE, arch: iana.INTEL_X86PC, archs: []iana.Arch{0}, uuid: "00112233-4455-6677-8899-aabbccddeeff", vendor: biosVC},
		{name: "x64 UEFI PXE", mods: []dhcpv4.Modifier{vendorCl(uefiVC), arch(0, 7)},
			wantOK: true, stage: StagePXE, arch: iana.EFI_X86_64, archs: []iana.Arch{7}, vendor: uefiVC},
		{name: "quirk: option 93 value 9 for x64 UEFI", mods: []dhcpv4.Modifier{vendorCl("PXEClient:Arch:00009:UNDI:003000"), arch(0, 9)},
			wantOK: true, stage: StagePXE, arch: iana.EFI_X86_64, archs: []iana.Arch{9}, vendor: "PXEClient:Arch:00009:UNDI:003000"},
		{name: "arm64 UEFI PXE", mods: []dhcpv4.Modifier{vendorCl("PXEClient:Arch:00011:UNDI:003000"), arch(0, 11)},
			wantOK: true, stage: StagePXE, arch: iana.EFI_ARM64, archs: []iana.Arch{11}, vendor: "PXEClient:Arch:00011:UNDI:003000"},
		{name: "UEFI HTTP Boot x64", mods: []dhcpv4.Modifier{vendorCl("HTTPClient:Arch:00016:UNDI:003000"), arch(0, 16)},
			wantOK: true, stage: StageHTTP, arch: iana.EFI_X86_64_HTTP, archs: []iana.Arch{16}, vendor: "HTTPClient:Arch:00016:UNDI:003000"},
		{name: "UEFI HTTP Boot arm64 without option 93", mods: []dhcpv4.Modifier{vendorCl("HTTPClient:Arch:00019:UNDI:003000")},
			wantOK: true, stage: StageHTTP, arch: iana.EFI_ARM64_HTTP, archs: []iana.Arch{19}, fromVC: true, vendor: "HTTPClient:Arch:00019:UNDI:003000"},
		{name: "quirk: iPXE user class as raw string, no 175", mods: []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), userRaw("iPXE")},
			wantOK: true, stage: StageIPXE, arch: 0, archs: []iana.Arch{0}, userClass: []string{"iPXE"}, vendor: biosVC},
		{name: "iPXE user class RFC 3004 encoded", mods: []dhcpv4.Modifier{vendorCl(uefiVC), arch(0, 7), dhcpv4.WithUserClass("iPXE", true)},
			wantOK: true, stage: StageIPXE, arch: 7, archs: []iana.Arch{7}, userClass: []string{"iPXE"}, vendor: uefiVC},
		{name: "quirk: chainloaded iPXE still sends PXEClient, user class with trailing NUL", mods: []dhcpv4.Modifier{vendorCl(uefiVC), arch(0, 7), userRaw("iPXE\x00")},
			wantOK: true, stage: StageIPXE, arch: 7, archs: []iana.Arch{7}, userClass: []string{"iPXE"}, vendor: uefiVC},
		{name: "iPXE with custom user class, option 175 only", mods: []dhcpv4.Modifier{userRaw("thinclient"), gen(175, ipxe175)},
			wantOK: true, stage: StageIPXE, userClass: []string{"thinclient"}},
		{name: "legacy gPXE", mods: []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), userRaw("gPXE")},
			wantOK: true, stage: StageIPXE, arch: 0, archs: []iana.Arch{0}, gpxe: true, userClass: []string{"gPXE"}, vendor: biosVC},
		{name: "two entries in option 93: first is primary", mods: []dhcpv4.Modifier{vendorCl(uefiVC), arch(0, 7, 0, 0)},
			wantOK: true, stage: StagePXE, arch: 7, archs: []iana.Arch{7, 0}, vendor: uefiVC},
		{name: "malformed: odd-length 93 falls back to option 60 digits", mods: []dhcpv4.Modifier{vendorCl("PXEClient:Arch:00011:UNDI:003000"), arch(0, 7, 0)},
			wantOK: true, stage: StagePXE, arch: 11, archs: []iana.Arch{11}, fromVC: true, vendor: "PXEClient:Arch:00011:UNDI:003000"},
		{name: "malformed: empty 93 and PXEClient without arch", mods: []dhcpv4.Modifier{vendorCl("PXEClient"), arch()},
			wantOK: true, stage: StagePXE, vendor: "PXEClient"},
		{name: "malformed: odd 93, no 60: not a boot request", mods: []dhcpv4.Modifier{arch(7)}},
		{name: "malformed: garbage arch digits in 60", mods: []dhcpv4.Modifier{vendorCl("PXEClient:Arch:0x0zz:UNDI:0")},
			wantOK: true, stage: StagePXE, vendor: "PXEClient:Arch:0x0zz:UNDI:0"},
		{name: "quirk: option 60 with trailing NULs and 0xFF", mods: []dhcpv4.Modifier{vendorCl(uefiVC + "\x00\x00\xff"), arch(0, 7)},
			wantOK: true, stage: StagePXE, arch: 7, archs: []iana.Arch{7}, vendor: uefiVC},
		{name: "quirk: option 97 missing", mods: []dhcpv4.Modifier{vendorCl(uefiVC), arch(0, 7)},
			wantOK: true, stage: StagePXE, arch: 7, archs: []iana.Arch{7}, vendor: uefiVC},
		{name: "quirk: option 97 wrong type byte is ignored", mods: []dhcpv4.Modifier{vendorCl(uefiVC), arch(0, 7), gen(97, "\x01"+uuid97[1:])},
			wantOK: true, stage: StagePXE, arch: 7, archs: []iana.Arch{7}, vendor: uefiVC},
		{name: "quirk: option 97 of 16 bytes is ignored", mods: []dhcpv4.Modifier{vendorCl(uefiVC), arch(0, 7), gen(97, uuid97[1:])},
			wantOK: true, stage: StagePXE, arch: 7, archs: []iana.Arch{7}, vendor: uefiVC},
		{name: "plain DHCP client", mods: []dhcpv4.Modifier{vendorCl("udhcp 1.36.1")}, vendor: "udhcp 1.36.1"},
		{name: "vendor class that only contains PXEClient later", mods: []dhcpv4.Modifier{vendorCl("MSFT PXEClient")}, vendor: "MSFT PXEClient"},
		{name: "RELEASE from a PXE client is not a boot request", mods: []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease)},
			archs: []iana.Arch{0}, vendor: biosVC},
		{name: "BOOTREPLY is not a boot request", mods: []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), func(d *dhcpv4.DHCPv4) { d.OpCode = dhcpv4.OpcodeBootReply }},
			archs: []iana.Arch{0}, vendor: biosVC},
		{name: "REQUEST from a PXE ROM", mods: []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest)},
			wantOK: true, stage: StagePXE, arch: 0, archs: []iana.Arch{0}, vendor: biosVC},
		{name: "LoongArch64 (no iana name)", mods: []dhcpv4.Modifier{vendorCl("PXEClient:Arch:00039:UNDI:003000"), arch(0, 39)},
			wantOK: true, stage: StagePXE, arch: 39, archs: []iana.Arch{39}, vendor: "PXEClient:Arch:00039:UNDI:003000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := Classify(wire(t, tt.mods...))
			assert.Equal(t, tt.wantOK, ok, "ok")
			if !tt.wantOK {
				assert.Equal(t, StageNone, c.Stage)
			}
			assert.Equal(t, tt.stage, c.Stage, "stage")
			assert.Equal(t, tt.archs, c.Archs, "archs")
			if tt.archs != nil {
				assert.Equal(t, tt.arch, c.Arch, "normalised arch")
			}
			assert.Equal(t, len(tt.archs) > 0, c.ArchKnown())
			assert.Equal(t, tt.fromVC, c.ArchFromVendorClass, "arch from option 60")
			assert.Equal(t, tt.gpxe, c.GPXE, "gPXE")
			assert.Equal(t, tt.uuid, c.UUID(), "uuid")
			assert.Equal(t, tt.uuid != "", c.HasMachineID)
			assert.Equal(t, tt.userClass, c.UserClasses, "user classes")
			assert.Equal(t, tt.vendor, c.VendorClass, "vendor class")
			assert.Equal(t, testMAC, c.MAC)
		})
	}
}

func TestClassifyDetails(t *testing.T) {
	c, ok := Classify(wire(t, vendorCl(biosVC), arch(0, 0), gen(97, uuid97), gen(94, "\x01\x02\x01"), gen(175, ipxe175),
		dhcpv4.WithGatewayIP(net.IPv4(10, 1, 2, 3))))
	require.True(t, ok)
	assert.Equal(t, NDI{Type: 1, Major: 2, Minor: 1}, c.NDI)
	assert.Equal(t, "00112233-4455-6677-8899-aabbccddeeff", c.UUID())
	assert.Equal(t, "33221100-5544-7766-8899-aabbccddeeff", c.UUIDWire())
	assert.Equal(t, net.IP{10, 1, 2, 3}, c.Relay)
	assert.True(t, c.IPXE.Has(IPXEFeatureHTTP))
	assert.False(t, c.IPXE.Has(IPXEFeatureHTTPS))
	maj, min, patch, vok := c.IPXE.Version()
	assert.True(t, vok)
	assert.Equal(t, [3]uint8{1, 0, 0}, [3]uint8{maj, min, patch})
	assert.Equal(t, []byte{1, 0x80, 0x86, 0x10, 0x0e}, []byte(c.IPXE.Value(IPXEBusID)))
	assert.Equal(t, dhcpv4.MessageTypeDiscover, c.MessageType)
	assert.Contains(t, c.String(), "stage=ipxe")

	var none Client
	assert.Equal(t, "", none.UUID())
	_, ok = Classify(nil)
	assert.False(t, ok)
}

func TestIPXEOptionsMalformed(t *testing.T) {
	for _, o := range []IPXEOptions{nil, {0x13}, {0x13, 5, 1}, {0, 0, 0xff, 0x13, 1, 1}, {0x10, 1, 1, 0x13, 2, 1}} {
		assert.False(t, o.Has(IPXEFeatureHTTP), "%x", []byte(o))
	}
	assert.True(t, IPXEOptions{0, 0x10, 1, 1, 0x13, 1, 1}.Has(IPXEFeatureHTTP))
}

func TestNormalizeAndBaseArch(t *testing.T) {
	assert.Equal(t, iana.EFI_X86_64, NormalizeArch(iana.EFI_BC))
	assert.Equal(t, iana.EFI_ARM64, NormalizeArch(iana.EFI_ARM64))
	for http, base := range map[iana.Arch]iana.Arch{15: 6, 16: 7, 17: 7, 18: 10, 19: 11, 20: 0, 23: 21, 24: 22, 26: 25, 28: 27, 30: 29, 38: 37, 40: 39, 9: 7, 11: 11} {
		assert.Equal(t, base, BaseArch(http), "arch %d", http)
	}
}

// captureCase is what one client request in a real capture must classify as.
type captureCase struct {
	frames    []int
	stage     Stage
	arch      iana.Arch
	userClass []string
	ipxe      bool // option 175 present
	vendor    string
	ndi       NDI
}

func TestClassifyCaptures(t *testing.T) {
	ovmf := []captureCase{
		{frames: []int{1, 3}, stage: StagePXE, arch: 7, vendor: "PXEClient:Arch:00007:UNDI:003000", ndi: NDI{1, 3, 0}},
		// snponly.efi chainloaded by OVMF: still PXEClient in 60, but iPXE.
		{frames: []int{5, 7, 9}, stage: StageIPXE, arch: 7, userClass: []string{"iPXE"}, ipxe: true, vendor: "PXEClient:Arch:00007:UNDI:003010", ndi: NDI{1, 3, 10}},
	}
	files := map[string][]captureCase{
		"ovmf-uefi-pxe.pcap":          ovmf,
		"ovmf-then-ipxe-sanboot.pcap": ovmf,
		"ipxe-bios-nic-rom.pcap": {
			{frames: []int{1, 3, 5}, stage: StageIPXE, arch: 0, userClass: []string{"iPXE"}, ipxe: true, vendor: biosVC, ndi: NDI{1, 2, 1}},
		},
		"ipxe-efi-nic-rom.pcap": {
			{frames: []int{1, 3, 5}, stage: StageIPXE, arch: 7, userClass: []string{"iPXE"}, ipxe: true, vendor: "PXEClient:Arch:00007:UNDI:003010", ndi: NDI{1, 3, 10}},
		},
		// ipxe.lkrn with its user class changed: 175 still says iPXE.
		"bios-pxe-standin-then-undionly.pcap": {
			{frames: []int{1, 3, 5}, stage: StageIPXE, arch: 0, userClass: []string{"PXEClient"}, ipxe: true, vendor: biosVC, ndi: NDI{1, 2, 1}},
			{frames: []int{7, 9, 11}, stage: StageIPXE, arch: 0, userClass: []string{"iPXE"}, ipxe: true, vendor: biosVC, ndi: NDI{1, 2, 1}},
		},
	}
	for file, cases := range files {
		t.Run(file, func(t *testing.T) {
			pkts, err := readPcap(filepath.Join("testdata", file))
			require.NoError(t, err)
			byFrame := map[int]udpPacket{}
			requests := 0
			for _, p := range pkts {
				byFrame[p.Frame] = p
				if p.DstPort == 67 {
					requests++
				}
			}
			seen := 0
			for _, cc := range cases {
				for _, f := range cc.frames {
					p, ok := byFrame[f]
					require.True(t, ok, "frame %d", f)
					require.Equal(t, uint16(67), p.DstPort, "frame %d", f)
					req, err := dhcpv4.FromBytes(p.Payload)
					require.NoError(t, err, "frame %d", f)
					c, ok := Classify(req)
					require.True(t, ok, "frame %d", f)
					assert.Equal(t, cc.stage, c.Stage, "frame %d", f)
					assert.Equal(t, cc.arch, c.Arch, "frame %d", f)
					assert.Equal(t, cc.userClass, c.UserClasses, "frame %d", f)
					assert.Equal(t, cc.ipxe, c.IPXE != nil, "frame %d", f)
					assert.Equal(t, cc.vendor, c.VendorClass, "frame %d", f)
					assert.Equal(t, cc.ndi, c.NDI, "frame %d", f)
					assert.True(t, c.HasMachineID, "frame %d: option 97", f)
					assert.Equal(t, "52:54:00:99:00:01", c.MAC.String())
					seen++
				}
			}
			assert.Equal(t, requests, seen, "every client request in the capture is in the table")
			// The server's replies in the captures are not requests.
			for _, p := range pkts {
				if p.SrcPort != 67 {
					continue
				}
				rep, err := dhcpv4.FromBytes(p.Payload)
				require.NoError(t, err)
				_, ok := Classify(rep)
				assert.False(t, ok, "reply frame %d", p.Frame)
			}
		})
	}
}
