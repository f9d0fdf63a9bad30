package dhcpboot

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
)

func testPolicy() *Chainload {
	return &Chainload{
		TFTPServer: netip.MustParseAddr("10.0.0.1"),
		HTTPBase:   "http://10.0.0.1:8080/ipxe/",
		Script:     "http://10.0.0.1:8080/boot.ipxe?mac=${net0/mac}",
	}
}

// answer runs Handler.Answer in mode on req and returns the reply as a
// client would parse it from the wire.
func answer(t *testing.T, p Policy, mode Mode, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, bool, error) {
	t.Helper()
	resp, err := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer))
	require.NoError(t, err)
	h := &Handler{Policy: p, Mode: mode}
	ok, aerr := h.Answer(context.Background(), req, resp)
	out, err := dhcpv4.FromBytes(resp.ToBytes())
	require.NoError(t, err)
	return out, ok, aerr
}

var prl6667 = dhcpv4.WithRequestedOptions(dhcpv4.OptionBootfileName, dhcpv4.OptionTFTPServerName, dhcpv4.OptionRootPath, dhcpv4.OptionVendorSpecificInformation)

func TestChainloadReplies(t *testing.T) {
	tests := []struct {
		name      string
		mods      []dhcpv4.Modifier
		file      string
		opt67     bool
		siaddr    net.IP
		vendor    string // option 60 in the reply
		opt43     []byte
		noPXEDHCP bool
		echo97    bool
	}{
		{name: "BIOS PXE ROM gets undionly.kpxe", mods: []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), gen(97, uuid97), prl6667},
			file: "undionly.kpxe", opt67: true, siaddr: net.IP{10, 0, 0, 1}, echo97: true},
		{name: "BIOS PXE ROM not requesting 67 gets the file field only", mods: []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0)},
			file: "undionly.kpxe", siaddr: net.IP{10, 0, 0, 1}},
		{name: "x64 UEFI gets ipxe.efi", mods: []dhcpv4.Modifier{vendorCl(uefiVC), arch(0, 7), prl6667},
			file: "ipxe.efi", opt67: true, siaddr: net.IP{10, 0, 0, 1}},
		{name: "x64 UEFI sending 9 gets ipxe.efi", mods: []dhcpv4.Modifier{vendorCl("PXEClient:Arch:00009:UNDI:003000"), arch(0, 9), prl6667},
			file: "ipxe.efi", opt67: true, siaddr: net.IP{10, 0, 0, 1}},
		{name: "arm64 UEFI gets its EFI binary", mods: []dhcpv4.Modifier{vendorCl("PXEClient:Arch:00011:UNDI:003000"), arch(0, 11), prl6667},
			file: "ipxe-arm64.efi", opt67: true, siaddr: net.IP{10, 0, 0, 1}},
		{name: "UEFI HTTP Boot gets an http URL and HTTPClient", mods: []dhcpv4.Modifier{vendorCl("HTTPClient:Arch:00016:UNDI:003000"), arch(0, 16)},
			file: "http://10.0.0.1:8080/ipxe/ipxe.efi", opt67: true, vendor: "HTTPClient"},
		{name: "iPXE (BIOS) gets the script and no-pxedhcp", mods: []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), userRaw("iPXE"), gen(175, ipxe175), prl6667},
			file: "http://10.0.0.1:8080/boot.ipxe?mac=${net0/mac}", opt67: true, noPXEDHCP: true},
		{name: "iPXE (EFI) gets the script", mods: []dhcpv4.Modifier{vendorCl(uefiVC), arch(0, 7), userRaw("iPXE")},
			file: "http://10.0.0.1:8080/boot.ipxe?mac=${net0/mac}", noPXEDHCP: true},
		{name: "gPXE is chainloaded to current iPXE", mods: []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), userRaw("gPXE")},
			file: "undionly.kpxe", siaddr: net.IP{10, 0, 0, 1}, noPXEDHCP: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, ok, err := answer(t, testPolicy(), ModeDHCP, wire(t, tt.mods...))
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, tt.file, resp.BootFileName)
			assert.Equal(t, tt.opt67, resp.Options.Has(dhcpv4.OptionBootfileName), "option 67 present")
			if tt.opt67 {
				assert.Equal(t, tt.file, resp.BootFileNameOption())
			}
			if tt.siaddr != nil {
				assert.Equal(t, tt.siaddr, resp.ServerIPAddr.To4())
			} else {
				assert.True(t, resp.ServerIPAddr.IsUnspecified())
			}
			assert.Equal(t, tt.vendor, resp.ClassIdentifier())
			assert.Equal(t, tt.opt43, resp.Options.Get(dhcpv4.OptionVendorSpecificInformation))
			assert.Equal(t, tt.noPXEDHCP, bytes.Equal(resp.Options.Get(OptionIPXE), []byte{0xb0, 1, 1}), "175.176")
			assert.Equal(t, tt.echo97, resp.Options.Has(dhcpv4.OptionClientMachineIdentifier))
			if tt.echo97 {
				assert.Equal(t, []byte(uuid97), resp.Options.Get(dhcpv4.OptionClientMachineIdentifier))
			}
			assert.False(t, resp.Options.Has(dhcpv4.OptionOptionOverload), "never option 52")
		})
	}
}

func TestChainloadRefusals(t *testing.T) {
	var logs bytes.Buffer
	p := testPolicy()
	p.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	for _, tt := range []struct {
		name string
		mods []dhcpv4.Modifier
		err  error
	}{
		{"unknown arch (s390)", []dhcpv4.Modifier{vendorCl("PXEClient:Arch:00031:UNDI:003000"), arch(0, 31)}, ErrUnknownArch},
		{"no arch at all", []dhcpv4.Modifier{vendorCl("PXEClient")}, ErrUnknownArch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			req := wire(t, tt.mods...)
			resp, ok, err := answer(t, p, ModeDHCP, req)
			assert.False(t, ok)
			assert.ErrorIs(t, err, tt.err)
			assert.Empty(t, resp.BootFileName)
			assert.False(t, resp.Options.Has(dhcpv4.OptionClassIdentifier))
			assert.Contains(t, logs.String(), "no boot answer")
			assert.Contains(t, logs.String(), "52:54:00:12:34:56")
		})
	}
	t.Run("HTTP Boot without HTTPBase", func(t *testing.T) {
		p := testPolicy()
		p.HTTPBase = ""
		_, ok, err := answer(t, p, ModeDHCP, wire(t, vendorCl("HTTPClient:Arch:00016"), arch(0, 16)))
		assert.False(t, ok)
		assert.ErrorIs(t, err, ErrUnknownArch)
	})
	t.Run("iPXE without Script", func(t *testing.T) {
		p := testPolicy()
		p.Script = ""
		_, ok, err := answer(t, p, ModeDHCP, wire(t, userRaw("iPXE")))
		assert.False(t, ok)
		assert.ErrorIs(t, err, ErrNoScript)
	})
	t.Run("NBP override disables an arch", func(t *testing.T) {
		p := testPolicy()
		p.NBP = map[iana.Arch]string{7: ""}
		_, ok, err := answer(t, p, ModeDHCP, wire(t, vendorCl(uefiVC), arch(0, 9)))
		assert.False(t, ok)
		assert.ErrorIs(t, err, ErrUnknownArch)
	})
	t.Run("plain client untouched", func(t *testing.T) {
		req := wire(t, vendorCl("udhcp 1.36"))
		resp, _ := dhcpv4.NewReplyFromRequest(req)
		before := resp.ToBytes()
		out, stop := Handler4(testPolicy())(req, resp)
		assert.False(t, stop)
		assert.Same(t, resp, out)
		assert.Equal(t, before, resp.ToBytes())
	})
}

func TestChainloadOptions(t *testing.T) {
	t.Run("snponly and per-MAC override", func(t *testing.T) {
		p := testPolicy()
		p.NBP = map[iana.Arch]string{7: "snponly.efi"}
		p.PerMAC = map[string]Boot{"52:54:00:12:34:56": {RootPath: "iscsi:10.0.0.1::::iqn.2026-01.test:disk"}}
		resp, ok, err := answer(t, p, ModeDHCP, wire(t, vendorCl(uefiVC), arch(0, 7), prl6667))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, "snponly.efi", resp.BootFileName)
		assert.Equal(t, "iscsi:10.0.0.1::::iqn.2026-01.test:disk", resp.RootPath())
	})
	t.Run("per-MAC ignore", func(t *testing.T) {
		p := testPolicy()
		p.PerMAC = map[string]Boot{"52:54:00:12:34:56": {Ignore: true}}
		_, ok, err := answer(t, p, ModeDHCP, wire(t, vendorCl(biosVC), arch(0, 0)))
		assert.NoError(t, err)
		assert.False(t, ok)
	})
	t.Run("per-MAC file rescues an unknown arch", func(t *testing.T) {
		p := testPolicy()
		p.PerMAC = map[string]Boot{"52:54:00:12:34:56": {File: "s390.img", NextServer: netip.MustParseAddr("10.0.0.9")}}
		resp, ok, err := answer(t, p, ModeDHCP, wire(t, vendorCl("PXEClient:Arch:00031"), arch(0, 31)))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, "s390.img", resp.BootFileName)
		assert.Equal(t, net.IP{10, 0, 0, 9}, resp.ServerIPAddr.To4())
	})
	t.Run("custom user class means iPXE", func(t *testing.T) {
		p := testPolicy()
		p.UserClass = "thinclient"
		resp, ok, err := answer(t, p, ModeDHCP, wire(t, vendorCl(biosVC), arch(0, 0), userRaw("thinclient")))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, p.Script, resp.BootFileName)
	})
	t.Run("iPXE without HTTP feature gets the fallback", func(t *testing.T) {
		p := testPolicy()
		p.ScriptFallback = "tftp://10.0.0.1/boot.ipxe"
		noHTTP := "\x15\x01\x01" // TFTP only
		resp, _, err := answer(t, p, ModeDHCP, wire(t, userRaw("iPXE"), gen(175, noHTTP)))
		require.NoError(t, err)
		assert.Equal(t, "tftp://10.0.0.1/boot.ipxe", resp.BootFileName)
		resp, _, err = answer(t, p, ModeDHCP, wire(t, userRaw("iPXE"), gen(175, ipxe175)))
		require.NoError(t, err)
		assert.Equal(t, p.Script, resp.BootFileName)
		p.Script = "https://10.0.0.1/boot.ipxe"
		resp, _, err = answer(t, p, ModeDHCP, wire(t, userRaw("iPXE"), gen(175, ipxe175)))
		require.NoError(t, err)
		assert.Equal(t, "tftp://10.0.0.1/boot.ipxe", resp.BootFileName, "build without HTTPS")
	})
	t.Run("root path only to clients that ask, or iPXE", func(t *testing.T) {
		p := testPolicy()
		p.RootPath = "nfs:10.0.0.1:/srv/root"
		resp, _, err := answer(t, p, ModeDHCP, wire(t, vendorCl(biosVC), arch(0, 0)))
		require.NoError(t, err)
		assert.False(t, resp.Options.Has(dhcpv4.OptionRootPath))
		resp, _, err = answer(t, p, ModeDHCP, wire(t, vendorCl(biosVC), arch(0, 0), dhcpv4.WithRequestedOptions(dhcpv4.OptionRootPath)))
		require.NoError(t, err)
		assert.Equal(t, "nfs:10.0.0.1:/srv/root", resp.RootPath())
	})
}

func TestWriteReplyLongNames(t *testing.T) {
	req := wire(t, userRaw("iPXE"))
	c, _ := Classify(req)
	long := "http://10.0.0.1/" + strings.Repeat("a", 150)
	resp, _ := dhcpv4.NewReplyFromRequest(req)
	require.NoError(t, WriteReply(req, resp, &c, Boot{File: long + "\x00\x00", ServerName: strings.Repeat("s", 70)}, ModeDHCP))
	out, err := dhcpv4.FromBytes(resp.ToBytes())
	require.NoError(t, err)
	assert.Empty(t, out.BootFileName, "file field stays empty for names over 127 bytes")
	assert.Equal(t, long, out.BootFileNameOption(), "trailing NULs trimmed")
	assert.Empty(t, out.ServerHostName)
	assert.Equal(t, strings.Repeat("s", 70), out.TFTPServerName())
	assert.False(t, out.Options.Has(dhcpv4.OptionOptionOverload))

	exact := strings.Repeat("f", 127)
	resp, _ = dhcpv4.NewReplyFromRequest(req)
	require.NoError(t, WriteReply(req, resp, &c, Boot{File: exact}, ModeDHCP))
	out, _ = dhcpv4.FromBytes(resp.ToBytes())
	assert.Equal(t, exact, out.BootFileName)

	resp, _ = dhcpv4.NewReplyFromRequest(req)
	err = WriteReply(req, resp, &c, Boot{File: strings.Repeat("x", 256)}, ModeDHCP)
	assert.ErrorIs(t, err, ErrTooLong)

	resp, _ = dhcpv4.NewReplyFromRequest(req)
	resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionOptionOverload, []byte{3}))
	extra := dhcpv4.OptionsFromList(dhcpv4.OptGeneric(dhcpv4.OptionOptionOverload, []byte{1}), dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(209), []byte("pxelinux.cfg/default")))
	require.NoError(t, WriteReply(req, resp, &c, Boot{File: "x", Options: extra}, ModeDHCP))
	assert.False(t, resp.Options.Has(dhcpv4.OptionOptionOverload))
	assert.Equal(t, []byte("pxelinux.cfg/default"), resp.Options.Get(dhcpv4.GenericOptionCode(209)))
}

func TestProxyReplies(t *testing.T) {
	self := netip.MustParseAddr("10.0.0.2")
	p := &ProxyServer{Addr: self, Policy: testPolicy()}
	ctx := context.Background()
	item := "\x47\x04\x80\x00\x00\x00\xff" // 43.71 boot item type 0x8000 layer 0

	t.Run("BIOS offer on 67 carries the file and 43", func(t *testing.T) {
		req := wire(t, vendorCl(biosVC), arch(0, 0), gen(97, uuid97))
		r := p.Reply(ctx, req, 67)
		require.NotNil(t, r)
		assert.Equal(t, dhcpv4.MessageTypeOffer, r.MessageType())
		assert.True(t, r.YourIPAddr.IsUnspecified(), "no address in a proxy offer")
		assert.False(t, r.Options.Has(dhcpv4.OptionIPAddressLeaseTime))
		assert.False(t, r.Options.Has(dhcpv4.OptionRouter))
		assert.False(t, r.Options.Has(dhcpv4.OptionSubnetMask))
		assert.Equal(t, net.IP{10, 0, 0, 2}, r.ServerIdentifier().To4())
		assert.Equal(t, "PXEClient", r.ClassIdentifier())
		assert.Equal(t, []byte{6, 1, 8, 255}, r.Options.Get(dhcpv4.OptionVendorSpecificInformation))
		assert.Equal(t, "undionly.kpxe", r.BootFileName)
		assert.Equal(t, net.IP{10, 0, 0, 1}, r.ServerIPAddr.To4())
		assert.Equal(t, []byte(uuid97), r.Options.Get(dhcpv4.OptionClientMachineIdentifier))
		assert.Equal(t, req.TransactionID, r.TransactionID)
	})
	t.Run("quirk: UEFI offer has no 43 and no file, so EDK2 asks on 4011", func(t *testing.T) {
		req := wire(t, vendorCl(uefiVC), arch(0, 7), gen(97, uuid97))
		r := p.Reply(ctx, req, 67)
		require.NotNil(t, r)
		assert.Equal(t, "PXEClient", r.ClassIdentifier())
		assert.False(t, r.Options.Has(dhcpv4.OptionVendorSpecificInformation))
		assert.Empty(t, r.BootFileName)
		assert.False(t, r.Options.Has(dhcpv4.OptionBootfileName))
		assert.Equal(t, []byte(uuid97), r.Options.Get(dhcpv4.OptionClientMachineIdentifier))

		req4011 := wire(t, vendorCl(uefiVC), arch(0, 7), gen(97, uuid97), gen(43, item),
			dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithClientIP(net.IP{10, 0, 0, 50}))
		ack := p.Reply(ctx, req4011, 4011)
		require.NotNil(t, ack)
		assert.Equal(t, dhcpv4.MessageTypeAck, ack.MessageType())
		assert.Equal(t, "ipxe.efi", ack.BootFileName)
		assert.Equal(t, net.IP{10, 0, 0, 1}, ack.ServerIPAddr.To4())
		assert.Equal(t, "PXEClient", ack.ClassIdentifier())
		assert.Equal(t, net.IP{10, 0, 0, 2}, ack.ServerIdentifier().To4())
		assert.Equal(t, []byte{6, 1, 8, 71, 4, 0x80, 0, 0, 0, 255}, ack.Options.Get(dhcpv4.OptionVendorSpecificInformation), "43.71 echoed")
		assert.Equal(t, []byte(uuid97), ack.Options.Get(dhcpv4.OptionClientMachineIdentifier))
		assert.True(t, ack.YourIPAddr.IsUnspecified())
	})
	t.Run("iPXE in proxy mode gets PXEClient and the script", func(t *testing.T) {
		r := p.Reply(ctx, wire(t, vendorCl(biosVC), arch(0, 0), userRaw("iPXE"), gen(175, ipxe175)), 67)
		require.NotNil(t, r)
		assert.Equal(t, "PXEClient", r.ClassIdentifier())
		assert.Equal(t, testPolicy().Script, r.BootFileName)
		assert.False(t, r.Options.Has(OptionIPXE), "no no-pxedhcp from the proxy itself")
	})
	t.Run("HTTP Boot offer", func(t *testing.T) {
		r := p.Reply(ctx, wire(t, vendorCl("HTTPClient:Arch:00016"), arch(0, 16)), 67)
		require.NotNil(t, r)
		assert.Equal(t, "HTTPClient", r.ClassIdentifier())
		assert.Equal(t, "http://10.0.0.1:8080/ipxe/ipxe.efi", r.BootFileNameOption())
	})
	for _, tt := range []struct {
		name string
		port int
		mods []dhcpv4.Modifier
	}{
		{"plain client", 67, []dhcpv4.Modifier{vendorCl("udhcp")}},
		{"REQUEST to the address server", 67, []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP{10, 0, 0, 254}))}},
		{"DISCOVER on 4011", 4011, []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0)}},
		{"RELEASE", 67, []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease)}},
		{"unknown arch", 67, []dhcpv4.Modifier{vendorCl("PXEClient:Arch:00031"), arch(0, 31)}},
		{"REQUEST for an address from a server on the proxy's host", 67, []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP{10, 0, 0, 2})), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IP{10, 0, 0, 77}))}},
		{"other port", 68, []dhcpv4.Modifier{vendorCl(biosVC), arch(0, 0)}},
	} {
		t.Run("silent: "+tt.name, func(t *testing.T) {
			assert.Nil(t, p.Reply(ctx, wire(t, tt.mods...), tt.port))
		})
	}
	t.Run("REQUEST selecting the proxy is acked", func(t *testing.T) {
		r := p.Reply(ctx, wire(t, vendorCl(biosVC), arch(0, 0), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP{10, 0, 0, 2}))), 67)
		require.NotNil(t, r)
		assert.Equal(t, dhcpv4.MessageTypeAck, r.MessageType())
	})
}

func TestReplyAddr(t *testing.T) {
	req := wire(t)
	resp, _ := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer))
	assert.Equal(t, "255.255.255.255:68", ReplyAddr(req, resp).String())
	req.ClientIPAddr = net.IP{10, 0, 0, 7}
	assert.Equal(t, "10.0.0.7:68", ReplyAddr(req, resp).String())
	nak, _ := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(dhcpv4.MessageTypeNak))
	assert.Equal(t, "255.255.255.255:68", ReplyAddr(req, nak).String())
	req.GatewayIPAddr = net.IP{10, 9, 0, 1}
	assert.Equal(t, "10.9.0.1:67", ReplyAddr(req, resp).String())
}

func TestPolicyFuncAndErrors(t *testing.T) {
	boom := errors.New("backend down")
	var got *Client
	p := PolicyFunc(func(_ context.Context, c *Client) (Boot, error) {
		got = c
		if c.Arch == 0 {
			return Boot{}, boom
		}
		return Boot{File: "x.efi"}, nil
	})
	var decided []error
	h := &Handler{Policy: p, OnDecision: func(_ *Client, _ Boot, err error) { decided = append(decided, err) }}
	req := wire(t, vendorCl(biosVC), arch(0, 0))
	resp, _ := dhcpv4.NewReplyFromRequest(req)
	ok, err := h.Answer(context.Background(), req, resp)
	assert.False(t, ok)
	assert.ErrorIs(t, err, boom)
	require.NotNil(t, got)
	assert.Equal(t, StagePXE, got.Stage)
	req = wire(t, vendorCl(uefiVC), arch(0, 7))
	ok, err = h.Answer(context.Background(), req, resp)
	assert.True(t, ok)
	assert.NoError(t, err)
	assert.Equal(t, "x.efi", resp.BootFileName)
	assert.Len(t, decided, 2)
}

// TestUDPPortFilter runs the raw-socket BPF program in x/net/bpf's VM on
// IPv4 packets.
func TestUDPPortFilter(t *testing.T) {
	prog, err := udpPortFilter(67)
	require.NoError(t, err)
	ins := make([]bpf.Instruction, len(prog))
	for i, r := range prog {
		ins[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(ins)
	require.NoError(t, err)
	pkt := func(proto byte, frag uint16, ihl int, dport uint16) []byte {
		b := make([]byte, ihl+8+4)
		b[0] = 0x40 | byte(ihl/4)
		b[6], b[7] = byte(frag>>8), byte(frag)
		b[9] = proto
		b[ihl+2], b[ihl+3] = byte(dport>>8), byte(dport)
		return b
	}
	for _, tt := range []struct {
		name string
		b    []byte
		keep bool
	}{
		{"udp to 67", pkt(17, 0, 20, 67), true},
		{"udp to 67 with IP options", pkt(17, 0, 24, 67), true},
		{"udp to 68", pkt(17, 0, 20, 68), false},
		{"tcp to 67", pkt(6, 0, 20, 67), false},
		{"later fragment", pkt(17, 5, 20, 67), false},
		{"don't-fragment flag set", pkt(17, 0x4000, 20, 67), true},
	} {
		n, err := vm.Run(tt.b)
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.keep, n > 0, tt.name)
	}
}
