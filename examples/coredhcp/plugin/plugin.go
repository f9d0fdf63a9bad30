// Package netboot is a coredhcp plugin that answers network-boot clients
// with github.com/netbootkit/netboot/dhcpboot: BIOS/UEFI PXE ROMs get iPXE
// over TFTP, UEFI HTTP Boot gets iPXE over HTTP, and iPXE gets the script
// URL (no chainload loop). It adds boot options only; put it after the
// address plugins (range, file) in the chain.
//
// Configuration (coredhcp YAML), all arguments key=value:
//
//	server4:
//	  plugins:
//	    - server_id: 10.0.0.1
//	    - range: leases.txt 10.0.0.100 10.0.0.200 1h
//	    - netboot: tftp=10.0.0.1 script=http://10.0.0.1:8080/boot.ipxe http=http://10.0.0.1:8080/ nbp=7:snponly.efi
//
// Keys: tftp (IPv4 TFTP server, siaddr), tftp6 (IPv6 TFTP server for
// DHCPv6), http (base URL for UEFI HTTP Boot), script (iPXE script URL),
// script-fallback, user-class (extra class meaning iPXE), root-path, and
// nbp=ARCH:FILE (repeatable; ARCH is the option 93 value, e.g. 0, 7, 11).
package netboot

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/coredhcp/coredhcp/handler"
	"github.com/coredhcp/coredhcp/plugins"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/netbootkit/netboot/dhcpboot"
)

// Plugin is the descriptor coredhcp (and coredhcp-generator) expects. It
// holds no state: every Setup call builds its own policy, so several
// servers or reloads never share configuration.
var Plugin = plugins.Plugin{
	Name:   "netboot",
	Setup4: Setup4,
	Setup6: Setup6,
}

// Setup4 parses the plugin arguments and returns the DHCPv4 handler.
func Setup4(args ...string) (handler.Handler4, error) {
	p, err := ParseArgs(args...)
	if err != nil {
		return nil, err
	}
	return dhcpboot.Handler4(p), nil
}

// Setup6 parses the plugin arguments and returns the DHCPv6 handler
// (options 59/60).
func Setup6(args ...string) (handler.Handler6, error) {
	p, err := ParseArgs(args...)
	if err != nil {
		return nil, err
	}
	return dhcpboot.Handler6(p), nil
}

// ParseArgs turns key=value plugin arguments into a Chainload policy.
func ParseArgs(args ...string) (*dhcpboot.Chainload, error) {
	p := &dhcpboot.Chainload{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("netboot: argument %q: want key=value", a)
		}
		switch k {
		case "tftp", "tftp6":
			ip, err := netip.ParseAddr(v)
			if err != nil {
				return nil, fmt.Errorf("netboot: %s: %w", k, err)
			}
			if k == "tftp" {
				if !ip.Is4() {
					return nil, fmt.Errorf("netboot: tftp=%s is not IPv4", v)
				}
				p.TFTPServer = ip
			} else {
				if !ip.Is6() || ip.Is4In6() {
					return nil, fmt.Errorf("netboot: tftp6=%s is not IPv6", v)
				}
				p.TFTPServer6 = ip
			}
		case "http":
			p.HTTPBase = v
		case "script":
			p.Script = v
		case "script-fallback":
			p.ScriptFallback = v
		case "user-class":
			p.UserClass = v
		case "root-path":
			p.RootPath = v
		case "nbp":
			as, file, ok := strings.Cut(v, ":")
			n, err := strconv.ParseUint(as, 10, 16)
			if !ok || err != nil || file == "" {
				return nil, fmt.Errorf("netboot: nbp=%s: want ARCH:FILE", v)
			}
			if p.NBP == nil {
				p.NBP = map[iana.Arch]string{}
			}
			p.NBP[iana.Arch(n)] = file
		default:
			return nil, fmt.Errorf("netboot: unknown argument %q", k)
		}
	}
	if !p.TFTPServer.IsValid() && !p.TFTPServer6.IsValid() && p.Script == "" && p.HTTPBase == "" {
		return nil, fmt.Errorf("netboot: nothing to answer: set tftp, http or script")
	}
	return p, nil
}
