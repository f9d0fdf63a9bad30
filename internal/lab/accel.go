package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// AccelEnv names the environment variable that forces the accelerator
// ("kvm" or "tcg") and skips the probe.
const AccelEnv = "NETBOOT_LAB_ACCEL"

// accelProbeTimeout bounds the KVM probe boot. A working KVM boots the probe
// kernel in about a second; where /dev/kvm exists but is unusable the guest
// hangs, so the probe is killed after this long.
const accelProbeTimeout = 10 * time.Second

// Accel returns the QEMU accelerator to use for this machine: "kvm" when
// /dev/kvm can be opened and a Debian kernel actually boots with it within
// ten seconds, else "tcg". The answer is cached in CacheDir() per host boot
// (keyed by /proc/sys/kernel/random/boot_id), so only the first test of a
// boot pays for the probe. $NETBOOT_LAB_ACCEL overrides it.
func Accel(t testing.TB) string {
	t.Helper()
	if a := os.Getenv(AccelEnv); a != "" {
		return a
	}
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		return "tcg"
	} else {
		f.Close()
	}
	cache, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	memo := filepath.Join(cache, "accel-"+strings.TrimSpace(string(bootID)))
	if b, err := os.ReadFile(memo); err == nil {
		return strings.TrimSpace(string(b))
	}
	unlock, err := lockFile(filepath.Join(cache, ".accel.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if b, err := os.ReadFile(memo); err == nil {
		return strings.TrimSpace(string(b))
	}
	k := Kernel(t)
	accel := "tcg"
	if probeKVM(t, k) == nil {
		accel = "kvm"
	}
	if err := os.WriteFile(memo, []byte(accel+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("lab: accelerator probe chose %s", accel)
	return accel
}

// probeKVM boots k with a one-line initramfs under KVM and waits for it.
func probeKVM(t testing.TB, k *KernelImage) error {
	rd := NewInitramfs(`echo "lab: kvm probe ok"`)
	dir := t.TempDir()
	p := filepath.Join(dir, "probe.cpio.gz")
	if err := rd.WriteFile(p); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), accelProbeTimeout)
	defer cancel()
	m := Machine{Name: "kvm-probe", Kernel: k.Vmlinuz, Initrd: p, Accel: "kvm", Dir: dir}
	v, err := m.Start(ctx)
	if err != nil {
		return err
	}
	defer v.Stop()
	if _, err := v.WaitFor(ctx, "lab: kvm probe ok"); err != nil {
		return fmt.Errorf("lab: kvm probe: %w", err)
	}
	return nil
}
