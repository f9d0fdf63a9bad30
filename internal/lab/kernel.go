package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// KernelPackageEnv names the environment variable that selects the Debian
// kernel package (default: the linux-image-*-amd64 that linux-image-amd64
// depends on).
const KernelPackageEnv = "NETBOOT_LAB_KERNEL_PACKAGE"

// KernelImage is a Debian kernel unpacked into the cache: the bzImage to pass
// to QEMU's -kernel and the matching module tree.
type KernelImage struct {
	Package    string // Debian package, e.g. "linux-image-6.1.0-56-amd64"
	Version    string // Debian package version, e.g. "6.1.192-2"
	Release    string // kernel release (uname -r), e.g. "6.1.0-56-amd64"
	Vmlinuz    string // path of the bzImage
	ModulesDir string // path of lib/modules/<Release>, with modules.dep
}

// ErrNoModule is returned (wrapped) when a kernel module is neither in
// modules.dep nor built in.
var ErrNoModule = errors.New("lab: kernel module not found")

// Kernel returns the Debian kernel for guests, downloading it with
// `apt-get download` and unpacking it with `dpkg-deb -x` into the cache on
// first use (no kernel is installed on the host). It skips the test when apt
// or dpkg-deb are missing and fails it on other errors.
func Kernel(t testing.TB) *KernelImage {
	t.Helper()
	Require(t, "apt-get", "apt-cache", "dpkg-deb")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	k, err := FetchKernel(ctx, os.Getenv(KernelPackageEnv))
	if err != nil {
		t.Fatalf("lab: kernel: %v", err)
	}
	return k
}

// FetchKernel is [Kernel] without a testing.TB. pkg names the Debian package
// (empty: the dependency of linux-image-amd64). The result is cached under
// CacheDir()/kernel/<package>_<version>; concurrent callers, also in other
// processes, download once. Which package and version are current is asked
// of apt-cache only when apt's lists changed since the last call (a memo in
// CacheDir()/kernel/resolved-*), since apt-cache takes seconds.
func FetchKernel(ctx context.Context, pkg string) (*KernelImage, error) {
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	// Asking apt which kernel is current costs seconds (tens on a loaded
	// host), so the answer is remembered until the apt lists change.
	memo := filepath.Join(cache, "kernel", "resolved-"+strings.ReplaceAll(cmpOr(pkg, "default"), "/", "_"))
	stamp := aptStamp()
	if b, err := os.ReadFile(memo); err == nil && stamp != "" {
		if f := strings.Fields(string(b)); len(f) == 3 && f[0] == stamp {
			if k, err := loadKernel(filepath.Join(cache, "kernel", f[1]+"_"+f[2]), f[1], f[2]); err == nil {
				return k, nil
			}
		}
	}
	if pkg == "" {
		if pkg, err = defaultKernelPackage(ctx); err != nil {
			return nil, err
		}
	}
	ver, err := packageVersion(ctx, pkg)
	if err != nil {
		return nil, err
	}
	k, err := fetchKernel(ctx, cache, pkg, ver)
	if err == nil && stamp != "" {
		_ = os.WriteFile(memo, []byte(stamp+" "+pkg+" "+ver+"\n"), 0o644)
	}
	return k, err
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// aptStamp identifies the state of apt's package lists (apt-get update
// replaces files there, changing the directory's mtime).
func aptStamp() string {
	st, err := os.Stat("/var/lib/apt/lists")
	if err != nil {
		return ""
	}
	return strconv.FormatInt(st.ModTime().UnixNano(), 10)
}

func fetchKernel(ctx context.Context, cache, pkg, ver string) (*KernelImage, error) {
	dir := filepath.Join(cache, "kernel", pkg+"_"+ver)
	if k, err := loadKernel(dir, pkg, ver); err == nil {
		return k, nil
	}
	unlock, err := lockFile(filepath.Join(cache, "kernel", ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if k, err := loadKernel(dir, pkg, ver); err == nil {
		return k, nil // another process filled it while we waited
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".fetch-")
	if err != nil {
		return nil, fmt.Errorf("lab: kernel: %w", err)
	}
	defer os.RemoveAll(tmp)
	dl := exec.CommandContext(ctx, "apt-get", "download", pkg+"="+ver)
	dl.Dir = tmp
	if out, err := dl.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("lab: apt-get download %s=%s: %w: %s", pkg, ver, err, lastLines(out, 5))
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("lab: apt-get download %s: want one .deb, got %d", pkg, len(debs))
	}
	root := filepath.Join(tmp, "root")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], root).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("lab: dpkg-deb -x: %w: %s", err, lastLines(out, 5))
	}
	// Keep only what guests need: the bzImage and the module tree.
	k, err := findKernel(root, pkg, ver)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(k.ModulesDir, "modules.dep")); err != nil {
		// The package leaves modules.dep to its postinst; generate it.
		depmod, lerr := lookTool("depmod")
		if lerr != nil {
			return nil, fmt.Errorf("lab: kernel %s has no modules.dep and depmod is missing (Debian package kmod): %w", pkg, lerr)
		}
		if out, err := exec.CommandContext(ctx, depmod, "-b", root, k.Release).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("lab: depmod: %w: %s", err, lastLines(out, 5))
		}
	}
	stage := filepath.Join(tmp, "stage")
	if err := os.MkdirAll(filepath.Join(stage, "lib"), 0o755); err != nil {
		return nil, fmt.Errorf("lab: kernel: %w", err)
	}
	if err := os.Rename(k.Vmlinuz, filepath.Join(stage, "vmlinuz")); err != nil {
		return nil, fmt.Errorf("lab: kernel: %w", err)
	}
	if err := os.Rename(filepath.Dir(k.ModulesDir), filepath.Join(stage, "lib", "modules")); err != nil {
		return nil, fmt.Errorf("lab: kernel: %w", err)
	}
	if err := os.WriteFile(filepath.Join(stage, "release"), []byte(k.Release+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("lab: kernel: %w", err)
	}
	if err := os.Rename(stage, dir); err != nil {
		return nil, fmt.Errorf("lab: kernel: %w", err)
	}
	return loadKernel(dir, pkg, ver)
}

// loadKernel reads a cache entry written by FetchKernel.
func loadKernel(dir, pkg, ver string) (*KernelImage, error) {
	rel, err := os.ReadFile(filepath.Join(dir, "release"))
	if err != nil {
		return nil, err
	}
	k := &KernelImage{
		Package:    pkg,
		Version:    ver,
		Release:    strings.TrimSpace(string(rel)),
		Vmlinuz:    filepath.Join(dir, "vmlinuz"),
		ModulesDir: filepath.Join(dir, "lib", "modules", strings.TrimSpace(string(rel))),
	}
	for _, p := range []string{k.Vmlinuz, filepath.Join(k.ModulesDir, "modules.dep")} {
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// findKernel locates boot/vmlinuz-<release> and lib/modules/<release> in an
// unpacked package (bookworm ships /lib/modules, later releases /usr/lib/modules).
func findKernel(root, pkg, ver string) (*KernelImage, error) {
	vms, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(vms) != 1 {
		return nil, fmt.Errorf("lab: %s: want one boot/vmlinuz-*, got %d", pkg, len(vms))
	}
	rel := strings.TrimPrefix(filepath.Base(vms[0]), "vmlinuz-")
	for _, d := range []string{"lib/modules", "usr/lib/modules"} {
		md := filepath.Join(root, d, rel)
		if st, err := os.Stat(md); err == nil && st.IsDir() {
			if d == "usr/lib/modules" {
				// depmod -b expects <root>/lib/modules.
				if err := os.MkdirAll(filepath.Join(root, "lib"), 0o755); err == nil {
					if err := os.Rename(filepath.Join(root, d), filepath.Join(root, "lib", "modules")); err != nil {
						return nil, fmt.Errorf("lab: kernel: %w", err)
					}
					md = filepath.Join(root, "lib", "modules", rel)
				}
			}
			return &KernelImage{Package: pkg, Version: ver, Release: rel, Vmlinuz: vms[0], ModulesDir: md}, nil
		}
	}
	return nil, fmt.Errorf("lab: %s: no module directory for %s", pkg, rel)
}

var kernelDepRE = regexp.MustCompile(`^\s*Depends:\s*(linux-image-\S+-amd64)\s*$`)

func defaultKernelPackage(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		return "", fmt.Errorf("lab: apt-cache depends linux-image-amd64: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := kernelDepRE.FindStringSubmatch(sc.Text()); m != nil && !strings.Contains(m[1], "unsigned") {
			return m[1], nil
		}
	}
	return "", fmt.Errorf("lab: linux-image-amd64 depends on no linux-image-*-amd64 (run apt-get update?)")
}

func packageVersion(ctx context.Context, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", pkg).Output()
	if err != nil {
		return "", fmt.Errorf("lab: apt-cache show %s: %w", pkg, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Version: "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("lab: apt-cache show %s: no Version", pkg)
}

// ModuleDeps parses a modules.dep file ("path.ko: dep.ko dep2.ko" per line)
// into a map from module path to its dependency paths, as listed.
func ModuleDeps(r io.Reader) (map[string][]string, error) {
	deps := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		mod, rest, ok := strings.Cut(line, ":")
		mod = strings.TrimSpace(mod)
		if !ok || mod == "" {
			return nil, fmt.Errorf("lab: modules.dep line %d: no %q", n, ":")
		}
		deps[mod] = strings.Fields(rest)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("lab: modules.dep: %w", err)
	}
	return deps, nil
}

// ModuleName returns the canonical module name of a module path:
// "kernel/drivers/firmware/iscsi_ibft.ko.xz" → "iscsi_ibft"; dashes become
// underscores as in the kernel's own matching.
func ModuleName(p string) string {
	b := filepath.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	b = strings.TrimSuffix(b, ".ko")
	return strings.ReplaceAll(b, "-", "_")
}

// ResolveModules returns, in load order (dependencies first, each once), the
// module paths (relative to ModulesDir) needed to load the named modules.
// Modules built into the kernel are skipped; unknown ones yield [ErrNoModule].
func (k *KernelImage) ResolveModules(names ...string) ([]string, error) {
	f, err := os.Open(filepath.Join(k.ModulesDir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer f.Close()
	deps, err := ModuleDeps(f)
	if err != nil {
		return nil, err
	}
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(k.ModulesDir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			builtin[ModuleName(l)] = true
		}
	}
	return resolveModules(deps, builtin, names)
}

func resolveModules(deps map[string][]string, builtin map[string]bool, names []string) ([]string, error) {
	byName := make(map[string]string, len(deps))
	for p := range deps {
		byName[ModuleName(p)] = p
	}
	var (
		order []string
		state = map[string]int{} // 1 visiting, 2 done
		visit func(p string) error
	)
	visit = func(p string) error {
		switch state[p] {
		case 1:
			return fmt.Errorf("lab: module dependency cycle at %s", p)
		case 2:
			return nil
		}
		state[p] = 1
		for _, d := range deps[p] {
			if _, ok := deps[d]; !ok {
				return fmt.Errorf("%w: %s (needed by %s) is not in modules.dep", ErrNoModule, d, p)
			}
			if err := visit(d); err != nil {
				return err
			}
		}
		state[p] = 2
		order = append(order, p)
		return nil
	}
	for _, n := range names {
		n = ModuleName(n)
		p, ok := byName[n]
		if !ok {
			if builtin[n] {
				continue
			}
			return nil, fmt.Errorf("%w: %s", ErrNoModule, n)
		}
		if err := visit(p); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// lastLines returns the last n lines of b, for error messages.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
