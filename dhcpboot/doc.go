// Package dhcpboot answers network-boot DHCP requests: BIOS and UEFI PXE
// ROMs, UEFI HTTP Boot and iPXE.
//
// # Three layers
//
// The package keeps what a request says, what to answer and where it runs
// apart, so each can be tested alone:
//
//  1. Classify reads a *dhcpv4.DHCPv4 request and returns a Client: MAC,
//     architectures (option 93, or the Arch field of option 60), machine
//     GUID (97), NDI (94), vendor and user classes, relay, option 175, and
//     the Stage asking: a firmware PXE client, iPXE, or UEFI HTTP Boot.
//     It is pure and lenient: the firmware quirks seen in the field are
//     encoded there and tested against captured packets.
//  2. A Policy maps a Client to a Boot decision (file or URL, next server,
//     root path, extra options, or Ignore). Chainload is the classic
//     policy: PXE ROM → iPXE binary over TFTP, HTTP Boot → iPXE over HTTP,
//     iPXE → script URL. PolicyFunc adapts a plain function.
//  3. WriteReply writes a Boot into a reply following the rules boot ROMs
//     need (file field vs option 67, no option 52, option 60 and 43, 97
//     echo). Handler ties the three together for any server built on
//     insomniacslk/dhcp; Handler4 has the coredhcp plugin shape.
//
// # Where it runs
//
//   - Embedded in an existing Go DHCP server: Handler4(policy) or
//     (&Handler{...}).Answer. See examples/coredhcp for a coredhcp plugin.
//   - Beside an existing DHCP server that keeps handing out addresses:
//     ProxyServer (proxyDHCP on ports 67 and 4011, bound to one interface,
//     sharing port 67 with the host's DHCP server).
//   - On a network without DHCP: Server, a small lab DHCP server with an
//     address range, reservations and crash-safe lease storage.
//   - With a DHCP server you must keep: WriteConfig prints the equivalent
//     dnsmasq, ISC dhcpd or Kea configuration for a Chainload policy.
//   - DHCPv6: Handler6 answers boot file URL (59) and parameters (60).
//
// # Wiring a server (what examples/minimal does)
//
//	policy := &dhcpboot.Chainload{
//		TFTPServer: tftpIP,                        // siaddr for PXE ROMs
//		NBP:        map[iana.Arch]string{7: "snponly.efi"}, // optional overrides
//		HTTPBase:   "http://" + httpAddr + "/",    // UEFI HTTP Boot, optional
//		Script:     "http://" + httpAddr + "/boot.ipxe?mac=${net0/mac}&uuid=${uuid}&arch=${buildarch}",
//	}
//	// -dhcp proxy: beside the network's DHCP server.
//	proxy := &dhcpboot.ProxyServer{Interface: ifname, Addr: ip, Policy: policy}
//	// -dhcp lab -range FIRST-LAST: our own DHCP server.
//	lab := &dhcpboot.Server{Interface: ifname, Addr: ip, RangeStart: first, RangeEnd: last,
//		LeaseFile: path, Policy: policy}
//	// -print-config dnsmasq|dhcpd|kea: for people who keep their server.
//	dhcpboot.WriteConfig(os.Stdout, policy, dhcpboot.ExportOptions{Format: dhcpboot.FormatKea, Subnet: subnet})
//
// iPXE expands ${…} settings in the filename it receives, so the Script
// URL may carry per-machine templates (${net0/mac}, ${uuid}, ${buildarch},
// ${platform}); Chainload passes it through verbatim. Both servers follow
// net/http: ListenAndServe, Serve with your own sockets, Shutdown(ctx),
// Close, a *slog.Logger and hook funcs (OnLease, OnRelease, OnReply,
// Handler.OnDecision).
//
// ProxyServer shares port 67 with a DHCP server on the same host: when the
// port is taken it listens through a raw packet socket (as pixiecore's
// "no bind" mode), so the other server keeps receiving every datagram,
// unicast renewals included. Server commits every lease to its LeaseFile
// with fsync before the ACK is sent (group commit per batch of requests).
//
// # The chainload loop
//
// A PXE ROM gets undionly.kpxe or ipxe.efi; that iPXE then sends its own
// DHCP request, which still carries option 60 "PXEClient" and option 93.
// If the server looked only at those it would hand out iPXE again, forever.
// Classify therefore tests for iPXE first (user class "iPXE", raw or
// RFC 3004 encoded, or option 175, which only iPXE sends) and Chainload
// answers iPXE with the script URL.
//
// # Quirks handled
//
//   - option 93 value 9 means x64 UEFI on old firmware (RFC 4578 erratum);
//     Client.Arch reports 7.
//   - iPXE's user class is the raw 4 bytes "iPXE", not RFC 3004 tuples.
//   - option 97 may be missing or malformed: the client is still served.
//   - trailing NULs and 0xFF bytes in strings are trimmed.
//   - UEFI PXE clients in proxy mode get an offer without option 43 and
//     without file, and come back on port 4011 (EDK2 behaviour); the 4011
//     answer leaves from port 4011 to the client's source port.
//   - a chainloaded iPXE still sends "PXEClient" in option 60: the stage
//     comes from the user class / option 175, not from option 60.
//   - names longer than the 127-byte file field go in option 67 only;
//     option 52 (overload) is never sent.
package dhcpboot
