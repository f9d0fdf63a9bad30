package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
)

// TestIPv6IPXEBoot boots real iPXE (SeaBIOS + the e1000 iPXE ROM in QEMU)
// on an IPv6-only LAN: no DHCPv4 server at all. The lab sends Router
// Advertisements with the O flag and a SLAAC prefix; iPXE configures an
// address, asks DHCPv6 for its other configuration (Information-Request);
// this CoreDHCP's server6 with the netboot plugin (dhcpboot.Handler6)
// recognises iPXE and answers the script URL in option 59 (an IPv6 literal
// URL); iPXE fetches the script over IPv6 and runs it.
func TestIPv6IPXEBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	lab.Require(t, "qemu-system-x86_64", lab.IPXEROMDir)
	n := lab.NewNet(t)
	prefix := netip.MustParsePrefix("fd77:6::/64")
	srvIP := netip.MustParseAddr("fd77:6::1")
	_, err := n.Server.Run("ip", "-6", "addr", "add", srvIP.String()+"/64", "dev", n.Server.Iface, "nodad")
	require.NoError(t, err)

	dir := t.TempDir()
	bin := filepath.Join(dir, "coredhcp")
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	hl, err := n.Server.Listen("tcp6", "["+srvIP.String()+"]:8080")
	require.NoError(t, err)
	scriptURL := "http://[" + srvIP.String() + "]:8080/boot.ipxe"
	var mu sync.Mutex
	var fetchedFrom []string
	hs := &http.Server{ReadHeaderTimeout: 30 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetchedFrom = append(fetchedFrom, r.RemoteAddr)
		mu.Unlock()
		fmt.Fprint(w, "#!ipxe\necho ipxe-v6-script-ok\npoweroff\n")
	})}
	go func() { _ = hs.Serve(hl) }()
	t.Cleanup(func() { hs.Close() })

	conf := fmt.Sprintf(`server6:
  plugins:
    - server_id: LL %s
    - netboot: tftp6=%s script=%s
`, n.Server.MAC, srvIP, scriptURL)
	cf := filepath.Join(dir, "config.yml")
	require.NoError(t, os.WriteFile(cf, []byte(conf), 0o644))
	srv := n.Server.Start(t, bin, "-conf", cf)
	n.Server.StartRAConfig(t, lab.RAConfig{Other: true, Prefix: prefix})

	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x66, 0x00, 0x01}
	start := time.Now()
	vm := lab.Boot(t, n.Machine(lab.Machine{Name: "ipxe-v6", NICs: []lab.NIC{{MAC: mac, BootIndex: 1}}}))
	m, err := vm.WaitForRegexp(ctx, regexp.MustCompile(`ipxe-v6-script-ok|No more network devices|Nothing to boot`))
	if err != nil || m[0] != "ipxe-v6-script-ok" {
		t.Fatalf("iPXE did not run the script (err %v)\nserial:\n%s\ncoredhcp:\n%s", err, vm.Output(), srv.Output())
	}
	t.Logf("power-on to the script over IPv6: %v", time.Since(start).Round(time.Millisecond))
	for _, l := range regexp.MustCompile(`(?m)^.*(net0: |Filename|boot\.ipxe).*$`).FindAllString(vm.Output(), -1) {
		t.Logf("iPXE: %s", l)
	}

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, fetchedFrom)
	ap, err := netip.ParseAddrPort(fetchedFrom[0])
	require.NoError(t, err)
	assert.True(t, prefix.Contains(ap.Addr()), "script fetched from %v, an address iPXE made from the advertised prefix", ap.Addr())
	assert.Contains(t, vm.Output(), scriptURL, "iPXE shows the DHCPv6 boot file URL")
}
