package dhcpboot

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func benchRequests(b *testing.B) map[string]*dhcpv4.DHCPv4 {
	return map[string]*dhcpv4.DHCPv4{
		"bios":  wire(b, vendorCl(biosVC), arch(0, 0), gen(97, uuid97), prl6667),
		"uefi":  wire(b, vendorCl(uefiVC), arch(0, 7), gen(97, uuid97), prl6667),
		"ipxe":  wire(b, vendorCl(biosVC), arch(0, 0), userRaw("iPXE"), gen(175, ipxe175), prl6667),
		"plain": wire(b, vendorCl("udhcp 1.36.1")),
	}
}

func BenchmarkClassify(b *testing.B) {
	for name, req := range benchRequests(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Classify(req)
			}
		})
	}
}

// BenchmarkHandler4 measures classify + Chainload + reply writing on a
// prepared reply (what an embedding server pays per request).
func BenchmarkHandler4(b *testing.B) {
	h := Handler4(&Chainload{
		TFTPServer: netip.MustParseAddr("10.0.0.1"),
		Script:     "http://10.0.0.1/boot.ipxe",
	})
	for name, req := range benchRequests(b) {
		b.Run(name, func(b *testing.B) {
			resp, _ := dhcpv4.NewReplyFromRequest(req)
			b.ReportAllocs()
			for b.Loop() {
				h(req, resp)
			}
		})
	}
}

// BenchmarkProxyReply measures a full proxyDHCP answer: parse the request
// bytes, decide, build and serialise the reply.
func BenchmarkProxyReply(b *testing.B) {
	p := &ProxyServer{Addr: netip.MustParseAddr("10.0.0.2"), Policy: &Chainload{TFTPServer: netip.MustParseAddr("10.0.0.1"), Script: "http://10.0.0.1/boot.ipxe"}}
	for name, req := range benchRequests(b) {
		raw := req.ToBytes()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r, _ := dhcpv4.FromBytes(raw)
				if out := p.Reply(context.Background(), r, 67); out != nil {
					_ = out.ToBytes()
				}
			}
		})
	}
}

// BenchmarkServerDORA measures the lab Server's decision logic for one
// DISCOVER+REQUEST pair (in-memory leases, no sockets, new client each
// time, PXE client so the boot policy runs too).
func BenchmarkServerDORA(b *testing.B) {
	s := &Server{
		Addr:       netip.MustParseAddr("10.0.0.1"),
		Subnet:     netip.MustParsePrefix("10.0.0.0/8"),
		RangeStart: netip.MustParseAddr("10.1.0.0"),
		RangeEnd:   netip.MustParseAddr("10.255.255.254"),
		Policy:     &Chainload{TFTPServer: netip.MustParseAddr("10.0.0.1"), Script: "http://10.0.0.1/boot.ipxe"},
	}
	disc := wire(b, vendorCl(biosVC), arch(0, 0))
	ctx := context.Background()
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		i++
		disc.ClientHWAddr = []byte{2, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		offer, _ := s.Handle(ctx, disc)
		req, _ := dhcpv4.NewRequestFromOffer(offer)
		if ack, _ := s.Handle(ctx, req); ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
			b.Fatal("no ACK")
		}
	}
}

// BenchmarkServerDORALeaseFile is BenchmarkServerDORA with a LeaseFile:
// Handle commits (appends and fsyncs) the journal after each message, so
// this is the per-exchange price of crash-safe leases when requests come
// one at a time (the socket server batches them: one fsync per batch). The
// journal lives in b.TempDir(), so the number depends on that file system.
func BenchmarkServerDORALeaseFile(b *testing.B) {
	s := &Server{
		Addr:       netip.MustParseAddr("10.0.0.1"),
		Subnet:     netip.MustParsePrefix("10.0.0.0/8"),
		RangeStart: netip.MustParseAddr("10.1.0.0"),
		RangeEnd:   netip.MustParseAddr("10.255.255.254"),
		Policy:     &Chainload{TFTPServer: netip.MustParseAddr("10.0.0.1"), Script: "http://10.0.0.1/boot.ipxe"},
		LeaseFile:  filepath.Join(b.TempDir(), "leases"),
	}
	disc := wire(b, vendorCl(biosVC), arch(0, 0))
	ctx := context.Background()
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		i++
		disc.ClientHWAddr = []byte{2, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		offer, err := s.Handle(ctx, disc)
		if err != nil {
			b.Fatal(err)
		}
		req, _ := dhcpv4.NewRequestFromOffer(offer)
		if ack, err := s.Handle(ctx, req); err != nil || ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
			b.Fatal("no ACK", err)
		}
	}
}
