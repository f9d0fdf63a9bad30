package dhcpboot

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/insomniacslk/dhcp/iana"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func exportPolicy() *Chainload {
	return &Chainload{
		TFTPServer: netip.MustParseAddr("10.77.0.1"),
		HTTPBase:   "http://10.77.0.1:8080/ipxe/",
		Script:     "http://10.77.0.1:8080/boot.ipxe?mac=${net0/mac}",
		NBP:        map[iana.Arch]string{iana.EFI_X86_64: "snponly.efi"},
		RootPath:   "iscsi:10.77.0.1::::iqn.2026-01.test:shared",
		PerMAC: map[string]Boot{
			"52:54:00:00:00:01": {File: "special.efi", NextServer: netip.MustParseAddr("10.77.0.9"), RootPath: "nfs:10.77.0.9:/root"},
			"52:54:00:00:00:02": {Ignore: true},
		},
	}
}

// TestWriteConfigPeersAccept renders each format (full server and
// boot-options-only) and runs the server's own configuration check.
func TestWriteConfigPeersAccept(t *testing.T) {
	full := ExportOptions{Interface: "eth0", Subnet: netip.MustParsePrefix("10.77.0.0/24"),
		RangeStart: netip.MustParseAddr("10.77.0.100"), RangeEnd: netip.MustParseAddr("10.77.0.199"), Router: netip.MustParseAddr("10.77.0.1")}
	bootOnly := ExportOptions{Interface: "eth0", Subnet: netip.MustParsePrefix("10.77.0.0/24")}
	checks := map[ConfigFormat]struct {
		tool, pkg string
		args      func(file string) []string
		want      []string
	}{
		FormatDnsmasq: {"dnsmasq", "dnsmasq", func(f string) []string { return []string{"--test", "--conf-file=" + f} },
			[]string{"dhcp-userclass=set:ipxe,iPXE", "dhcp-match=set:ipxe,175", "option:client-arch,9", "dhcp-host=52:54:00:00:00:02,set:noboot", "dhcp-host=52:54:00:00:00:01,set:override,set:mac525400000001"}},
		FormatISC: {"dhcpd", "isc-dhcp-server", func(f string) []string { return []string{"-4", "-t", "-cf", f} },
			[]string{`option user-class = "iPXE"`, "option client-arch = 9", `filename "snponly.efi"`, "hardware ethernet 52:54:00:00:00:01"}},
		FormatKea: {"kea-dhcp4", "kea-dhcp4-server", func(f string) []string { return []string{"-t", f} },
			[]string{`"boot-file-name": "http://10.77.0.1:8080/boot.ipxe?mac=${net0/mac}"`, "option[93].hex == 0x0009", `"hw-address": "52:54:00:00:00:01"`, "pkt4.mac == 0x525400000002"}},
	}
	for format, c := range checks {
		for name, o := range map[string]ExportOptions{"full": full, "boot-only": bootOnly} {
			t.Run(string(format)+"/"+name, func(t *testing.T) {
				o.Format = format
				var b bytes.Buffer
				require.NoError(t, WriteConfig(&b, exportPolicy(), o))
				for _, w := range c.want {
					assert.Contains(t, b.String(), w)
				}
				path, err := exec.LookPath(c.tool)
				if err != nil {
					for _, d := range []string{"/usr/sbin/", "/sbin/"} {
						if _, err2 := os.Stat(d + c.tool); err2 == nil {
							path, err = d+c.tool, nil
						}
					}
				}
				if err != nil {
					t.Skipf("%s not installed (Debian package %s)", c.tool, c.pkg)
				}
				file := filepath.Join(t.TempDir(), "conf")
				require.NoError(t, os.WriteFile(file, b.Bytes(), 0o644))
				out, err := exec.Command(path, c.args(file)...).CombinedOutput()
				require.NoError(t, err, "%s rejected:\n%s\n--- config ---\n%s", c.tool, out, b.String())
			})
		}
	}
}

func TestWriteConfigErrors(t *testing.T) {
	var b bytes.Buffer
	sub := netip.MustParsePrefix("10.0.0.0/24")
	assert.ErrorIs(t, WriteConfig(&b, nil, ExportOptions{Format: FormatKea, Subnet: sub}), ErrExport)
	assert.ErrorIs(t, WriteConfig(&b, exportPolicy(), ExportOptions{Format: "bind9", Subnet: netip.MustParsePrefix("10.77.0.0/24")}), ErrExport)
	assert.ErrorIs(t, WriteConfig(&b, exportPolicy(), ExportOptions{Format: FormatKea}), ErrExport)
	assert.ErrorIs(t, WriteConfig(&b, exportPolicy(), ExportOptions{Format: FormatKea, Subnet: sub, RangeStart: netip.MustParseAddr("10.0.0.5")}), ErrExport)
	assert.ErrorIs(t, WriteConfig(&b, exportPolicy(), ExportOptions{Format: FormatKea, Subnet: sub, RangeStart: netip.MustParseAddr("10.1.0.5"), RangeEnd: netip.MustParseAddr("10.1.0.9")}), ErrExport)
	bad := exportPolicy()
	bad.Script = "http://x/\"; evil"
	assert.ErrorIs(t, WriteConfig(&b, bad, ExportOptions{Format: FormatISC, Subnet: sub}), ErrExport)
	noTFTP := exportPolicy()
	noTFTP.TFTPServer = netip.Addr{}
	assert.ErrorIs(t, WriteConfig(&b, noTFTP, ExportOptions{Format: FormatDnsmasq, Subnet: sub}), ErrExport)
	assert.Zero(t, b.Len(), "nothing written on error")
}
