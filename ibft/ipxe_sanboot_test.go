package ibft

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
)

// Set IBFT_UPDATE_GOLDEN=1 to rewrite testdata/ipxe-sanboot.bin from the
// guest's dump.
const goldenIPXE = "testdata/ipxe-sanboot.bin"

// guestLowMemDump finds the iBFT iPXE left in base memory the way Linux's
// legacy scan does (16-byte steps, 0x80000–0xFFFFF) and prints it as
// "ibft-raw <hex>"; then it prints the sysfs view (guestDump).
const guestLowMemDump = `
dd if=/dev/mem of=/tmp/low.bin bs=4096 skip=128 count=128 2>/dev/null
hexdump -v -e '16/1 "%02x" "\n"' /tmp/low.bin > /tmp/low.hex
line=$(grep -n '^69424654' /tmp/low.hex | head -n1 | cut -d: -f1)
if [ -n "$line" ]; then
	off=$(( (line - 1) * 16 ))
	len=$(dd if=/tmp/low.bin bs=1 skip=$((off + 4)) count=4 2>/dev/null | hexdump -v -e '1/4 "%u"')
	echo "ibft-at $((0x80000 + off)) len $len"
	echo "ibft-raw $(dd if=/tmp/low.bin bs=1 skip=$off count=$len 2>/dev/null | hexdump -v -e '1/1 "%02x"')"
else
	echo "ibft-raw-missing"
fi
` + guestDump

// freeLoopbackPort returns a TCP port free on 127.0.0.1 at the time of the
// call.
func freeLoopbackPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startTgtd runs Debian's tgtd on 127.0.0.1 with a private control port and
// one target (LUN 1 on a sparse file) that requires mutual CHAP: the
// initiator logs in as user, the target answers as ruser.
func startTgtd(t *testing.T, iqn, user, secret, ruser, rsecret string) (port int) {
	lab.Require(t, "tgtd", "tgtadm")
	lab.RequireRoot(t)
	port = freeLoopbackPort(t)
	ctl := strconv.Itoa(10000 + rand.IntN(20000)) // tgtd refuses larger values
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "tgtd", "-f", "-C", ctl, "--iscsi", fmt.Sprintf("portal=127.0.0.1:%d", port))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // by PID
		cancel()
		<-done
		// A killed tgtd leaves its control socket and lock file behind.
		_ = os.Remove("/var/run/tgtd/socket." + ctl)
		_ = os.Remove("/var/run/tgtd/socket." + ctl + ".lock")
		if t.Failed() {
			t.Logf("tgtd output:\n%s", out.String())
		}
	})
	adm := func(args ...string) error {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		o, err := exec.CommandContext(c, "tgtadm", append([]string{"-C", ctl, "--lld", "iscsi"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("tgtadm %v: %w: %s", args, err, o)
		}
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := adm("--op", "show", "--mode", "sys")
		if err == nil {
			break
		}
		select {
		case <-done:
			t.Fatalf("tgtd exited: %s", out.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "tgtd not ready: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
	disk := filepath.Join(t.TempDir(), "disk.img")
	require.NoError(t, os.WriteFile(disk, nil, 0o644))
	require.NoError(t, os.Truncate(disk, 8<<20))
	for _, a := range [][]string{
		{"--op", "new", "--mode", "target", "--tid", "1", "--targetname", iqn},
		{"--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "--backing-store", disk},
		{"--op", "bind", "--mode", "target", "--tid", "1", "--initiator-address", "ALL"},
		{"--op", "new", "--mode", "account", "--user", user, "--password", secret},
		{"--op", "bind", "--mode", "account", "--tid", "1", "--user", user},
		{"--op", "new", "--mode", "account", "--user", ruser, "--password", rsecret},
		{"--op", "bind", "--mode", "account", "--tid", "1", "--user", ruser, "--outgoing"},
	} {
		require.NoError(t, adm(a...))
	}
	return port
}

// TestIPXESanbootTable has Debian's iPXE (the e1000 option ROM of
// ipxe-qemu) build a table for real: iPXE gets an address from QEMU's
// user-mode DHCP (restrict=on), logs in to tgtd with CHAP through a guest
// forward to 127.0.0.1 (mutual CHAP), hooks the disk with `sanhook` (which installs the
// iBFT in base memory), then boots the Debian kernel. The guest dumps the
// table from low memory and the kernel's sysfs view; we parse the dump,
// check every field against what iPXE was told, and check the sysfs view
// against our model of the kernel rendering the parsed table, and what
// open-iscsi's iscsistart -f makes of it.
func TestIPXESanbootTable(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	t.Parallel() // with the kernel tests: the machine waits on TCG, not on us
	lab.Require(t, "qemu-system-x86_64", lab.IPXEROMDir)
	const (
		targetIQN    = "iqn.2026-11.org.netbootkit:ibft-sanboot"
		initiatorIQN = "iqn.2026-11.org.netbootkit:ipxe-client"
		user         = "ipxeuser"
		secret       = "ipxesecret12"
		ruser        = "tgtuser"
		rsecret      = "targetsecret34"
	)
	tgtPort := startTgtd(t, targetIQN, user, secret, ruser, rsecret)

	k := lab.Kernel(t)
	rd := lab.NewInitramfs(guestLowMemDump)
	require.NoError(t, rd.AddModules(k, "iscsi_ibft", "e1000"))
	if p := iscsistartPath(); p != "" {
		_, err := rd.AddBinary(p)
		require.NoError(t, err)
	}
	initrd := rd.Build(t)

	script := strings.Join([]string{
		"#!ipxe",
		"echo ibft-ipxe-start",
		"set initiator-iqn " + initiatorIQN,
		"set username " + user,
		"set password " + secret,
		"set reverse-username " + ruser,
		"set reverse-password " + rsecret,
		"sanhook iscsi:10.0.2.100::3260:1:" + targetIQN + " || goto failed",
		"kernel http://10.0.2.100/vmlinuz " + lab.DefaultAppend + " edd=off || goto failed",
		"initrd http://10.0.2.100/initrd || goto failed",
		"boot",
		":failed",
		"echo ibft-ipxe-failed",
		"poweroff",
	}, "\n") + "\n"
	mux := http.NewServeMux()
	mux.HandleFunc("/boot.ipxe", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(script)) })
	mux.HandleFunc("/vmlinuz", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, k.Vmlinuz) })
	mux.HandleFunc("/initrd", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, initrd) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	httpPort := l.Addr().(*net.TCPAddr).Port

	netdev := fmt.Sprintf("user,id=ibftnet,restrict=on,hostname=client,bootfile=http://10.0.2.100/boot.ipxe,"+
		"guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:%d,guestfwd=tcp:10.0.2.100:3260-tcp:127.0.0.1:%d", httpPort, tgtPort)
	vm := lab.Boot(t, lab.Machine{
		Name:     "ibft-ipxe",
		MemoryMB: 512,
		Args: []string{
			"-netdev", netdev,
			"-device", "e1000,netdev=ibftnet,addr=03.0,mac=52:54:00:12:34:56,bootindex=1",
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m, err := vm.WaitForRegexp(ctx, regexp.MustCompile(`ibft-done|ibft-ipxe-failed`))
	require.NoError(t, err)
	require.Equal(t, "ibft-done", m[0], "iPXE failed:\n%s", vm.Output())
	out := vm.Output()
	require.NotContains(t, out, "ibft-raw-missing", "no iBFT in base memory")

	raw := regexp.MustCompile(`ibft-raw ([0-9a-f]+)`).FindStringSubmatch(out)
	require.NotNil(t, raw)
	b, err := hex.DecodeString(raw[1])
	require.NoError(t, err)
	if at := regexp.MustCompile(`ibft-at (\d+) len (\d+)`).FindStringSubmatch(out); at != nil {
		t.Logf("iPXE's iBFT at %s, %s bytes", at[1], at[2])
	}
	if os.Getenv("IBFT_UPDATE_GOLDEN") != "" {
		require.NoError(t, os.WriteFile(goldenIPXE, b, 0o644))
	}

	got, err := Parse(b)
	require.NoError(t, err, "\n%s", hex.Dump(b))
	checkIPXESanbootTable(t, got, tgtPortInGuest)

	// The kernel's view of iPXE's table equals our model of the kernel
	// rendering what we parsed.
	g := parseGuestDump(t, out)
	assert.Equal(t, linuxSysfsView(got), g.attrs)
	assert.True(t, strings.HasSuffix(g.links["ethernet0/device"], "/0000:00:03.0"), "ethernet0/device → %q", g.links["ethernet0/device"])
	t.Run("iscsistart", func(t *testing.T) {
		if iscsistartPath() == "" {
			t.Skip("iscsistart not installed (Debian package open-iscsi)")
		}
		checkISCSIStart(t, got, g.oi)
	})
}

const tgtPortInGuest = 3260

// checkIPXESanbootTable checks the fields of the table iPXE built in
// TestIPXESanbootTable.
func checkIPXESanbootTable(t *testing.T, got *Table, port uint16) {
	t.Helper()
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	assert.Equal(t, SignatureIBFT, got.Signature)
	assert.Equal(t, "FENSYS", got.OEMID)
	assert.Equal(t, "iPXE", got.OEMTableID)
	require.NotNil(t, got.Initiator)
	assert.Equal(t, Initiator{Flags: FlagValid | FlagBootSelected, Name: "iqn.2026-11.org.netbootkit:ipxe-client"}, *got.Initiator)
	require.Len(t, got.NICs, 1)
	assert.Equal(t, NIC{
		// QEMU's DHCP with restrict=on offers no router and no DNS server.
		Flags: FlagValid | FlagBootSelected, IP: netip.MustParseAddr("10.0.2.15"), PrefixLen: 24, Origin: OriginDHCP,
		DHCPServer: netip.MustParseAddr("10.0.2.2"), MAC: mac, PCI: PCIAddress{Device: 3}, Hostname: "client",
	}, got.NICs[0])
	require.Len(t, got.Targets, 1)
	assert.Equal(t, Target{
		Flags: FlagValid | FlagBootSelected, IP: netip.MustParseAddr("10.0.2.100"), Port: port, LUN: LUN{0, 1},
		Name: "iqn.2026-11.org.netbootkit:ibft-sanboot", CHAPType: CHAPMutual, CHAPName: "ipxeuser", CHAPSecret: "ipxesecret12",
		ReverseCHAPName: "tgtuser", ReverseCHAPSecret: "targetsecret34",
	}, got.Targets[0])
	assert.NoError(t, got.Validate())
	tg, _, ok := got.BootTarget()
	require.True(t, ok)
	assert.Equal(t, "iscsi:10.0.2.100:::1:iqn.2026-11.org.netbootkit:ibft-sanboot", tg.RootPath())
}

// TestIPXESanbootGolden parses the table dumped from iPXE by
// TestIPXESanbootTable, so the real iPXE bytes are checked on every run.
func TestIPXESanbootGolden(t *testing.T) {
	b, err := os.ReadFile(goldenIPXE)
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no " + goldenIPXE + " yet (IBFT_UPDATE_GOLDEN=1 go test -run TestIPXESanbootTable)")
	}
	require.NoError(t, err)
	got, err := Parse(b)
	require.NoError(t, err)
	checkIPXESanbootTable(t, got, tgtPortInGuest)
	// iPXE's fixed-slot layout: NIC at 0xa0, target at 0x180, strings at 0x200.
	assert.Equal(t, []byte{0x50, 0, 0xa0, 0, 0x80, 1, 0, 0, 0, 0}, b[0x30+8:0x30+18])

	// Our reading of iPXE's source (the hand-built fixture) reproduces the
	// real table byte for byte.
	assert.Equal(t, b, ipxeFixtureFrom(ipxeParams{
		initiator: "iqn.2026-11.org.netbootkit:ipxe-client", hostname: "client",
		target: "iqn.2026-11.org.netbootkit:ibft-sanboot", chapName: "ipxeuser", chapSecret: "ipxesecret12",
		reverseName: "tgtuser", reverseSecret: "targetsecret34",
		ip: [4]byte{10, 0, 2, 15}, dhcp: [4]byte{10, 0, 2, 2}, targetIP: [4]byte{10, 0, 2, 100},
	}))

	ours, err := got.MarshalBinary()
	require.NoError(t, err)
	back, err := Parse(ours)
	require.NoError(t, err)
	assert.Equal(t, got, back)
}
