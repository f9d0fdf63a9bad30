package dhcpboot

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// addCaptureSeeds adds every DHCP payload of the test captures to f.
func addCaptureSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.pcap"))
	for _, file := range files {
		pkts, err := readPcap(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range pkts {
			f.Add(p.Payload)
		}
	}
	for _, mods := range [][]dhcpv4.Modifier{
		{vendorCl(biosVC), arch(0, 0), gen(97, uuid97)},
		{vendorCl("HTTPClient:Arch:00016"), arch(0, 16)},
		{userRaw("iPXE"), gen(175, ipxe175)},
		{vendorCl("PXEClient:Arch:0001"), arch(7)},
	} {
		d, _ := dhcpv4.NewDiscovery(testMAC, mods...)
		f.Add(d.ToBytes())
	}
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 300))
}

// FuzzClassify: arbitrary bytes never panic Classify, and a request it
// accepts has a stage.
func FuzzClassify(f *testing.F) {
	addCaptureSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		c, ok := Classify(req)
		if ok != (c.Stage != StageNone) {
			t.Fatalf("ok=%v but stage %v", ok, c.Stage)
		}
		if ok && req.OpCode != dhcpv4.OpcodeBootRequest {
			t.Fatalf("classified a non-request")
		}
		_ = c.UUID()
		_ = c.String()
		_, _, _, _ = c.IPXE.Version()
	})
}

// FuzzHandler runs the whole decision path (classify, Chainload policy,
// reply writing, proxy replies) on arbitrary bytes: no panic, and nothing
// is written for a request that is not a boot request.
func FuzzHandler(f *testing.F) {
	addCaptureSeeds(f)
	pol := &Chainload{
		TFTPServer: netip.MustParseAddr("10.0.0.1"),
		HTTPBase:   "http://10.0.0.1/",
		Script:     "http://10.0.0.1/boot.ipxe?mac=${net0/mac}",
	}
	h := &Handler{Policy: pol}
	p := &ProxyServer{Addr: netip.MustParseAddr("10.0.0.1"), Policy: pol}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		resp, err := dhcpv4.NewReplyFromRequest(req)
		if err != nil {
			return
		}
		before := resp.ToBytes()
		_, isBoot := Classify(req)
		out, stop := h.Handler4(req, resp)
		if stop || out != resp {
			t.Fatal("Handler4 must return resp and continue the chain")
		}
		if !isBoot && !bytes.Equal(before, resp.ToBytes()) {
			t.Fatal("reply changed for a non-boot request")
		}
		for _, port := range []int{67, 4011} {
			r := p.Reply(t.Context(), req, port)
			if r != nil && !isBoot {
				t.Fatalf("proxy answered a non-boot request on %d", port)
			}
			if r != nil {
				if r.YourIPAddr != nil && !r.YourIPAddr.IsUnspecified() {
					t.Fatal("proxy reply carries an address")
				}
				if _, err := dhcpv4.FromBytes(r.ToBytes()); err != nil {
					t.Fatalf("proxy reply does not parse: %v", err)
				}
			}
		}
	})
}

// FuzzServer feeds arbitrary bytes to the lab Server's reply logic: no
// panic, no reply to anything that is not a BOOTREQUEST, and every reply
// parses.
func FuzzServer(f *testing.F) {
	addCaptureSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		s := &Server{
			Addr:       netip.MustParseAddr("10.9.0.1"),
			RangeStart: netip.MustParseAddr("10.9.0.10"),
			RangeEnd:   netip.MustParseAddr("10.9.0.12"),
			Policy:     &Chainload{TFTPServer: netip.MustParseAddr("10.9.0.1"), Script: "http://10.9.0.1/s"},
		}
		resp, err := s.Handle(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if resp == nil {
			return
		}
		if req.OpCode != dhcpv4.OpcodeBootRequest {
			t.Fatal("replied to a non-request")
		}
		if _, err := dhcpv4.FromBytes(resp.ToBytes()); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
	})
}
