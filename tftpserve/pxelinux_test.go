package tftpserve

import (
	"context"
	"io/fs"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The example from the PXELINUX documentation (syslinux wiki).
var (
	pxeUUID = "b8945908-d6a6-41a9-611d-74a6ab80b83d"
	pxeMAC  = net.HardwareAddr{0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd}
	pxeIP   = netip.MustParseAddr("192.168.2.91")
)

func TestPXELinuxConfigNames(t *testing.T) {
	want := []string{
		"pxelinux.cfg/b8945908-d6a6-41a9-611d-74a6ab80b83d",
		"pxelinux.cfg/01-88-99-aa-bb-cc-dd",
		"pxelinux.cfg/C0A8025B",
		"pxelinux.cfg/C0A8025",
		"pxelinux.cfg/C0A802",
		"pxelinux.cfg/C0A80",
		"pxelinux.cfg/C0A8",
		"pxelinux.cfg/C0A",
		"pxelinux.cfg/C0",
		"pxelinux.cfg/C",
		"pxelinux.cfg/default",
	}
	got := PXELinuxConfigNames("", strings.ToUpper(pxeUUID), pxeMAC, pxeIP)
	require.Equal(t, want, got)
	assert.Equal(t, []string{"bios/pxelinux.cfg/default"}, PXELinuxConfigNames("bios/", "", nil, netip.Addr{}))

	kinds := []PXELinuxKind{PXELinuxUUID, PXELinuxMAC}
	for range 8 {
		kinds = append(kinds, PXELinuxIPPrefix)
	}
	kinds = append(kinds, PXELinuxDefault)
	for i, name := range got {
		l, ok := ParsePXELinuxName(name)
		require.True(t, ok, name)
		assert.Equal(t, kinds[i], l.Kind, name)
		switch l.Kind {
		case PXELinuxUUID:
			assert.Equal(t, pxeUUID, l.UUID)
		case PXELinuxMAC:
			assert.Equal(t, pxeMAC, l.MAC)
			assert.Equal(t, byte(1), l.HardwareType)
		case PXELinuxIPPrefix:
			assert.True(t, l.Prefix.Contains(pxeIP), "%s: %v", name, l.Prefix)
			assert.Equal(t, 4*(len(name)-len("pxelinux.cfg/")), l.Prefix.Bits())
		}
	}
	l, ok := ParsePXELinuxName("bios/efi/pxelinux.cfg/C0A8")
	require.True(t, ok)
	assert.Equal(t, "bios/efi", l.Dir)
	assert.Equal(t, "192.168.0.0/16", l.Prefix.String())
	for _, bad := range []string{"default", "pxelinux.cfg", "pxelinux.cfg/c0a8", "pxelinux.cfg/C0A8025B0", "pxelinux.cfg/01-88-99-aa-bb-cc", "pxelinux.cfg/01:88:99:aa:bb:cc:dd", "xpxelinux.cfg/default", "pxelinux.cfg/zz-88-99-aa-bb-cc-dd", "pxelinux.cfg/"} {
		_, ok := ParsePXELinuxName(bad)
		assert.False(t, ok, bad)
	}
}

// TestPXELinuxLookup plays the client's whole lookup sequence against a
// PXELinux handler, over the wire, for a known and an unknown machine.
func TestPXELinuxLookup(t *testing.T) {
	checkGoroutines(t)
	known := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
	var mu sync.Mutex
	var seen []PXELinuxKind
	h := &PXELinux{
		Config: func(ctx context.Context, req *Request, l PXELinuxLookup) (Content, error) {
			mu.Lock()
			seen = append(seen, l.Kind)
			mu.Unlock()
			if l.Kind == PXELinuxMAC && l.MAC.String() == known.String() && req.MAC.String() == known.String() {
				return String("LABEL known\n"), nil
			}
			return Content{}, fs.ErrNotExist
		},
		Files: fstest.MapFS{
			"pxelinux.cfg/default": {Data: []byte("LABEL default\n")},
			"pxelinux.cfg/7F":      {Data: []byte("LABEL loopback-net\n")},
		},
		Next: FileServer(fstest.MapFS{"pxelinux.0": {Data: []byte("nbp")}}),
	}
	addr := startServer(t, &Server{Handler: h}, "127.0.0.1")

	// lookup returns the first name that is served, as PXELINUX does.
	lookup := func(mac net.HardwareAddr, ip netip.Addr) (string, string) {
		for _, name := range PXELinuxConfigNames("", pxeUUID, mac, ip) {
			got, _, err := goGet(addr, name, 0, true)
			if err == nil {
				return name, string(got)
			}
			require.ErrorContains(t, err, "file not found", name)
		}
		return "", ""
	}
	name, cfg := lookup(known, netip.MustParseAddr("127.0.0.1"))
	assert.Equal(t, "pxelinux.cfg/01-52-54-00-00-00-01", name)
	assert.Equal(t, "LABEL known\n", cfg)
	mu.Lock()
	assert.Equal(t, []PXELinuxKind{PXELinuxUUID, PXELinuxMAC}, seen)
	mu.Unlock()

	name, cfg = lookup(net.HardwareAddr{2, 0, 0, 0, 0, 2}, netip.MustParseAddr("127.0.0.1"))
	assert.Equal(t, "pxelinux.cfg/7F", name)
	assert.Equal(t, "LABEL loopback-net\n", cfg)

	name, cfg = lookup(net.HardwareAddr{2, 0, 0, 0, 0, 2}, pxeIP)
	assert.Equal(t, "pxelinux.cfg/default", name)
	assert.Equal(t, "LABEL default\n", cfg)

	got, _, err := goGet(addr, "pxelinux.0", 0, false)
	require.NoError(t, err)
	assert.Equal(t, "nbp", string(got))
}

// FuzzParsePXELinuxName checks that parsing never panics and that what
// it accepts is consistent with the name.
func FuzzParsePXELinuxName(f *testing.F) {
	for _, s := range PXELinuxConfigNames("bios", pxeUUID, pxeMAC, pxeIP) {
		f.Add(s)
	}
	f.Add("pxelinux.cfg/")
	f.Add("a/pxelinux.cfg/01-zz-00-00-00-00-00")
	f.Fuzz(func(t *testing.T, name string) {
		l, ok := ParsePXELinuxName(name)
		if !ok {
			return
		}
		if !strings.Contains(name, "pxelinux.cfg/") {
			t.Fatalf("accepted %q without pxelinux.cfg/", name)
		}
		switch l.Kind {
		case PXELinuxMAC:
			if len(l.MAC) != 6 {
				t.Fatalf("%q: MAC %v", name, l.MAC)
			}
		case PXELinuxIPPrefix:
			if !l.Prefix.IsValid() || l.Prefix.Bits() < 4 || l.Prefix.Bits() > 32 || l.Prefix.Masked() != l.Prefix {
				t.Fatalf("%q: prefix %v", name, l.Prefix)
			}
		case PXELinuxUUID:
			if len(l.UUID) != 36 || l.UUID != strings.ToLower(l.UUID) {
				t.Fatalf("%q: uuid %q", name, l.UUID)
			}
		case PXELinuxDefault:
		default:
			t.Fatalf("%q: kind %v", name, l.Kind)
		}
	})
}
