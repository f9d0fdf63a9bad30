package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/iscsi"
)

// FuzzMacOfTarget feeds target names as an initiator sends them at login: any
// name is either refused with ErrTargetNotFound or maps to a MAC whose own target
// name is the input (up to case), so one machine's name never opens another's disk.
func FuzzMacOfTarget(f *testing.F) {
	for _, s := range []string{
		targetName(mac1), strings.ToUpper(targetName(mac2)),
		targetPrefix, targetPrefix + "52:54:00:12:34:56", targetPrefix + "5254.0012.3456",
		targetPrefix + "52-54-00-12-34-56-78", targetPrefix + "52-54-00-12-34-5", "", "iqn.",
		initiatorName(mac1), targetPrefix + "52-54-00-12-34-5\u0130",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		mac, err := macOfTarget(name)
		if err != nil {
			require.ErrorIs(t, err, iscsi.ErrTargetNotFound)
			return
		}
		require.Len(t, mac, 6)
		require.Equal(t, strings.ToLower(name), targetName(mac))
	})
}
