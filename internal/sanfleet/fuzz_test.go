package sanfleet

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/iscsi"
)

// FuzzParseTarget feeds target names as an initiator sends them at login: a
// name is refused with ErrTargetNotFound or maps to an image and MAC whose own
// target name is the input (up to case), so one machine's name never opens
// another's disk, and the image is always a safe directory name.
func FuzzParseTarget(f *testing.F) {
	fl := &Fleet{TargetPrefix: tPrefix, InitiatorPrefix: iPrefix, Dir: "/o"}
	for _, s := range []string{
		fl.TargetName("", mac1), strings.ToUpper(fl.TargetName("win", mac2)), fl.TargetName("a.b-c", mac1),
		tPrefix, tPrefix + "52:54:00:12:34:56", tPrefix + "5254.0012.3456", tPrefix + ":52-54-00-12-34-56",
		tPrefix + "..:52-54-00-12-34-56", tPrefix + "a/b:52-54-00-12-34-56", tPrefix + "52-54-00-12-34-56-78",
		"", "iqn.", fl.InitiatorName(mac1), tPrefix + "52-54-00-12-34-5\u0130",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		image, mac, err := fl.ParseTarget(name)
		if err != nil {
			require.ErrorIs(t, err, iscsi.ErrTargetNotFound)
			return
		}
		require.Len(t, mac, 6)
		require.NoError(t, ValidImage(image))
		require.Equal(t, strings.ToLower(name), fl.TargetName(image, mac))
		require.NotContains(t, fl.OverlayPath(image, mac), "..")
	})
}
