package dhcpboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// EnterprisePXE is the enterprise number (343, Intel) that UEFI firmware
// and iPXE use in the DHCPv6 vendor class option for "PXEClient" and
// "HTTPClient" (RFC 5970 usage, EDK2).
const EnterprisePXE = 343

// Classify6 reads a DHCPv6 message (relayed messages are unwrapped) and
// says who is asking, like Classify: architectures from option 61, user
// classes from 15 (iPXE sends "iPXE"), vendor class from 16 (enterprise
// 343: "PXEClient:…"/"HTTPClient:…"), NII from 62, MAC from a link-layer
// DUID. Only SOLICIT, REQUEST, RENEW, REBIND and INFORMATION-REQUEST can be
// boot requests.
func Classify6(m dhcpv6.DHCPv6) (Client, bool) {
	c := Client{V6: true}
	if m == nil {
		return c, false
	}
	msg, err := m.GetInnerMessage()
	if err != nil || msg == nil {
		return c, false
	}
	opts := msg.Options
	switch d := opts.ClientID().(type) {
	case *dhcpv6.DUIDLL:
		c.MAC = append(net.HardwareAddr(nil), d.LinkLayerAddr...)
	case *dhcpv6.DUIDLLT:
		c.MAC = append(net.HardwareAddr(nil), d.LinkLayerAddr...)
	}
	if a := opts.ArchTypes(); len(a) > 0 {
		c.Archs = append([]iana.Arch(nil), a...)
		c.Arch = NormalizeArch(a[0])
	}
	for _, u := range opts.UserClasses() {
		if s := trimString(u); s != "" {
			c.UserClasses = append(c.UserClasses, s)
		}
	}
	if vc := opts.VendorClass(EnterprisePXE); len(vc) > 0 {
		c.VendorClass = trimString(vc[0])
	}
	if len(c.Archs) == 0 {
		if a, ok := archFromVendorClass(c.VendorClass); ok {
			c.Archs = []iana.Arch{a}
			c.Arch = NormalizeArch(a)
			c.ArchFromVendorClass = true
		}
	}
	if o, ok := opts.GetOne(dhcpv6.OptionNII).(*dhcpv6.OptNetworkInterfaceID); ok {
		c.NDI = NDI{Type: uint8(o.Typ), Major: o.Major, Minor: o.Minor}
	}
	switch msg.MessageType {
	case dhcpv6.MessageTypeSolicit, dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew,
		dhcpv6.MessageTypeRebind, dhcpv6.MessageTypeInformationRequest:
	default:
		return c, false
	}
	switch {
	case c.HasUserClass("iPXE"):
		c.Stage = StageIPXE
	case c.HasUserClass("gPXE"):
		c.Stage, c.GPXE = StageIPXE, true
	case strings.HasPrefix(c.VendorClass, "HTTPClient"):
		c.Stage = StageHTTP
	case strings.HasPrefix(c.VendorClass, "PXEClient") || len(c.Archs) > 0:
		c.Stage = StagePXE
	default:
		return c, false
	}
	return c, true
}

// ErrNotURL is returned by the DHCPv6 handler when a policy gives a boot
// file that is not an absolute URL (DHCPv6 has no siaddr/file fields).
var ErrNotURL = errors.New("dhcpboot: DHCPv6 boot file must be an absolute URL")

// Answer6 classifies req and, for a boot client that requested option 59
// (Boot File URL) and that the Policy answers, adds options 59, 60 (Boot
// File Parameters, from Boot.BootParams) and, for UEFI HTTP Boot, the
// vendor class "HTTPClient" (EDK2 ignores an HTTP offer without it) to
// resp. It reports whether it did.
func (h *Handler) Answer6(ctx context.Context, req, resp dhcpv6.DHCPv6) (bool, error) {
	c, ok := Classify6(req)
	if !ok || resp == nil {
		return false, nil
	}
	msg, err := req.GetInnerMessage()
	if err != nil || !msg.IsOptionRequested(dhcpv6.OptionBootfileURL) {
		return false, nil
	}
	if h.Policy == nil {
		return false, errors.New("dhcpboot: Handler has no Policy")
	}
	b, err := h.Policy.Boot(ctx, &c)
	if err == nil && !b.empty() && !strings.Contains(b.File, "://") {
		err = fmt.Errorf("%w: %q", ErrNotURL, b.File)
	}
	if h.OnDecision != nil {
		h.OnDecision(&c, b, err)
	}
	if err != nil {
		if h.Logger != nil {
			h.Logger.LogAttrs(ctx, slog.LevelWarn, "dhcpboot: no DHCPv6 boot answer", slog.String("client", c.String()), slog.String("err", err.Error()))
		}
		return false, err
	}
	if b.empty() {
		return false, nil
	}
	resp.UpdateOption(dhcpv6.OptBootFileURL(b.File))
	if len(b.BootParams) > 0 {
		resp.UpdateOption(dhcpv6.OptBootFileParam(b.BootParams...))
	}
	if c.Stage == StageHTTP {
		resp.UpdateOption(&dhcpv6.OptVendorClass{EnterpriseNumber: EnterprisePXE, Data: [][]byte{[]byte("HTTPClient")}})
	}
	return true, nil
}

// Handler6 returns a DHCPv6 handler with the coredhcp plugin shape for
// policy p: boot clients get options 59/60 added to resp; the chain always
// continues.
func Handler6(p Policy) func(req, resp dhcpv6.DHCPv6) (dhcpv6.DHCPv6, bool) {
	h := &Handler{Policy: p}
	return h.Handler6
}

// Handler6 is the coredhcp-shaped form of Answer6 (see the function
// Handler6).
func (h *Handler) Handler6(req, resp dhcpv6.DHCPv6) (dhcpv6.DHCPv6, bool) {
	if req == nil || resp == nil {
		return resp, false
	}
	_, _ = h.Answer6(context.Background(), req, resp)
	return resp, false
}
