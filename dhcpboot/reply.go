package dhcpboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Mode says which kind of reply a boot decision is written into.
type Mode uint8

const (
	// ModeDHCP: the reply also hands out an address (our lab Server, or a
	// DHCP server embedding Handler4).
	ModeDHCP Mode = iota
	// ModeProxyOffer: a proxyDHCP OFFER on port 67 next to another DHCP
	// server: no address, PXEClient echoed. UEFI PXE clients get neither
	// file nor option 43 here, so they ask again on port 4011 (EDK2
	// behaviour; some UEFI firmware ignores proxy offers with a boot file).
	ModeProxyOffer
	// ModeBootServer: the answer to a request on port 4011 (PXE boot
	// server / "BINL" exchange): ACK with file, siaddr, PXEClient, option 97
	// and the boot item (43.71) echoed.
	ModeBootServer
)

// Limits of the BOOTP header fields (NUL-terminated).
const (
	maxFileField  = 127
	maxSNameField = 63
	maxOption     = 255
)

// ErrTooLong is returned when a boot file name or server name does not fit
// in one DHCP option (255 bytes). Splitting it (RFC 3396) is not understood
// by boot ROMs, so the reply is refused instead.
var ErrTooLong = errors.New("dhcpboot: value longer than 255 bytes")

// WriteReply writes boot decision b for client c (classified from req) into
// resp, a reply under construction for req. It is a pure function: it reads
// req and writes resp only, so it can be tested without sockets and used by
// any server built on insomniacslk/dhcp.
//
// Rules (dhcp-pxe.md §1–§5):
//   - siaddr = b.NextServer.
//   - File of ≤127 bytes goes in the BOOTP file field, and also in option 67
//     when the client requests 67 (EDK2 prefers 67, iPXE prefers the field;
//     both get the same bytes). Longer names go only in option 67 and the
//     field is left empty. Same for ServerName with sname (63) and option 66.
//   - Option 52 (overload) is never sent.
//   - Option 60 is echoed: "HTTPClient" to UEFI HTTP Boot (EDK2 ignores
//     offers without it), and "PXEClient" to every client in the proxy
//     modes (PXE 2.1 requires it there). Whenever "PXEClient" is sent,
//     option 43 is too, with PXE discovery control 8 (boot the file in
//     this reply; no boot-server menu, no wait), except in a ModeProxyOffer
//     to a UEFI PXE client (see Mode). In ModeDHCP a PXE ROM gets a plain
//     "DHCP only" offer with siaddr and file and no 60/43: every PXE ROM
//     boots from that, whereas 60 "PXEClient" there makes EDK2 treat the
//     offer as a PXE 1.0 offer and start boot-server discovery (or, without
//     43, go to port 4011; FOG docs #188, edk2 #8149).
//   - Option 97 is echoed when the client sent a well-formed one.
//   - Option 17 only to clients that request it, or to iPXE.
//   - In ModeDHCP, iPXE gets 175.176 (no-pxedhcp) = 1 so it does not wait
//     ~2 s for proxy offers.
//   - b.Options are written last, as given.
func WriteReply(req, resp *dhcpv4.DHCPv4, c *Client, b Boot, mode Mode) error {
	if len(b.File) > maxOption {
		return fmt.Errorf("boot file %.40q…: %w", b.File, ErrTooLong)
	}
	if len(b.ServerName) > maxOption {
		return fmt.Errorf("server name %.40q…: %w", b.ServerName, ErrTooLong)
	}
	resp.Options.Del(dhcpv4.OptionOptionOverload)

	stage := c.Stage
	vendor := ""
	switch {
	case stage == StageHTTP:
		vendor = "HTTPClient"
	case mode != ModeDHCP:
		vendor = "PXEClient"
	}
	if vendor != "" {
		resp.UpdateOption(dhcpv4.OptClassIdentifier(vendor))
	}
	if v := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); len(v) == 17 && v[0] == 0 {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte(nil), v...)))
	}

	uefiProxy := mode == ModeProxyOffer && stage == StagePXE && c.ArchKnown() && BaseArch(c.Arch) != iana.INTEL_X86PC
	if vendor == "PXEClient" {
		if uefiProxy {
			// No 43 and no file: EDK2 then asks the boot server on 4011.
			return nil
		}
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, pxeVendorOptions(req, mode)))
	}

	if b.NextServer.IsValid() && b.NextServer.Is4() {
		ip := b.NextServer.As4()
		resp.ServerIPAddr = net.IP(ip[:])
	}
	file := strings.TrimRight(b.File, "\x00")
	if file != "" {
		if len(file) <= maxFileField {
			resp.BootFileName = file
			if req.IsOptionRequested(dhcpv4.OptionBootfileName) || stage == StageHTTP {
				resp.UpdateOption(dhcpv4.OptBootFileName(file))
			}
		} else {
			resp.BootFileName = ""
			resp.UpdateOption(dhcpv4.OptBootFileName(file))
		}
	}
	sname := strings.TrimRight(b.ServerName, "\x00")
	if sname != "" {
		if len(sname) <= maxSNameField {
			resp.ServerHostName = sname
			if req.IsOptionRequested(dhcpv4.OptionTFTPServerName) {
				resp.UpdateOption(dhcpv4.OptTFTPServerName(sname))
			}
		} else {
			resp.ServerHostName = ""
			resp.UpdateOption(dhcpv4.OptTFTPServerName(sname))
		}
	}
	if b.RootPath != "" && (stage == StageIPXE || req.IsOptionRequested(dhcpv4.OptionRootPath)) {
		resp.UpdateOption(dhcpv4.OptRootPath(b.RootPath))
	}
	if mode == ModeDHCP && stage == StageIPXE {
		resp.UpdateOption(dhcpv4.OptGeneric(OptionIPXE, []byte{IPXENoPXEDHCP, 1, 1}))
	}
	for code, v := range b.Options {
		if code == dhcpv4.OptionOptionOverload.Code() || code == 0 || code == 255 {
			continue
		}
		resp.Options[code] = append([]byte(nil), v...)
	}
	return nil
}

// pxeVendorOptions builds option 43: discovery control 8 (use the file in
// this reply, skip boot-server discovery and menus), plus the boot item
// (43.71) echoed in a boot-server reply.
func pxeVendorOptions(req *dhcpv4.DHCPv4, mode Mode) []byte {
	out := []byte{6, 1, 8}
	if mode == ModeBootServer {
		if item := pxeSubOption(req.Options.Get(dhcpv4.OptionVendorSpecificInformation), 71); len(item) == 4 {
			out = append(out, 71, 4)
			out = append(out, item...)
		}
	}
	return append(out, 255)
}

// pxeSubOption finds sub-option code in a PXE option 43 payload.
func pxeSubOption(v []byte, code byte) []byte {
	for i := 0; i < len(v); {
		c := v[i]
		if c == 0 {
			i++
			continue
		}
		if c == 255 || i+1 >= len(v) {
			return nil
		}
		n := int(v[i+1])
		if i+2+n > len(v) {
			return nil
		}
		if c == code {
			return v[i+2 : i+2+n]
		}
		i += 2 + n
	}
	return nil
}

// Handler answers boot requests for a DHCP server: it classifies the
// request, asks the Policy and writes the decision into the reply. It is
// the piece to embed in an existing server; Server and ProxyServer use it
// too. Safe for concurrent use when the Policy is.
type Handler struct {
	// Policy decides what each boot client gets. Required.
	Policy Policy
	// Mode is the kind of reply written (ModeDHCP unless embedded in a
	// proxy).
	Mode Mode
	// Logger gets one debug line per decision and a warning per policy
	// error. Nil: silent.
	Logger *slog.Logger
	// OnDecision, if set, is called after each boot request was decided
	// (err non-nil when the policy failed or the reply could not be
	// written). For metrics and audit; must not block.
	OnDecision func(c *Client, b Boot, err error)
}

// Answer classifies req and, for a boot client the Policy answers, writes
// the boot options into resp. It reports whether resp now carries a boot
// answer. A request that is not a boot request, or that the policy ignores,
// leaves resp untouched and returns false with a nil error.
func (h *Handler) Answer(ctx context.Context, req, resp *dhcpv4.DHCPv4) (bool, error) {
	c, ok := Classify(req)
	if !ok {
		return false, nil
	}
	return h.answerClient(ctx, req, resp, &c, h.Mode)
}

func (h *Handler) answerClient(ctx context.Context, req, resp *dhcpv4.DHCPv4, c *Client, mode Mode) (bool, error) {
	if h.Policy == nil {
		return false, errors.New("dhcpboot: Handler has no Policy")
	}
	b, err := h.Policy.Boot(ctx, c)
	if err == nil && !b.empty() {
		err = WriteReply(req, resp, c, b, mode)
	}
	if h.OnDecision != nil {
		h.OnDecision(c, b, err)
	}
	if err != nil {
		if h.Logger != nil {
			h.Logger.LogAttrs(ctx, slog.LevelWarn, "dhcpboot: no boot answer", slog.String("client", c.String()), slog.String("err", err.Error()))
		}
		return false, err
	}
	if b.empty() {
		if h.Logger != nil {
			h.Logger.LogAttrs(ctx, slog.LevelDebug, "dhcpboot: policy ignores client", slog.String("client", c.String()))
		}
		return false, nil
	}
	if h.Logger != nil {
		h.Logger.LogAttrs(ctx, slog.LevelDebug, "dhcpboot: boot answer", slog.String("client", c.String()), slog.String("file", b.File))
	}
	return true, nil
}

// Handler4 returns a handler with the coredhcp plugin shape for policy p:
// it adds boot options to resp for boot clients and always returns
// (resp, false), so the rest of the chain (address allocation and so on)
// still runs. Non-boot requests pass through untouched.
func Handler4(p Policy) func(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	h := &Handler{Policy: p}
	return h.Handler4
}

// Handler4 is the coredhcp-shaped form of Answer (see the function Handler4).
func (h *Handler) Handler4(req, resp *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool) {
	if req == nil || resp == nil {
		return resp, false
	}
	_, _ = h.Answer(context.Background(), req, resp)
	return resp, false
}

// ReplyAddr returns where a reply to req must be sent (RFC 2131 §4.1):
// giaddr:67 when relayed; broadcast for a NAK; ciaddr:68 when the client
// has an address; otherwise 255.255.255.255:68 (the client has no address
// yet, and a UDP socket cannot pre-fill the ARP cache for a unicast).
func ReplyAddr(req, resp *dhcpv4.DHCPv4) *net.UDPAddr {
	if gi := req.GatewayIPAddr.To4(); gi != nil && !gi.IsUnspecified() {
		return &net.UDPAddr{IP: gi, Port: dhcpv4.ServerPort}
	}
	if resp.MessageType() == dhcpv4.MessageTypeNak {
		return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	}
	if ci := req.ClientIPAddr.To4(); ci != nil && !ci.IsUnspecified() {
		return &net.UDPAddr{IP: ci, Port: dhcpv4.ClientPort}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
}
