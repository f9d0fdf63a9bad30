package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
)

// mainEnv makes the test binary act as the pool command, so the lab test runs
// the real main (flags, proxyDHCP, TFTP, HTTP, iSCSI) inside a namespace.
const mainEnv = "NETBOOT_POOL_MAIN"

// linuxInit is the /init body of the "linux" image's initramfs: it prints the
// MAC of the machine it runs on (the e1000 module is loaded by the prelude).
const linuxInit = `
echo "POOL-LINUX mac=$(cat /sys/class/net/eth0/address) cmdline=$(cat /proc/cmdline)"
`

// sanInit is the /init body of the "disk" base image: it logs in to its disk
// from the iBFT iPXE left (iscsistart), mounts it, writes a file named after
// its MAC and lists what it finds, then stays up (and logged in) until the
// test stops it.
const sanInit = `
mac=$(cat /sys/firmware/ibft/ethernet0/mac 2>/dev/null)
mkdir -p /etc/iscsi /var/lock /run/lock /mnt
iscsistart -N || echo "POOL-SAN-ERROR iscsistart -N failed"
iscsistart -b || echo "POOL-SAN-ERROR iscsistart -b failed"
i=0
while [ ! -b /dev/sda ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done
name=$(echo "$mac" | tr ':' '-').txt
if mount -t vfat /dev/sda /mnt; then
	had=no
	[ -f "/mnt/$name" ] && had=yes
	echo "written by $mac" > "/mnt/$name"
	sync
	echo "POOL-SAN mac=$mac initiator=$(cat /sys/firmware/ibft/initiator/initiator-name) target=$(cat /sys/firmware/ibft/target0/target-name) had=$had files=$(ls /mnt | grep '\.txt$' | tr '\n' ',')"
else
	echo "POOL-SAN-ERROR mount failed"
fi
sleep 3600
`

// nsClient is an HTTP client (with cookies) whose connections are made inside
// host h's namespace, so the test is a browser on the boot network.
func nsClient(t *testing.T, h *lab.Host) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := h.Do(func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second}
}

// labAdmin is the administrator's browser in the lab.
type labAdmin struct {
	t    *testing.T
	c    *http.Client
	base string
	csrf string
}

func (a *labAdmin) do(method, path string, form url.Values) (int, string) {
	a.t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		if form.Get("csrf") == "" {
			form.Set("csrf", a.csrf)
		}
		resp, err = a.c.PostForm(a.base+path, form)
	} else {
		resp, err = a.c.Get(a.base + path)
	}
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	if m := csrfRE.FindStringSubmatch(string(b)); m != nil {
		a.csrf = m[1]
	}
	return resp.StatusCode, string(b)
}

// machineState reads one machine from the pool's state file.
func machineState(t *testing.T, path, mac string) (Machine, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Machine{}, false
	}
	var st state
	if json.Unmarshal(data, &st) != nil {
		return Machine{}, false
	}
	m, ok := st.Machines[mac]
	if !ok {
		return Machine{}, false
	}
	return *m, true
}

func sha256Of(t *testing.T, path string) string {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

func waitLine(t *testing.T, vm *lab.VM, re string, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := vm.WaitForLine(ctx, regexp.MustCompile(re))
	require.NoError(t, err, "waiting for %s; serial console:\n%s", re, lab.Tail(vm.Output(), 60))
	return strings.TrimSpace(m[0])
}

// TestLabBoot is the pool end to end on a network-namespace LAN: dnsmasq owns
// the addresses (in its own namespace) and knows nothing of network boot; the
// pool runs as proxyDHCP + TFTP + HTTP + iSCSI beside it. A BIOS machine
// (SeaBIOS, the e1000's iPXE ROM) gets the bootstrap URL from the pool's proxy
// offer, joins the pool and shows the waiting screen; the administrator logs in
// on the admin page and assigns a Linux image (a Debian kernel and an initramfs
// printing the machine's MAC), and the machine boots it at its next ask. Then
// the machine is assigned the "disk" base image and powered on again: it
// sanboots its own iSCSI target (CHAP), SYSLINUX and Linux come from the disk,
// the initramfs logs back in from the iBFT and writes a file into its own
// overlay. The page shows the overlay; "reset disk" is refused while the machine
// is logged in, and goes through once it is powered off (its dead sessions
// dropped): the next boot finds the base again. The base image is never
// written.
func TestLabBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU machines")
	}
	lab.RequireRoot(t)
	lab.Require(t, "qemu-system-x86_64", lab.IPXEROMDir, "dnsmasq")
	start := time.Now()
	k := lab.Kernel(t)

	dir := t.TempDir()
	images := filepath.Join(dir, "images")
	linux := lab.NewInitramfs(linuxInit)
	require.NoError(t, linux.AddModules(k, "e1000"))
	writeFile(t, filepath.Join(images, "linux.json"),
		`{"description": "Debian kernel, marker initramfs", "kernel": "vmlinuz", "initrds": ["initrd.gz"], "cmdline": "`+lab.DefaultAppend+` pool.test=linux"}`)
	copyFile(t, k.Vmlinuz, filepath.Join(images, "linux", "vmlinuz"))
	copyFile(t, linux.Build(t), filepath.Join(images, "linux", "initrd.gz"))

	san := lab.ISCSIStartPath() != ""
	var basePath, baseSum string
	if san {
		lab.RequireBootDiskTools(t)
		rd := lab.NewInitramfs(sanInit)
		require.NoError(t, rd.AddISCSIBoot(k))
		basePath = filepath.Join(images, "disk", "disk.img")
		copyFile(t, lab.BootDisk{Kernel: k.Vmlinuz, Initrd: rd.Build(t), Label: "POOLDISK"}.Build(t), basePath)
		baseSum = sha256Of(t, basePath)
		writeFile(t, filepath.Join(images, "disk.json"), `{"description": "served disk", "base": "disk.img"}`)
	} else {
		t.Log("iscsistart not installed (Debian package open-iscsi): the served-disk half is skipped")
	}
	pw := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(pw, []byte(testPassword+"\n"), 0o600))
	chap := filepath.Join(dir, "chap")
	require.NoError(t, os.WriteFile(chap, []byte("pool:twelvebytes+\n"), 0o600))
	statePath := filepath.Join(dir, "pool.json")
	overlays := filepath.Join(dir, "overlays")
	t.Logf("images built in %v", time.Since(start).Round(100*time.Millisecond))

	n := lab.NewNet(t)
	n.Server.StartRA(t)
	// dnsmasq in a namespace of its own: the pool's proxyDHCP needs port 67
	// in the server's. Plain DHCP, no boot options, no iPXE no-pxedhcp.
	dhcp := n.AddHost("dhcp")
	b := n.Subnet.Addr().As4()
	dhcp.Start(t, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
		"--interface="+dhcp.Iface, "--bind-interfaces",
		fmt.Sprintf("--dhcp-range=%d.%d.%d.100,%d.%d.%d.150,255.255.255.0,1h", b[0], b[1], b[2], b[0], b[1], b[2]),
		"--dhcp-authoritative", "--no-ping", "--leasefile-ro", "--pid-file=", "--log-dhcp", "--log-facility=-", "--user=root")

	srvURL := "http://" + n.Server.IP().String() + ":8080"
	pool := n.Server.StartMain(t, mainEnv, "msg=serving", "-images", images, "-state", statePath, "-password-file", pw,
		"-url", srvURL, "-http", ":8080", "-dhcp", "proxy", "-iface", n.Server.Iface, "-addr", n.Server.IP().String(),
		"-ipxe", lab.IPXEDir, "-iscsi", ":3260", "-overlays", overlays, "-chap-file", chap, "-wait", "3s")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pool output:\n%s", lab.Tail(pool.Output(), 80))
		}
	})

	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x70, 0x6f, 0x01}
	machine := lab.Machine{Name: "pool-linux", MemoryMB: 512, NICs: []lab.NIC{{MAC: mac, BootIndex: 1}}}
	vm := lab.Boot(t, n.Machine(machine))
	t0 := time.Now()
	line := waitLine(t, vm, `pool: this machine \(`+regexp.QuoteMeta(mac.String())+`\) has no image assigned yet`, 5*time.Minute)
	t.Logf("power-on to the waiting screen: %v (%s)", time.Since(t0).Round(100*time.Millisecond), line)
	out := vm.Output()
	assert.Contains(t, out, srvURL+"/bootstrap.ipxe", "iPXE's boot file came from the pool's proxy offer")
	m, ok := machineState(t, statePath, mac.String())
	require.True(t, ok, "the machine joined the pool")
	assert.Equal(t, StageWaiting, m.Stage)
	assert.Equal(t, "i386", m.Arch, "Debian's BIOS iPXE ROM is an i386 build")
	assert.Equal(t, "pcbios", m.Platform)
	assert.True(t, n.Subnet.Contains(mustAddr(t, m.IP)), "its address (%s) came from dnsmasq", m.IP)

	// The administrator assigns the Linux image on the admin page.
	a := &labAdmin{t: t, c: nsClient(t, n.Server), base: srvURL}
	code, page := a.do(http.MethodPost, "/login", url.Values{"password": {testPassword}, "csrf": {"-"}})
	require.Equal(t, http.StatusOK, code, page)
	require.Contains(t, page, mac.String())
	code, page = a.do(http.MethodPost, "/admin/assign", url.Values{"mac": {mac.String()}, "image": {"linux"}, "action": {"assign"}})
	require.Equal(t, http.StatusOK, code, page)
	require.Contains(t, page, "Image assigned")
	t1 := time.Now()
	line = waitLine(t, vm, `^POOL-LINUX mac=.*`, 8*time.Minute)
	t.Logf("assignment to Linux marker: %v", time.Since(t1).Round(100*time.Millisecond))
	assert.Contains(t, line, "POOL-LINUX mac="+mac.String()+" ")
	assert.Contains(t, line, "pool.test=linux")
	m, _ = machineState(t, statePath, mac.String())
	assert.Equal(t, "linux", m.Image)
	assert.Equal(t, StageInitrd, m.Stage, "the machine fetched its kernel and initrd")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	vm.Wait(ctx) // the lab's epilogue powers off
	cancel()
	vm.Stop()

	if !san {
		return
	}
	code, page = a.do(http.MethodPost, "/admin/assign", url.Values{"mac": {mac.String()}, "image": {"disk"}, "action": {"assign"}})
	require.Equal(t, http.StatusOK, code, page)
	machine.Name = "pool-san"
	vm = lab.Boot(t, n.Machine(machine))
	t2 := time.Now()
	line = waitLine(t, vm, `^POOL-SAN(-ERROR)? .*`, 10*time.Minute)
	t.Logf("power-on to served-disk marker: %v", time.Since(t2).Round(100*time.Millisecond))
	macName := strings.ReplaceAll(mac.String(), ":", "-")
	assert.Equal(t, fmt.Sprintf("POOL-SAN mac=%s initiator=%s target=%s had=no files=%s.txt,",
		mac, initiatorPrefix+macName, targetPrefix+"disk:"+macName, macName), line,
		"the machine booted its own disk (its own initiator and target) and sees only its own file")
	overlay := filepath.Join(overlays, "disk", macName+".cow")
	st, err := os.Stat(overlay)
	require.NoError(t, err, "the machine's overlay")
	t.Logf("overlay after one boot: %d KiB", st.Size()>>10)
	m, _ = machineState(t, statePath, mac.String())
	assert.Equal(t, StageDisk, m.Stage)

	_, page = a.do(http.MethodGet, "/admin/", nil)
	rows := diskRowRE.FindAllStringSubmatch(page, -1)
	require.Len(t, rows, 1, page)
	assert.Equal(t, "disk", rows[0][1])
	assert.Contains(t, rows[0][0], `class="in-use"`)
	code, page = a.do(http.MethodPost, "/admin/reset", url.Values{"mac": {mac.String()}, "image": {"disk"}})
	assert.Equal(t, http.StatusConflict, code, "reset while the machine is logged in")
	assert.Contains(t, page, "is logged in to its disk disk")

	// Powered off, the machine never logs out: the pool drops its sessions
	// when TCP gives up on them (sanfleet.DeadPeerListener), then the reset
	// goes through and the next boot sees the base again.
	vm.Stop()
	t3 := time.Now()
	waitFor(t, 5*time.Minute, "the dead machine's sessions to be dropped", func() bool {
		_, page = a.do(http.MethodGet, "/admin/", nil)
		return diskRowRE.MatchString(page) && !strings.Contains(page, `class="in-use"`)
	})
	t.Logf("power-off to disk not in use: %v", time.Since(t3).Round(100*time.Millisecond))
	code, page = a.do(http.MethodPost, "/admin/reset", url.Values{"mac": {mac.String()}, "image": {"disk"}})
	require.Equal(t, http.StatusOK, code, page)
	require.Contains(t, page, "Disk reset")
	st2, err := os.Stat(overlay)
	require.NoError(t, err)
	assert.Less(t, st2.Size(), st.Size(), "the reset overlay holds no chunks")
	machine.Name = "pool-san-reset"
	vm = lab.Boot(t, n.Machine(machine))
	line = waitLine(t, vm, `^POOL-SAN(-ERROR)? .*`, 10*time.Minute)
	assert.Contains(t, line, " had=no files="+macName+".txt,", "after the reset the disk is the base again")
	assert.Equal(t, baseSum, sha256Of(t, basePath), "the base image is never written")
	t.Logf("whole test: %v", time.Since(start).Round(time.Second))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o755))
	require.NoError(t, os.WriteFile(to, data, 0o644))
}

func mustAddr(t *testing.T, s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	require.NoError(t, err, s)
	return a
}
