package dhcpboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// Boot is a Policy's answer for one client.
//
// The zero Boot (no File, no RootPath, no Options) means "no boot answer";
// Ignore says so explicitly and also keeps the server silent in proxy mode.
type Boot struct {
	// Ignore: give this client no boot answer. A full DHCP server still
	// hands out its address; a ProxyServer stays silent.
	Ignore bool
	// File is the boot file: a TFTP path ("undionly.kpxe") or an absolute
	// URL ("http://10.0.0.1/boot.ipxe"). It goes into the BOOTP file field
	// and option 67 when it fits in 127 bytes, otherwise into option 67 only.
	File string
	// NextServer is siaddr, the TFTP server. iPXE builds tftp:// URLs from
	// siaddr only, never from option 66.
	NextServer netip.Addr
	// ServerName is the TFTP server name: sname (≤63 bytes) and option 66.
	ServerName string
	// RootPath is option 17 (e.g. "iscsi:10.0.0.1::::iqn.2026-01.x:disk").
	// Sent only to clients that request option 17, or to iPXE.
	RootPath string
	// BootParams are DHCPv6 boot file parameters (option 60), ignored by
	// DHCPv4.
	BootParams []string
	// Options are extra DHCPv4 options written into the reply as given
	// (for example iPXE's 175, PXELINUX 208–211, or 203 initiator IQN).
	Options dhcpv4.Options
}

// empty reports whether b carries nothing to send.
func (b *Boot) empty() bool {
	return b.Ignore || (b.File == "" && b.RootPath == "" && len(b.Options) == 0 && !b.NextServer.IsValid())
}

// Policy decides what a classified client boots. Implementations must be
// safe for concurrent use; they are called once per request.
//
// Return Boot{Ignore: true} (or the zero Boot) to give no boot answer. An
// error is logged by the caller and also leads to no boot answer.
type Policy interface {
	Boot(ctx context.Context, c *Client) (Boot, error)
}

// PolicyFunc adapts a function to the Policy interface.
type PolicyFunc func(ctx context.Context, c *Client) (Boot, error)

// Boot calls f(ctx, c).
func (f PolicyFunc) Boot(ctx context.Context, c *Client) (Boot, error) { return f(ctx, c) }

// ErrUnknownArch is returned (wrapped) by Chainload for a client whose
// architecture has no boot file configured. Callers log it and stay silent
// rather than hand out a binary the machine cannot run.
var ErrUnknownArch = errors.New("dhcpboot: no boot file for this client architecture")

// ErrNoScript is returned by Chainload when an iPXE client asks and no
// Script URL is configured.
var ErrNoScript = errors.New("dhcpboot: no iPXE script URL configured")

// DefaultNBP returns the default network bootstrap program Chainload hands
// a PXE client of architecture a (after BaseArch): "undionly.kpxe" for BIOS
// (keeps the ROM's UNDI driver), "ipxe.efi" for x64 UEFI (7 and the obsolete
// 9), "ipxe-i386.efi" for IA32 UEFI, "ipxe-arm32.efi", "ipxe-arm64.efi",
// "ipxe-riscv64.efi", "ipxe-loong64.efi". The names match Debian's
// /usr/lib/ipxe for x86; other architectures need the file put there under
// that name. ok is false for architectures with no iPXE build.
func DefaultNBP(a iana.Arch) (name string, ok bool) {
	switch BaseArch(a) {
	case iana.INTEL_X86PC:
		return "undionly.kpxe", true
	case iana.EFI_IA32:
		return "ipxe-i386.efi", true
	case iana.EFI_X86_64:
		return "ipxe.efi", true
	case iana.EFI_ARM32:
		return "ipxe-arm32.efi", true
	case iana.EFI_ARM64:
		return "ipxe-arm64.efi", true
	case iana.EFI_RISCV64:
		return "ipxe-riscv64.efi", true
	case 39: // LoongArch 64 UEFI
		return "ipxe-loong64.efi", true
	}
	return "", false
}

// Chainload is the classic network-boot policy: a firmware PXE client gets
// iPXE over TFTP, UEFI HTTP Boot gets iPXE over HTTP, and iPXE itself gets
// the script URL, which breaks the chainload loop.
//
//	BIOS PXE (93=0)           → TFTPServer + "undionly.kpxe"
//	x64 UEFI PXE (93=7 or 9)  → TFTPServer + "ipxe.efi" (set NBP[7] = "snponly.efi" to prefer SNP)
//	arm64 UEFI PXE (93=11)    → TFTPServer + "ipxe-arm64.efi"
//	UEFI HTTP Boot (16, 19 …) → HTTPBase + the same file name
//	iPXE (any arch)           → Script
//
// A client whose architecture has no file is logged and gets no answer
// (ErrUnknownArch). Chainload holds no state and is safe for concurrent use
// once configured.
type Chainload struct {
	// TFTPServer is the TFTP server's IPv4 address (siaddr). Required for
	// PXE clients.
	TFTPServer netip.Addr
	// TFTPServer6 is the TFTP server for DHCPv6 PXE clients (tftp://[addr]/file).
	TFTPServer6 netip.Addr
	// HTTPBase is the base URL UEFI HTTP Boot clients fetch the iPXE binary
	// from, e.g. "http://10.0.0.1:8080/ipxe/". Empty: HTTP Boot clients get
	// no answer.
	HTTPBase string
	// NBP overrides the boot file per architecture (keys after BaseArch:
	// use 7 for x64 UEFI, not 9 or 16). Missing keys fall back to
	// DefaultNBP. A value "" disables that architecture.
	NBP map[iana.Arch]string
	// Script is the URL iPXE gets as its filename. iPXE expands settings in
	// it, so a template works: "http://10.0.0.1:8080/boot.ipxe?mac=${net0/mac}&uuid=${uuid}&arch=${buildarch}".
	Script string
	// ScriptFallback is used instead of Script for an iPXE build whose option
	// 175 says it lacks the scheme Script uses (no HTTP feature for http://,
	// no HTTPS feature for https://); typically a tftp:// URL.
	ScriptFallback string
	// UserClass, if set, is an extra user class (option 77) that marks a
	// client as iPXE, for iPXE builds with a custom class.
	UserClass string
	// RootPath is sent as option 17 to every client that gets an answer
	// (use PerMAC for per-machine root paths).
	RootPath string
	// PerMAC overrides the decision for individual machines, keyed by the
	// MAC in lower-case colon form ("52:54:00:12:34:56"). The override is
	// returned as is for every stage, so it usually sets only what differs:
	// fields left empty are filled from the normal decision.
	PerMAC map[string]Boot
	// Logger receives one line per decision that gives no answer. Nil:
	// silent.
	Logger *slog.Logger
}

// Boot implements Policy.
func (p *Chainload) Boot(ctx context.Context, c *Client) (Boot, error) {
	b, err := p.decide(c)
	if ov, ok := p.PerMAC[strings.ToLower(c.MAC.String())]; ok {
		if ov.Ignore {
			return ov, nil
		}
		if err == nil || errors.Is(err, ErrUnknownArch) || errors.Is(err, ErrNoScript) {
			err = nil
			if ov.File != "" {
				b.File = ov.File
			}
			if ov.NextServer.IsValid() {
				b.NextServer = ov.NextServer
			}
			if ov.ServerName != "" {
				b.ServerName = ov.ServerName
			}
			if ov.RootPath != "" {
				b.RootPath = ov.RootPath
			}
			if ov.BootParams != nil {
				b.BootParams = ov.BootParams
			}
			if ov.Options != nil {
				b.Options = ov.Options
			}
		}
	}
	if err != nil {
		if p.Logger != nil {
			p.Logger.LogAttrs(ctx, slog.LevelWarn, "dhcpboot: no boot answer",
				slog.String("mac", c.MAC.String()), slog.String("stage", c.Stage.String()),
				slog.Any("archs", c.Archs), slog.String("vendor_class", c.VendorClass),
				slog.String("err", err.Error()))
		}
		return Boot{Ignore: true}, err
	}
	return b, nil
}

func (p *Chainload) decide(c *Client) (Boot, error) {
	stage := c.Stage
	if stage != StageIPXE && p.UserClass != "" && c.HasUserClass(p.UserClass) {
		stage = StageIPXE
	}
	if stage == StageIPXE && c.GPXE {
		// gPXE lacks much of iPXE's feature set: chainload current iPXE,
		// which then asks with user class "iPXE".
		stage = StagePXE
	}
	switch stage {
	case StageIPXE:
		if p.Script == "" {
			return Boot{}, ErrNoScript
		}
		return Boot{File: p.scriptFor(c), RootPath: p.RootPath}, nil
	case StagePXE, StageHTTP:
		if !c.ArchKnown() {
			return Boot{}, fmt.Errorf("%w: request names no architecture", ErrUnknownArch)
		}
		name, ok := p.nbp(c.Arch)
		if !ok {
			return Boot{}, fmt.Errorf("%w: arch %d (%s)", ErrUnknownArch, uint16(c.Archs[0]), c.Archs[0])
		}
		if stage == StageHTTP {
			if p.HTTPBase == "" {
				return Boot{}, fmt.Errorf("%w: HTTP Boot client but no HTTPBase", ErrUnknownArch)
			}
			return Boot{File: joinURL(p.HTTPBase, name), RootPath: p.RootPath}, nil
		}
		if c.V6 {
			if !p.TFTPServer6.IsValid() {
				return Boot{}, fmt.Errorf("%w: DHCPv6 PXE client but no TFTPServer6", ErrUnknownArch)
			}
			return Boot{File: "tftp://[" + p.TFTPServer6.String() + "]/" + strings.TrimLeft(name, "/"), RootPath: p.RootPath}, nil
		}
		return Boot{File: name, NextServer: p.TFTPServer, RootPath: p.RootPath}, nil
	}
	return Boot{Ignore: true}, nil
}

func (p *Chainload) nbp(a iana.Arch) (string, bool) {
	base := BaseArch(a)
	if name, ok := p.NBP[base]; ok {
		return name, name != ""
	}
	return DefaultNBP(base)
}

// scriptFor picks Script or ScriptFallback by the iPXE build's features.
func (p *Chainload) scriptFor(c *Client) string {
	if p.ScriptFallback == "" || c.IPXE == nil || c.V6 {
		return p.Script
	}
	s := strings.ToLower(p.Script)
	switch {
	case strings.HasPrefix(s, "https://") && !c.IPXE.Has(IPXEFeatureHTTPS):
		return p.ScriptFallback
	case strings.HasPrefix(s, "http://") && !c.IPXE.Has(IPXEFeatureHTTP):
		return p.ScriptFallback
	}
	return p.Script
}

func joinURL(base, name string) string {
	if strings.HasSuffix(base, "/") {
		return base + strings.TrimLeft(name, "/")
	}
	return base + "/" + strings.TrimLeft(name, "/")
}
