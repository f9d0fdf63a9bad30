package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netbootkit/netboot/internal/lab"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCoreDHCPWithNetbootPlugin builds this CoreDHCP, runs it in a
// namespace with the range plugin handing out addresses and the netboot
// plugin answering boot clients, and boots busybox udhcpc clients against
// it as a BIOS PXE ROM, as iPXE and as a plain client.
func TestCoreDHCPWithNetbootPlugin(t *testing.T) {
	lab.Require(t, "busybox")
	n := lab.NewNet(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "coredhcp")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	conf := fmt.Sprintf(`server4:
  listen:
    - "0.0.0.0%%%s:67"
  plugins:
    - server_id: %[2]s
    - netmask: 255.255.255.0
    - router: %[2]s
    - lease_time: 3600s
    - range: %[3]s 10.77.0.100 10.77.0.150 60s
    - netboot: tftp=%[2]s script=http://%[2]s/boot.ipxe
`, n.Server.Iface, n.Server.IP(), filepath.Join(dir, "leases.txt"))
	cf := filepath.Join(dir, "config.yml")
	require.NoError(t, os.WriteFile(cf, []byte(conf), 0o644))
	srv := n.Server.Start(t, bin, "-conf", cf)

	for _, c := range []struct {
		name, vendor, arch, userClass, want string
	}{
		{"bios", "PXEClient:Arch:00000:UNDI:002001", "0000", "", "undionly.kpxe"},
		{"ipxe", "PXEClient:Arch:00007:UNDI:003010", "0007", "iPXE", "http://10.77.0.1/boot.ipxe"},
		{"plain", "", "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := n.AddHost(c.name)
			_, err := h.Run("ip", "addr", "flush", "dev", h.Iface)
			require.NoError(t, err)
			out := filepath.Join(dir, c.name+".env")
			script := filepath.Join(dir, c.name+".sh")
			body := fmt.Sprintf("#!/bin/sh\ncase \"$1\" in bound) env > %[1]s.tmp && mv %[1]s.tmp %[1]s;; esac\nexit 0\n", out)
			require.NoError(t, os.WriteFile(script, []byte(body), 0o755))
			args := []string{"udhcpc", "-f", "-q", "-n", "-t", "10", "-T", "2", "-i", h.Iface, "-s", script}
			if c.vendor != "" {
				args = append(args, "-V", c.vendor, "-x", "0x5d:"+c.arch)
			}
			if c.userClass != "" {
				args = append(args, "-x", fmt.Sprintf("0x4d:%x", c.userClass))
			}
			p := h.Start(t, "busybox", args...)
			deadline := time.Now().Add(60 * time.Second)
			var env []byte
			for {
				if env, err = os.ReadFile(out); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no lease; udhcpc:\n%s\ncoredhcp:\n%s", p.Output(), srv.Output())
				}
				time.Sleep(50 * time.Millisecond)
			}
			vars := map[string]string{}
			for _, l := range strings.Split(string(env), "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					vars[k] = v
				}
			}
			assert.True(t, strings.HasPrefix(vars["ip"], "10.77.0."), "address from the range plugin: %q", vars["ip"])
			assert.Equal(t, c.want, vars["boot_file"])
		})
	}
}
