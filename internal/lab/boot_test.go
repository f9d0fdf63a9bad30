package lab_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
)

// TestBootKernelInitramfs boots the Debian kernel with a busybox initramfs
// whose /init loads a module with dependencies, prints a marker and what it
// found, and powers off.
func TestBootKernelInitramfs(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	lab.Require(t, "qemu-system-x86_64")
	k := lab.Kernel(t)
	rd := lab.NewInitramfs(`
echo "uname=$(uname -r)"
grep -q '^iscsi_ibft ' /proc/modules && echo "module=loaded"
/usr/bin/xz --version | head -n1 | sed 's/^/xz: /'
echo "lab-marker-$((6*7))"
`)
	require.NoError(t, rd.AddModules(k, "iscsi_ibft"))
	xz, err := rd.AddBinary("xz") // a dynamic host binary: needs liblzma, libc and ld.so
	require.NoError(t, err)
	require.Equal(t, "/usr/bin/xz", xz)
	require.NoError(t, rd.AddFile("/etc/greeting", []byte("hello\n"), 0o644))
	initrd := rd.Build(t)

	start := time.Now()
	vm := lab.Boot(t, lab.Machine{Name: "initramfs", Kernel: k.Vmlinuz, Initrd: initrd})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, err := vm.WaitFor(ctx, "lab-marker-42")
	require.NoError(t, err)
	t.Logf("marker after %v", d.Round(time.Millisecond))
	require.NoError(t, vm.Wait(ctx), "qemu should exit after poweroff")
	t.Logf("boot to poweroff: %v", time.Since(start).Round(time.Millisecond))
	out := vm.Output()
	require.Contains(t, out, "uname="+k.Release)
	require.Contains(t, out, "module=loaded")
	require.NotContains(t, out, "insmod")
	require.Contains(t, out, "xz: xz (XZ Utils)")
	log, err := os.ReadFile(vm.SerialLog())
	require.NoError(t, err)
	require.True(t, strings.Contains(string(log), "lab-marker-42"), "serial log file has the marker")
}
