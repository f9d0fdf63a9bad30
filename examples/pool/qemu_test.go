package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// proxyEnv makes the test binary a stdin/stdout ↔ TCP relay: QEMU's guestfwd
// "cmd:" runs one per guest connection, which is how a restricted user-mode
// guest reaches the pool on the host's loopback and nothing else.
const proxyEnv = "POOL_GUESTFWD_TO"

func guestfwdRelay(addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		os.Exit(1)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); io.Copy(c, os.Stdin); c.(*net.TCPConn).CloseWrite() }()
	io.Copy(os.Stdout, c)
	os.Stdout.Close()
	c.Close()
	os.Exit(0)
}

// waitFor polls cond every 200ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestQEMUBootFollowsAssignment boots Debian's iPXE (the virtio-net option ROM
// of ipxe-qemu) in QEMU with restricted user networking: the machine gets the
// bootstrap URL by DHCP, joins the pool with the identity real iPXE sends,
// waits, and after an assignment its next ask fetches that image's kernel and
// initrd from the pool. TestLabBoot goes further (a real LAN, proxyDHCP,
// Linux, served disks) but needs root; this one needs neither root nor
// namespaces, and drives the virtio-net ROM instead of the e1000's.
func TestQEMUBootFollowsAssignment(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed (Debian package qemu-system-x86)")
	}
	rom := "/usr/lib/ipxe/qemu/efi-virtio.rom" // QEMU default virtio-net ROM (BIOS and UEFI iPXE)
	if _, err := os.Stat(rom); err != nil {
		t.Skip(rom + " not installed (Debian package ipxe-qemu)")
	}
	exe, err := os.Executable()
	require.NoError(t, err)

	// The guest sees the pool at 10.0.2.100:8080; the server listens on loopback.
	const guestBase = "http://10.0.2.100:8080"
	dir := t.TempDir()
	images := filepath.Join(dir, "images")
	writeFile(t, filepath.Join(images, "debian.json"), `{"kernel": "vmlinuz", "initrds": ["initrd.gz"], "cmdline": "console=ttyS0"}`)
	writeFile(t, filepath.Join(images, "debian", "vmlinuz"), "not a kernel: the test stops at the download")
	writeFile(t, filepath.Join(images, "debian", "initrd.gz"), "not an initrd")
	p, err := NewPool(filepath.Join(dir, "pool.json"), images, guestBase, testPassword, nil)
	require.NoError(t, err)
	defer p.Close()
	p.boot.wait = 2 * time.Second
	h := p.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Logf("guest: %s %s", r.Method, r.URL)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	const mac = "52:54:00:12:34:77"
	var console bytes.Buffer
	// SeaBIOS mirrors the VGA text (its own and iPXE's) to the serial port
	// named in fw_cfg etc/sercon-port (0x3f8, little-endian), kept for failures.
	sercon := filepath.Join(dir, "sercon-port")
	require.NoError(t, os.WriteFile(sercon, []byte{0xf8, 0x03}, 0o644))
	args := []string{"-nodefaults", "-display", "none", "-vga", "none", "-monitor", "none", "-no-reboot",
		"-machine", "pc,accel=tcg", "-cpu", "max", "-m", "256", "-serial", "stdio",
		"-fw_cfg", "name=etc/sercon-port,file=" + sercon,
		"-netdev", "user,id=n0,restrict=on,bootfile=" + guestBase + "/bootstrap.ipxe," +
			"guestfwd=tcp:10.0.2.100:8080-cmd:" + exe + " -test.run=^$",
		"-device", "virtio-net-pci,netdev=n0,mac=" + mac + ",bootindex=1"}
	cmd := exec.Command(qemu, args...)
	cmd.Env = append(os.Environ(), proxyEnv+"="+srv.Listener.Addr().String())
	cmd.Stdout, cmd.Stderr = &console, &console
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("qemu output:\n%s", console.String())
		}
	})

	waitFor(t, 2*time.Minute, "the machine to join the pool", func() bool {
		m, ok := p.Store.Machine(mac)
		return ok && m.Stage == StageWaiting
	})
	m, _ := p.Store.Machine(mac)
	assert.Equal(t, "i386", m.Arch, "Debian's BIOS iPXE is an i386 build")
	assert.Empty(t, m.UUID, "QEMU's all-zero SMBIOS UUID means unknown")
	assert.Equal(t, "pcbios", m.Platform)
	assert.Equal(t, "10.0.2.15", m.IP)
	t.Logf("joined: %+v", m)

	require.NoError(t, p.Store.Assign([]string{mac}, "debian"))
	waitFor(t, 2*time.Minute, "the machine to fetch its image's initrd", func() bool {
		m, _ := p.Store.Machine(mac)
		return m.Stage == StageInitrd
	})
}
