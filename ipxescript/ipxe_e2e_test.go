package ipxescript_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
	"github.com/netbootkit/netboot/ipxescript"
)

// validatorCases are lines whose verdict by Parse is compared with what the
// real (Debian 2019) iPXE does with them. ipxeOK differs from parseOK only
// where Lint warns: commands missing from that build, "-h".
var validatorCases = []struct {
	line            string
	parseOK, ipxeOK bool
	warns           bool
}{
	{"sleep 08", false, false, false},
	{"sleep 00", true, true, false},
	{"sleep 0x0", true, true, false},
	{"iseq a", false, false, false},
	{"iseq a a", true, true, false},
	{"iseq a b c", false, false, false},
	{"chain --bogus http://192.0.2.1/", false, false, false},
	{"kernel --autofree=1 x", false, false, false},
	{"kernel --name", false, false, false},
	{"echo -- -n", true, true, false},
	{"prompt --timeout 1.5 x", false, false, false},
	{"frobnicate foo", false, false, false},
	{"a&&b", false, false, false},
	{"goto nowhere", false, false, false},
	{"isset ${net0/mac}", true, true, false},
	{"iseq ${platform} pcbios", true, true, false},
	{"set e2e_n:int32 5", true, true, false},
	{"inc e2e_n 0x10", true, true, false},
	{"inc e2e_n 08", false, false, false},
	{"imgfree --bogus", false, false, false},
	{"imgstat -q", false, false, false},
	{"echo ${net0/mac:bogus}", true, true, true},
	// Expansion happens before option parsing: why IfSet/IfEq write "--".
	{"set e2e_dash --help", true, true, false},
	{"isset ${e2e_dash}", true, false, false},
	{"isset -- ${e2e_dash}", true, true, false},
	{"params", true, false, true},
	{"imgtrust", true, false, true},
	{"chain -h", true, false, true},
}

// TestRealIPXE boots a BIOS machine whose NIC ROM is Debian's iPXE (2019,
// the oldest build we support) and lets it run what this package produces:
// the Bootstrap first stage from DHCP, the Handler's error script (retry
// after "not found"), a per-machine script using the builder's helpers,
// and a checklist script comparing Parse's verdicts with iPXE's own.
func TestRealIPXE(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	lab.Require(t, "qemu-system-x86_64", "dnsmasq", lab.IPXEROMDir)
	n := lab.NewNet(t)
	n.Server.StartRA(t)
	l, err := n.Server.Listen("tcp4", n.Server.IP().String()+":8080")
	require.NoError(t, err)
	base := "http://" + l.Addr().String()

	var mu sync.Mutex
	var events []string
	record := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, fmt.Sprintf(format, a...))
	}
	var seen []*ipxescript.Machine
	var served []string
	flaky := 0

	machineScript := func(m *ipxescript.Machine) *ipxescript.Script {
		s := ipxescript.New()
		s.Echo(fmt.Sprintf("e2e-identity mac=%s arch=%s platform=%s product=%s",
			m.MAC, m.BuildArch, m.Platform, strings.ReplaceAll(m.Product, " ", "_")))
		// Literals that look like syntax arrive unchanged.
		s.Echo("e2e-literal a&&b x#y ;z -n 'q' \"d\" C:\\x")
		s.Set("e2e_words", "one two three")
		s.EchoExpr("e2e-set", ipxescript.Var("e2e_words"))
		// A value that looks like an option stays a value.
		s.Set("e2e_dash", "--help")
		s.IfSet(ipxescript.Var("e2e_dash"), "dash_ok", "failed")
		s.Label("dash_ok").EchoExpr(ipxescript.Var("e2e_dash"), "e2e-dash")
		// Retry with back-off: the first fetch fails (404), the second works.
		s.Retry(ipxescript.Retry{Label: "fetch", Attempts: 3, Delay: time.Second, MaxDelay: 2 * time.Second, OnFail: "failed"},
			func(s *ipxescript.Script) {
				s.Imgfetch(ipxescript.Image{URL: base + "/flaky", Name: "blob"})
			})
		s.EchoExpr("e2e-retry-ok", "after", ipxescript.Var("fetch_try"), "failures")
		s.Imgfree("blob")
		// A menu nobody answers: the timeout picks the default.
		s.Menu(ipxescript.Menu{Title: "e2e menu", Default: "menu_b", Timeout: 500 * time.Millisecond, Cancel: "failed",
			Items: []ipxescript.MenuItem{{Text: "heading"}, {Label: "menu_a", Text: "A", Key: "a"}, {Label: "menu_b", Text: "B"}}})
		s.Label("menu_a").Echo("e2e-menu a").Goto("platform")
		s.Label("menu_b").Echo("e2e-menu b").Goto("platform")
		s.Label("platform")
		s.IfEq(ipxescript.Var("platform"), "pcbios", "bios", "other")
		s.Label("bios").Echo("e2e-platform bios").Goto("next")
		s.Label("other").Echo("e2e-platform other").Goto("next")
		s.Label("next")
		s.Chain(ipxescript.Image{URL: base + "/validate.ipxe"}).OrGoto("failed")
		s.Exit(0)
		s.Label("failed").Echo("e2e-failed").Exit(1)
		return s
	}

	var vb strings.Builder
	vb.WriteString("#!ipxe\n")
	for i, c := range validatorCases {
		fmt.Fprintf(&vb, "%s && echo e2e-v%d-ok || echo e2e-v%d-fail\n", c.line, i, i)
	}
	vb.WriteString("echo e2e-done\n")

	h := &ipxescript.Handler{
		RetryDelay: time.Second,
		Renderer: ipxescript.RenderFunc(func(_ context.Context, m *ipxescript.Machine) (*ipxescript.Script, error) {
			mu.Lock()
			seen = append(seen, m)
			mu.Unlock()
			if m.Attempt == 0 {
				return nil, ipxescript.ErrNotFound // exercise the error script
			}
			return machineScript(m), nil
		}),
	}
	mux := http.NewServeMux()
	first := ipxescript.Bootstrap{URL: base + "/boot.ipxe"}.Script()
	require.NoError(t, first.Err())
	mux.HandleFunc("/first.ipxe", func(w http.ResponseWriter, r *http.Request) {
		record("first %s", r.UserAgent())
		_, _ = first.WriteTo(w)
	})
	mux.Handle("/boot.ipxe", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("boot %s", r.URL.RawQuery)
		rec := &capture{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		mu.Lock()
		served = append(served, rec.body.String())
		mu.Unlock()
	}))
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		flaky++
		k := flaky
		mu.Unlock()
		record("flaky %d", k)
		if k == 1 {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "blob")
	})
	mux.HandleFunc("/validate.ipxe", func(w http.ResponseWriter, r *http.Request) {
		record("validate")
		fmt.Fprint(w, vb.String())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	startDnsmasq(t, n, "--dhcp-boot="+base+"/first.ipxe")

	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x1e, 0x2e, 0x01}
	start := time.Now()
	vm := lab.Boot(t, n.Machine(lab.Machine{Name: "ipxescript", NICs: []lab.NIC{{MAC: mac, BootIndex: 1}}}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err = vm.WaitFor(ctx, "e2e-done")
	out := vm.Output()
	if err != nil {
		t.Logf("serial console:\n%s", out)
		mu.Lock()
		t.Logf("server events: %q", events)
		mu.Unlock()
	}
	require.NoError(t, err)
	t.Logf("power-on to e2e-done: %v", time.Since(start).Round(time.Millisecond))

	mu.Lock()
	defer mu.Unlock()
	t.Logf("server events: %q", events)

	// First stage and identity.
	require.GreaterOrEqual(t, len(seen), 2)
	assert.Equal(t, mac, seen[0].MAC, "${netX/mac:hexhyp} reached the handler")
	assert.True(t, seen[0].IPXE, "iPXE's User-Agent was recognised")
	assert.Equal(t, "i386", seen[0].BuildArch)
	assert.Equal(t, "pcbios", seen[0].Platform)
	assert.NotEmpty(t, seen[0].Product, "SMBIOS product via uristring")
	assert.NotNil(t, seen[0].IP)
	assert.Equal(t, 0, seen[0].Attempt)
	assert.Equal(t, 1, seen[1].Attempt, "the error script chained back with retry=1")
	assert.Equal(t, seen[0].Product, seen[1].Product, "re-encoded query survives the retry")
	assert.Contains(t, out, "netboot: no boot configuration for "+mac.String())

	// Every script served passes our own validator.
	for _, body := range served {
		_, err := ipxescript.ParseString(body)
		assert.NoError(t, err, body)
	}

	// The per-machine script ran as built.
	assert.Regexp(t, regexp.MustCompile(`e2e-identity mac=`+regexp.QuoteMeta(mac.String())+` arch=i386 platform=pcbios product=\S+`), out)
	assert.Contains(t, out, "e2e-literal a&&b x#y ;z -n 'q' \"d\" C:\\x")
	assert.Contains(t, out, "e2e-set one two three")
	assert.Contains(t, out, "--help e2e-dash")
	assert.Contains(t, out, "fetch: attempt 1/3 failed")
	assert.Contains(t, out, "e2e-retry-ok after 1 failures")
	assert.Equal(t, 2, flaky)
	assert.Contains(t, out, "e2e-menu b")
	assert.Contains(t, out, "e2e-platform bios")
	assert.NotContains(t, out, "e2e-failed")

	// Parse's verdicts match iPXE's.
	for i, c := range validatorCases {
		_, perr := ipxescript.ParseString("#!ipxe\n" + c.line + "\n")
		diags, _ := ipxescript.Lint(strings.NewReader("#!ipxe\n" + c.line + "\n"))
		warned := false
		for _, d := range diags {
			warned = warned || d.Warning
		}
		assert.Equal(t, c.parseOK, perr == nil, "Parse(%q): %v", c.line, perr)
		assert.Equal(t, c.warns, warned, "Lint(%q) warnings: %v", c.line, diags)
		ok := strings.Contains(out, fmt.Sprintf("e2e-v%d-ok", i))
		fail := strings.Contains(out, fmt.Sprintf("e2e-v%d-fail", i))
		require.True(t, ok != fail, "case %d %q ran exactly once", i, c.line)
		assert.Equal(t, c.ipxeOK, ok, "real iPXE on %q", c.line)
	}
}

// capture keeps a copy of the response body.
type capture struct {
	http.ResponseWriter
	body strings.Builder
}

func (c *capture) Write(p []byte) (int, error) {
	c.body.Write(p)
	return c.ResponseWriter.Write(p)
}

// startDnsmasq runs a DHCP-only dnsmasq (plus whatever extra enables) on
// the lab LAN.
func startDnsmasq(t *testing.T, n *lab.Net, extra ...string) {
	subnet := n.Subnet.Addr().As4()
	n.Server.Start(t, "dnsmasq", append([]string{
		"--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
		"--interface=" + n.Server.Iface, "--bind-interfaces",
		fmt.Sprintf("--dhcp-range=%d.%d.%d.100,%d.%d.%d.199,255.255.255.0,1h",
			subnet[0], subnet[1], subnet[2], subnet[0], subnet[1], subnet[2]),
		"--dhcp-authoritative", "--no-ping", "--leasefile-ro", "--pid-file=",
		"--log-facility=-", "--user=root"}, extra...)...)
}

// TestRealIPXEUEFILinux proves the UEFI initrd rule on real firmware: OVMF
// PXE-boots Debian's snponly.efi (iPXE 2019), which runs the Bootstrap
// script and gets a LinuxBoot script from the Handler. The machine whose
// script has the automatic initrd=<name> boots the Debian kernel into its
// initramfs; the control machine, same script without it (NoInitrdArgs),
// boots the kernel with no initramfs and panics.
func TestRealIPXEUEFILinux(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	nbp := filepath.Join(lab.IPXEDir, "snponly.efi")
	lab.Require(t, "qemu-system-x86_64", "dnsmasq", nbp, lab.OVMFCode)
	k := lab.Kernel(t)
	rd := lab.NewInitramfs(`echo "e2e-linux-ok cmdline: $(cat /proc/cmdline)"`).Build(t)
	n := lab.NewNet(t)
	n.Server.StartRA(t)
	l, err := n.Server.Listen("tcp4", n.Server.IP().String()+":8080")
	require.NoError(t, err)
	base := "http://" + l.Addr().String()

	withArgs := net.HardwareAddr{0x52, 0x54, 0x00, 0x1e, 0x2e, 0x11}
	control := net.HardwareAddr{0x52, 0x54, 0x00, 0x1e, 0x2e, 0x12}
	var mu sync.Mutex
	var seen []*ipxescript.Machine
	h := &ipxescript.Handler{Renderer: ipxescript.RenderFunc(func(_ context.Context, m *ipxescript.Machine) (*ipxescript.Script, error) {
		mu.Lock()
		seen = append(seen, m)
		mu.Unlock()
		if !m.UEFI() {
			return nil, fmt.Errorf("expected a UEFI client, got platform %q", m.Platform)
		}
		return ipxescript.New().LinuxBoot(ipxescript.Linux{
			Kernel:       base + "/" + m.BuildArch + "/vmlinuz",
			Initrds:      []string{base + "/" + m.BuildArch + "/initrd.img"},
			Args:         []string{"console=ttyS0,115200", "panic=-1", "loglevel=4"},
			NoInitrdArgs: m.MAC.String() == control.String(),
		}), nil
	})}
	mux := http.NewServeMux()
	first := ipxescript.Bootstrap{URL: base + "/boot.ipxe"}.Script()
	mux.HandleFunc("/first.ipxe", func(w http.ResponseWriter, r *http.Request) { _, _ = first.WriteTo(w) })
	mux.Handle("/boot.ipxe", h)
	mux.HandleFunc("/x86_64/vmlinuz", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, k.Vmlinuz) })
	mux.HandleFunc("/x86_64/initrd.img", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, rd) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	tftp := t.TempDir()
	data, err := os.ReadFile(nbp)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(tftp, "snponly.efi"), data, 0o644))
	require.NoError(t, os.Chmod(tftp, 0o755))
	startDnsmasq(t, n, "--enable-tftp", "--tftp-root="+tftp,
		"--dhcp-userclass=set:ipxe,iPXE",
		"--dhcp-boot=tag:!ipxe,snponly.efi",
		"--dhcp-boot=tag:ipxe,"+base+"/first.ipxe")

	start := time.Now()
	boot := func(name string, mac net.HardwareAddr) *lab.VM {
		return lab.Boot(t, n.Machine(lab.Machine{Name: name, Firmware: lab.UEFI, MemoryMB: 512,
			NICs: []lab.NIC{{MAC: mac, Model: "virtio-net-pci", ROM: lab.NoROM, BootIndex: 1}}}))
	}
	vmOK := boot("uefi-initrd", withArgs)
	vmCtl := boot("uefi-control", control)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	m, err := vmOK.WaitForRegexp(ctx, regexp.MustCompile(`e2e-linux-ok cmdline: ([^\r\n]*)\r?\n`))
	if err != nil {
		t.Logf("serial console:\n%s", vmOK.Output())
	}
	require.NoError(t, err)
	t.Logf("UEFI power-on to Linux initramfs: %v", time.Since(start).Round(time.Millisecond))
	assert.Contains(t, m[1], "initrd=initrd.img")
	assert.Contains(t, m[1], "console=ttyS0,115200")

	// The control machine's kernel finds no initramfs.
	_, err = vmCtl.WaitForRegexp(ctx, regexp.MustCompile(`Kernel panic|Unable to mount root|e2e-linux-ok`))
	out := vmCtl.Output()
	if err != nil {
		t.Logf("control serial console:\n%s", out)
	}
	require.NoError(t, err)
	assert.NotContains(t, out, "e2e-linux-ok", "without initrd= a 2019 iPXE on UEFI gives the kernel no initrd")
	t.Logf("control machine: %s", regexp.MustCompile(`(Kernel panic[^\r\n]*|[^\r\n]*Unable to mount root[^\r\n]*)`).FindString(out))

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, seen)
	for _, m := range seen {
		assert.Equal(t, "x86_64", m.BuildArch)
		assert.Equal(t, "efi", m.Platform)
	}
}
