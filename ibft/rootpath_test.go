package ibft

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/rootpath"
)

// TestRootPathAgainstRootpathPackage checks Target.RootPath against the
// project's RFC 4173 parser: it parses back to the same server, port, LUN
// bytes and target name, and is already in rootpath's canonical form.
func TestRootPathAgainstRootpathPackage(t *testing.T) {
	targets := []Target{
		workedExample().Targets[0],
		ipxeFixtureTable().Targets[0],
		fullTable().Targets[0],
		fullTable().Targets[1],
		{IP: netip.MustParseAddr("10.0.0.5"), Port: 65535, LUN: LUN{0, 1, 0, 7}, Name: "eui.02004567a425678d"},
		{IP: netip.MustParseAddr("fe80::1"), Port: 3260, LUN: LUN{7: 1}, Name: "naa.52004567ba64678d"},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		var l LUN
		for j := range l {
			if r.IntN(3) == 0 {
				l[j] = byte(r.UintN(256))
			}
		}
		targets = append(targets, Target{IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Port: uint16(1 + r.IntN(65535)), LUN: l,
			Name: "iqn.2024-01.org.example:t" + string(rune('a'+i%26))})
	}
	for _, tg := range targets {
		s := tg.RootPath()
		p, err := rootpath.ParseISCSI(s)
		require.NoError(t, err, s)
		assert.Equal(t, tg.IP.String(), p.Server, s)
		assert.Equal(t, tg.Port, p.Port, s)
		assert.Equal(t, [8]byte(tg.LUN), [8]byte(p.LUN), s)
		assert.Equal(t, tg.Name, p.Target, s)
		assert.Equal(t, s, p.String(), "canonical form")
		assert.Equal(t, tg.LUN.String(), p.LUN.String())
	}
}
