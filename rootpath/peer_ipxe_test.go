package rootpath

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netbootkit/netboot/internal/lab"
)

// TestPeerIPXESanhook boots Debian's iPXE (ipxe.lkrn, which runs its kernel
// command line as a script) in QEMU with a user-mode network (restrict=on:
// nothing leaves QEMU) and runs "sanhook --no-describe <path>" for the
// String of each parsed value. Nothing answers, so every sanhook fails; what
// matters is how: iPXE reports a malformed root path as EINVAL (error class
// 0x1c) before it opens any connection, and anything else (connection reset,
// network unreachable, no such device, timeout) means iPXE accepted the
// text. Two known-bad paths check that the classification works.
func TestPeerIPXESanhook(t *testing.T) {
	if testing.Short() {
		t.Skip("boots iPXE in QEMU (about a minute under load)")
	}
	lkrn := filepath.Join(lab.IPXEDir, "ipxe.lkrn")
	lab.Require(t, "qemu-system-x86_64", lkrn)

	target223 := "iqn.2001-04.com.example:" + strings.Repeat("a", MaxNameLen-len("iqn.2001-04.com.example:"))
	inputs := []string{
		"iscsi:10.0.2.2:6:3261:4752-3A4F-6b7e-2F99:IQN.2001-04.com.example:storage:diskarrays-sn-a8675309",
		"iscsi:10.0.2.2:::1-7:eui.02004567A425678D",
		"iscsi:[2001:DB8::1]::3260::naa.52004567BA64678D",
		"iscsi:san.example.com::::iqn.2001-04.com.example:disk",
		"iscsi:10.0.2.2::::" + target223,
		"http://10.0.2.2/images/disk.img",
		"aoe:e1.10",
		"ib_srp::::fe800000000000000002c90300000001:ffff:0002c90300000002:0:0002c90300000003:0002c90300000004",
		"fcp:10:00:00:00:c9:12:34:56:1", // FCP may be compiled out: then "Operation not supported"
	}
	var paths []string
	for _, in := range inputs {
		rp, err := Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		paths = append(paths, rp.String())
	}
	controls := []string{"aoe:e1", "iscsi:10.0.2.2::"} // iPXE refuses these: EINVAL
	all := append(append([]string(nil), paths...), controls...)

	var script strings.Builder
	script.WriteString("echo RPSTART && ifopen net0 && set net0/ip 10.0.2.15 && set net0/netmask 255.255.255.0")
	for i, p := range all {
		fmt.Fprintf(&script, " && sanhook --no-describe %s || echo RPRESULT %d ${errno}", p, i)
	}
	script.WriteString(" && echo RPDONE")

	vm := lab.Boot(t, lab.Machine{
		Name:     "rootpath-ipxe",
		Kernel:   lkrn,
		Append:   script.String(),
		MemoryMB: 128,
		NICs:     []lab.NIC{{}}, // QEMU user network, restrict=on
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := vm.WaitFor(ctx, "RPDONE"); err != nil {
		t.Fatalf("iPXE did not finish the script: %v", err)
	}
	results := map[int]uint64{}
	for _, m := range regexp.MustCompile(`RPRESULT (\d+) 0x([0-9a-f]+)`).FindAllStringSubmatch(vm.Output(), -1) {
		i, _ := strconv.Atoi(m[1])
		code, _ := strconv.ParseUint(m[2], 16, 32)
		results[i] = code
	}
	const einvalClass, enotsupClass = 0x1c, 0x3c
	for i, p := range all {
		code, failed := results[i]
		isControl := i >= len(paths)
		switch {
		case !failed:
			t.Logf("iPXE attached %s (unexpected but not a parse failure)", p)
			if isControl {
				t.Errorf("iPXE accepted the known-bad %q", p)
			}
		case isControl && code>>24 != einvalClass:
			t.Errorf("control %q: iPXE error %#x, want EINVAL (0x1c……): the classification is wrong", p, code)
		case isControl:
			t.Logf("iPXE refused the known-bad %q as malformed (%#x), as expected", p, code)
		case code>>24 == einvalClass:
			t.Errorf("iPXE refused our canonical %q as malformed (error %#x, http://ipxe.org/%08x)", p, code, code)
		case code>>24 == enotsupClass:
			t.Logf("this iPXE build does not support %q (%#x): not checked", p, code)
		default:
			t.Logf("iPXE parsed %q, then failed with %#x (http://ipxe.org/%08x), as expected with no server", p, code, code)
		}
	}
}
