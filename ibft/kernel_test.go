package ibft

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
)

// guestDump is the guest's /init body: it prints every attribute under
// /sys/firmware/ibft as "ibft-attr <path> <hex bytes>" (hex, so a missing
// newline or a stray byte shows), every symlink as "ibft-link <path>
// <target>", the raw ACPI table the kernel found as "ibft-acpi <name>
// <hex>", and, when the initramfs has open-iscsi's iscsistart, the record
// `iscsistart -f` prints as "ibft-oi <line>"; then "ibft-done".
const guestDump = `
[ -d /sys/firmware/efi ] && echo "ibft-efi-boot"
cd /sys/firmware/ibft 2>/dev/null || echo "ibft-missing"
for f in $(find . -type f | sort); do
	echo "ibft-attr ${f#./} $(hexdump -v -e '1/1 "%02x"' "$f")"
done
for f in $(find . -type l | sort); do
	echo "ibft-link ${f#./} $(readlink "$f")"
done
for s in iBFT IBFT BIFT; do
	f=/sys/firmware/acpi/tables/$s
	[ -f "$f" ] && echo "ibft-acpi $s $(hexdump -v -e '1/1 "%02x"' "$f")"
done
if command -v iscsistart >/dev/null; then
	iscsistart -f 2>&1 | sed 's/^/ibft-oi /'
fi
echo "ibft-done"
`

// guestView is what the guest printed.
type guestView struct {
	attrs map[string]string // path → content
	links map[string]string // path → link target
	acpi  map[string][]byte // signature → raw table
	oi    []string          // iscsistart -f output lines
	efi   bool              // the kernel was booted through EFI
}

func parseGuestDump(t *testing.T, out string) guestView {
	t.Helper()
	v := guestView{attrs: map[string]string{}, links: map[string]string{}, acpi: map[string][]byte{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		i := strings.Index(line, "ibft-")
		if i < 0 {
			continue
		}
		if rest, ok := strings.CutPrefix(line[i:], "ibft-oi "); ok {
			v.oi = append(v.oi, rest)
			continue
		}
		if strings.HasPrefix(line[i:], "ibft-efi-boot") {
			v.efi = true
			continue
		}
		f := strings.Fields(line[i:])
		if len(f) < 2 {
			continue
		}
		val := ""
		if len(f) > 2 {
			val = f[2]
		}
		switch f[0] {
		case "ibft-attr":
			b, err := hex.DecodeString(val)
			require.NoError(t, err, line)
			v.attrs[f[1]] = string(b)
		case "ibft-link":
			v.links[f[1]] = val
		case "ibft-acpi":
			b, err := hex.DecodeString(val)
			require.NoError(t, err, line)
			v.acpi[f[1]] = b
		}
	}
	return v
}

// bootWithTable boots the Debian kernel with table installed by QEMU as an
// ACPI table, loads iscsi_ibft, and returns what the guest saw.
func bootWithTable(t *testing.T, name string, fw lab.Firmware, table []byte) guestView {
	t.Helper()
	lab.Require(t, "qemu-system-x86_64")
	k := lab.Kernel(t)
	rd := lab.NewInitramfs(guestDump)
	// e1000 gives the NIC at 00:03.0 a net device: open-iscsi drops a
	// NIC whose PCI device has none.
	require.NoError(t, rd.AddModules(k, "iscsi_ibft", "e1000"))
	if p := iscsistartPath(); p != "" {
		_, err := rd.AddBinary(p)
		require.NoError(t, err)
	}
	initrd := rd.Build(t)
	file := filepath.Join(t.TempDir(), name+".bin")
	require.NoError(t, os.WriteFile(file, table, 0o644))
	vm := lab.Boot(t, lab.Machine{
		Name:     "ibft-" + name,
		Firmware: fw,
		Kernel:   k.Vmlinuz,
		Initrd:   initrd,
		// An e1000 pinned at 00:03.0 (user networking, restrict=on, no
		// ROM), so Linux can link ethernetN/device to the NIC's PCI
		// function. lab.NIC has no PCI address field, hence plain Args.
		Args: []string{
			"-netdev", "user,id=ibftnic,restrict=on",
			"-device", "e1000,netdev=ibftnic,addr=03.0,romfile=",
			"-acpitable", "file=" + file,
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	_, err := vm.WaitFor(ctx, "ibft-done")
	require.NoError(t, err, "guest output:\n%s", vm.Output())
	out := vm.Output()
	require.NotContains(t, out, "ibft-missing", "the kernel did not show the table:\n%s", out)
	require.NotContains(t, out, "lab: insmod", "a module failed to load:\n%s", out)
	return parseGuestDump(t, out)
}

// TestLinuxKernelReadsOurTables is the decisive check: Linux's own
// iscsi_ibft driver reads tables we built (installed with QEMU's
// -acpitable) and every attribute it shows under /sys/firmware/ibft is
// compared byte for byte with what we built, and with ReadSysfs. The raw
// ACPI table the kernel found is compared with our bytes.
func TestLinuxKernelReadsOurTables(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	t.Parallel()
	full := fullTable()
	full.Signature = SignatureACPI
	broadcom := workedExample()
	broadcom.Signature = SignatureBroadcom
	// A table with defects Linux skips rather than rejects: the target
	// structure's id is 5 (extensions) and the NIC structure's length is
	// 100. Linux shows only the initiator; ParseLenient agrees.
	skip, err := workedExample().MarshalBinary()
	require.NoError(t, err)
	skip[0x110] = 5
	skip[0xa2] = 100
	skip[9] = 0
	skip[9] = -sum(skip)
	skipTable, skipped, err := ParseLenient(skip)
	require.NoError(t, err)
	require.Len(t, skipped, 2)
	require.Empty(t, skipTable.NICs)
	require.Empty(t, skipTable.Targets)
	require.NotNil(t, skipTable.Initiator)

	cases := []struct {
		name string
		tb   *Table
		raw  []byte // bytes to install; nil = tb.MarshalBinary()
		fw   lab.Firmware
	}{
		{"worked", workedExample(), nil, lab.BIOS},
		{"full", full, nil, lab.BIOS},
		{"ipxe", ipxeFixtureTable(), ipxeFixture(t), lab.BIOS},
		{"bift", broadcom, nil, lab.BIOS},
		{"lenient", skipTable, skip, lab.BIOS},
		// On an EFI boot Linux only looks at ACPI (ibft.md §5).
		{"uefi", workedExample(), nil, lab.UEFI},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			raw := c.raw
			if raw == nil {
				var err error
				raw, err = c.tb.MarshalBinary()
				require.NoError(t, err)
			}
			g := bootWithTable(t, c.name, c.fw, raw)
			require.Equal(t, c.fw == lab.UEFI, g.efi, "booted through EFI")

			// The kernel found our table, unchanged.
			sig := c.tb.Signature.String()
			require.Contains(t, g.acpi, sig, "ACPI tables seen: %v", keys(g.acpi))
			assert.Equal(t, raw, g.acpi[sig], "the table the kernel found is our bytes")

			// Every attribute, byte for byte, and no others.
			want := linuxSysfsView(c.tb)
			assert.Equal(t, want, g.attrs)

			// The PCI link: 00:03.0 is the guest's e1000.
			for _, n := range c.tb.NICs {
				link := "ethernet" + string('0'+rune(n.Index)) + "/device"
				if n.PCI == (PCIAddress{Device: 3}) {
					assert.True(t, strings.HasSuffix(g.links[link], "/0000:00:03.0"), "%s → %q", link, g.links[link])
				} else {
					assert.NotContains(t, g.links, link, "no PCI function %v in the guest", n.PCI)
				}
			}

			// ReadSysfs over what the kernel showed.
			fsys := fstest.MapFS{}
			for p, data := range g.attrs {
				fsys[p] = &fstest.MapFile{Data: []byte(data), Mode: 0o400}
			}
			for p, dst := range g.links {
				fsys[p] = &fstest.MapFile{Data: []byte(dst), Mode: fs.ModeSymlink | 0o777}
			}
			got, err := ReadSysfs(fsys)
			require.NoError(t, err)
			wantTable := sysfsVisible(c.tb)
			for i := range wantTable.NICs {
				if _, ok := g.links["ethernet"+string('0'+rune(wantTable.NICs[i].Index))+"/device"]; ok {
					wantTable.NICs[i].PCI = c.tb.NICs[i].PCI
				}
			}
			assert.Equal(t, wantTable, got)

			t.Run("iscsistart", func(t *testing.T) {
				if iscsistartPath() == "" {
					t.Skip("iscsistart not installed (Debian package open-iscsi)")
				}
				checkISCSIStart(t, c.tb, g.oi)
			})
		})
	}
}

// checkISCSIStart checks the records open-iscsi's `iscsistart -f` printed
// from the kernel's view of tb: one per target, in index order, with the
// NIC the target's NIC field names (ibft.md §8: keys printed only when
// non-empty; addresses and the LUN as sysfs shows them).
func checkISCSIStart(t *testing.T, tb *Table, lines []string) {
	t.Helper()
	all := strings.Join(lines, "\n")
	var recs []map[string]string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "# BEGIN RECORD"):
			recs = append(recs, map[string]string{})
		case len(recs) > 0:
			if k, v, ok := strings.Cut(l, " = "); ok {
				recs[len(recs)-1][strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	var targets []Target
	for _, tg := range tb.Targets {
		if tb.NIC(tg.NIC) != nil {
			targets = append(targets, tg)
		}
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].Index < targets[j].Index })
	require.Len(t, recs, len(targets), "records printed:\n%s", all)
	addr := func(s string) netip.Addr { a, _ := netip.ParseAddr(s); return a }
	view := linuxSysfsView(tb)
	for i, tg := range targets {
		rec, nic := recs[i], tb.NIC(tg.NIC)
		want := map[string]string{
			"iface.initiatorname": tb.Initiator.Name,
			"iface.hwaddress":     nic.MAC.String(),
			"node.name":           tg.Name,
			"node.conn[0].port":   strconv.Itoa(int(tg.Port)),
			"node.boot_lun":       strings.TrimSpace(view[fmt.Sprintf("target%d/lun", tg.Index)]),
		}
		if tg.CHAPName != "" {
			want["node.session.auth.username"] = cut(tg.CHAPName)
			want["node.session.auth.password"] = cut(tg.CHAPSecret)
		}
		if tg.ReverseCHAPName != "" {
			want["node.session.auth.username_in"] = cut(tg.ReverseCHAPName)
			want["node.session.auth.password_in"] = cut(tg.ReverseCHAPSecret)
		}
		for k, v := range want {
			assert.Equal(t, v, rec[k], "record %d %s in\n%s", i, k, all)
		}
		assert.Equal(t, nic.IP, addr(rec["iface.ipaddress"]), "record %d iface.ipaddress", i)
		assert.Equal(t, tg.IP, addr(rec["node.conn[0].address"]), "record %d node.conn[0].address", i)
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

// iscsistartPath finds open-iscsi's iscsistart, which lives in /usr/sbin
// (not always on a non-root $PATH); "" when it is not installed.
func iscsistartPath() string {
	if p, err := exec.LookPath("iscsistart"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/iscsistart", "/sbin/iscsistart"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
