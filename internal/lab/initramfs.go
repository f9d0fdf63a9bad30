package lab

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// ModuleListPath is where an [Initramfs] lists, one per line in load order,
// the guest paths of the kernel modules added with AddModules. [Prelude]
// insmods them.
const ModuleListPath = "/etc/lab/modules"

// Prelude is the start of every /init the builder writes (unless
// Initramfs.RawInit is set): it mounts /proc, /sys and /dev, loads the kernel
// modules listed in [ModuleListPath] in order, and prints "lab: init" so a
// test can tell the initramfs ran. A module that fails to load prints
// "lab: insmod <path> failed" and the script continues.
const Prelude = `#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /tmp /run /dev/pts
if [ -f ` + ModuleListPath + ` ]; then
	for m in $(cat ` + ModuleListPath + `); do
		insmod "$m" || echo "lab: insmod $m failed"
	done
fi
echo "lab: init"
`

// Epilogue ends every /init the builder writes (unless RawInit): it syncs
// and powers the machine off, which ends QEMU when run with -no-reboot.
const Epilogue = `
sync
echo "lab: poweroff"
poweroff -f
`

// UdhcpcScriptPath is where Debian's busybox udhcpc looks for its hook
// script by default; every image gets [UdhcpcScript] there unless the
// caller adds its own file at that path.
const UdhcpcScriptPath = "/etc/udhcpc/default.script"

// UdhcpcScript configures the interface from a busybox udhcpc lease
// (address, prefix, default route) and prints "lab: udhcpc <iface> <ip>",
// so a guest /init can run `udhcpc -i eth0 -f -q -n -t 10` (add
// `-s /etc/udhcpc/default.script` when using another busybox build).
const UdhcpcScript = `#!/bin/sh
case "$1" in
deconfig)
	ip addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	if [ -n "$router" ]; then ip route add default via "${router%% *}" dev "$interface"; fi
	echo "lab: udhcpc $interface $ip"
	;;
esac
exit 0
`

// Initramfs builds a gzip-compressed newc cpio image for a Linux guest: a
// static busybox as /bin/busybox with a symlink per applet, an /init script,
// and whatever files, host binaries (with their shared libraries) and kernel
// modules (with their dependencies) the caller adds. The zero value is not
// ready; use [NewInitramfs].
type Initramfs struct {
	// Init is the body of /init, run by busybox sh as PID 1 between
	// [Prelude] and [Epilogue]. With RawInit it is the whole script.
	Init string
	// RawInit writes Init as /init unchanged (it then needs its own "#!/bin/sh").
	RawInit bool
	// Busybox is the host path of a static busybox; empty means [BusyboxPath].
	Busybox string

	files   map[string]CPIOEntry // by name without leading slash
	modules []string             // guest paths in load order
}

// NewInitramfs returns a builder whose /init runs body (see Initramfs.Init).
func NewInitramfs(body string) *Initramfs {
	return &Initramfs{Init: body, files: map[string]CPIOEntry{}}
}

func cleanGuest(p string) (string, error) {
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" || c == "." {
		return "", fmt.Errorf("lab: initramfs: bad guest path %q", p)
	}
	return c, nil
}

// AddFile adds a regular file with the given contents and permission bits.
func (r *Initramfs) AddFile(guestPath string, data []byte, perm fs.FileMode) error {
	name, err := cleanGuest(guestPath)
	if err != nil {
		return err
	}
	r.files[name] = CPIOEntry{Name: name, Mode: cpioReg | uint32(perm.Perm()), Data: data}
	return nil
}

// AddSymlink adds a symbolic link at guestPath pointing to target.
func (r *Initramfs) AddSymlink(guestPath, target string) error {
	name, err := cleanGuest(guestPath)
	if err != nil {
		return err
	}
	r.files[name] = CPIOEntry{Name: name, Mode: cpioSymlink | 0o777, Data: []byte(target)}
	return nil
}

// AddDir adds an (empty) directory. Parents of added files are created
// automatically.
func (r *Initramfs) AddDir(guestPath string) error {
	name, err := cleanGuest(guestPath)
	if err != nil {
		return err
	}
	r.files[name] = CPIOEntry{Name: name, Mode: cpioDir | 0o755}
	return nil
}

// AddHostFile copies the host file at hostPath (following symlinks) to
// guestPath, keeping its permission bits.
func (r *Initramfs) AddHostFile(guestPath, hostPath string) error {
	data, err := os.ReadFile(hostPath)
	if err != nil {
		return fmt.Errorf("lab: initramfs: %w", err)
	}
	st, err := os.Stat(hostPath)
	if err != nil {
		return fmt.Errorf("lab: initramfs: %w", err)
	}
	return r.AddFile(guestPath, data, st.Mode().Perm())
}

// AddBinary adds the host executable at hostPath (a path, or a command name
// looked up in $PATH and the sbin directories) at the same path in the guest,
// with every shared library ldd(1) lists for it and the dynamic loader. It
// returns the guest path of the binary.
func (r *Initramfs) AddBinary(hostPath string) (string, error) {
	if !strings.Contains(hostPath, "/") {
		p, err := lookTool(hostPath)
		if err != nil {
			return "", fmt.Errorf("lab: initramfs: %w", err)
		}
		hostPath = p
	}
	abs, err := filepath.Abs(hostPath)
	if err != nil {
		return "", fmt.Errorf("lab: initramfs: %w", err)
	}
	if err := r.AddHostFile(abs, abs); err != nil {
		return "", err
	}
	out, err := exec.Command("ldd", abs).CombinedOutput()
	if err != nil {
		// ldd fails on static binaries ("not a dynamic executable"): nothing to add.
		if bytes.Contains(out, []byte("not a dynamic executable")) || bytes.Contains(out, []byte("statically linked")) {
			return abs, nil
		}
		return "", fmt.Errorf("lab: ldd %s: %w: %s", abs, err, lastLines(out, 3))
	}
	libs, err := parseLdd(out)
	if err != nil {
		return "", fmt.Errorf("lab: ldd %s: %w", abs, err)
	}
	for _, lib := range libs {
		if err := r.AddHostFile(lib, lib); err != nil {
			return "", err
		}
	}
	return abs, nil
}

// parseLdd extracts the absolute library paths from ldd output.
func parseLdd(out []byte) ([]string, error) {
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.Contains(line, "=> not found") {
			return nil, fmt.Errorf("missing library: %s", line)
		}
		var p string
		if _, rhs, ok := strings.Cut(line, "=>"); ok {
			p = strings.Fields(rhs + " x")[0]
		} else {
			p = strings.Fields(line)[0]
		}
		if strings.HasPrefix(p, "/") {
			libs = append(libs, p)
		}
	}
	return libs, nil
}

// AddModules adds the named kernel modules of k and their dependencies
// (from modules.dep), decompressed to plain .ko because busybox insmod may
// not read compressed modules, under /lib/modules/<release>/, and appends
// them to [ModuleListPath] in load order. Built-in modules are skipped;
// unknown ones yield an error wrapping [ErrNoModule].
func (r *Initramfs) AddModules(k *KernelImage, names ...string) error {
	order, err := k.ResolveModules(names...)
	if err != nil {
		return err
	}
	for _, rel := range order {
		data, err := readModule(filepath.Join(k.ModulesDir, rel))
		if err != nil {
			return err
		}
		guest := path.Join("/lib/modules", k.Release, strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(rel, ".xz"), ".zst"), ".gz"))
		if r.hasModule(guest) {
			continue
		}
		if err := r.AddFile(guest, data, 0o644); err != nil {
			return err
		}
		r.modules = append(r.modules, guest)
	}
	return nil
}

func (r *Initramfs) hasModule(guest string) bool {
	for _, m := range r.modules {
		if m == guest {
			return true
		}
	}
	return false
}

// Modules returns the guest paths of the added kernel modules in load order.
func (r *Initramfs) Modules() []string { return append([]string(nil), r.modules...) }

// readModule reads a .ko, decompressing .ko.gz in Go and .ko.xz/.ko.zst with
// the xz/zstd tools.
func readModule(p string) ([]byte, error) {
	switch {
	case strings.HasSuffix(p, ".xz"), strings.HasSuffix(p, ".zst"):
		tool := "xz"
		if strings.HasSuffix(p, ".zst") {
			tool = "zstd"
		}
		out, err := exec.Command(tool, "-dc", p).Output()
		if err != nil {
			return nil, fmt.Errorf("lab: %s -dc %s (Debian package %s): %w", tool, p, PackageFor(tool), err)
		}
		return out, nil
	case strings.HasSuffix(p, ".gz"):
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("lab: %s: %w", p, err)
		}
		return io.ReadAll(zr)
	default:
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		return b, nil
	}
}

// Entries returns the complete archive contents in the order they are
// written: directories before their contents, sorted by name.
func (r *Initramfs) Entries() ([]CPIOEntry, error) {
	bb := r.Busybox
	if bb == "" {
		bb = BusyboxPath
	}
	all := map[string]CPIOEntry{}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "run", "etc", "root", "lib", "var"} {
		all[d] = CPIOEntry{Name: d, Mode: cpioDir | 0o755}
	}
	all["dev/console"] = CPIOEntry{Name: "dev/console", Mode: cpioChar | 0o600, Major: 5, Minor: 1}
	all["dev/null"] = CPIOEntry{Name: "dev/null", Mode: cpioChar | 0o666, Major: 1, Minor: 3}
	data, err := os.ReadFile(bb)
	if err != nil {
		return nil, fmt.Errorf("lab: busybox (Debian package busybox-static): %w", err)
	}
	all["bin/busybox"] = CPIOEntry{Name: "bin/busybox", Mode: cpioReg | 0o755, Data: data}
	list, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("lab: %s --list-full: %w", bb, err)
	}
	for _, a := range strings.Fields(string(list)) {
		if a = strings.TrimPrefix(path.Clean("/"+a), "/"); a != "" && a != "bin/busybox" {
			all[a] = CPIOEntry{Name: a, Mode: cpioSymlink | 0o777, Data: []byte("/bin/busybox")}
		}
	}
	if len(r.modules) > 0 {
		all[strings.TrimPrefix(ModuleListPath, "/")] = CPIOEntry{
			Name: strings.TrimPrefix(ModuleListPath, "/"), Mode: cpioReg | 0o644,
			Data: []byte(strings.Join(r.modules, "\n") + "\n"),
		}
	}
	init := r.Init
	if !r.RawInit {
		init = Prelude + "\n" + r.Init + "\n" + Epilogue
	}
	all["init"] = CPIOEntry{Name: "init", Mode: cpioReg | 0o755, Data: []byte(init)}
	us := strings.TrimPrefix(UdhcpcScriptPath, "/")
	all[us] = CPIOEntry{Name: us, Mode: cpioReg | 0o755, Data: []byte(UdhcpcScript)}
	for n, e := range r.files {
		all[n] = e
	}
	// Parent directories.
	for n := range all {
		for d := path.Dir(n); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = CPIOEntry{Name: d, Mode: cpioDir | 0o755}
			}
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names) // a parent sorts before its children
	out := make([]CPIOEntry, 0, len(names))
	for _, n := range names {
		out = append(out, all[n])
	}
	return out, nil
}

// WriteTo writes the gzip-compressed cpio image to w.
func (r *Initramfs) WriteTo(w io.Writer) (int64, error) {
	entries, err := r.Entries()
	if err != nil {
		return 0, err
	}
	cw := &countWriter{w: w}
	zw, err := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	if err != nil {
		return 0, err
	}
	c := newCPIOWriter(zw)
	for _, e := range entries {
		if err := c.WriteEntry(e); err != nil {
			return cw.n, fmt.Errorf("lab: initramfs: %w", err)
		}
	}
	if err := c.Close(); err != nil {
		return cw.n, fmt.Errorf("lab: initramfs: %w", err)
	}
	if err := zw.Close(); err != nil {
		return cw.n, fmt.Errorf("lab: initramfs: %w", err)
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteFile writes the image to the file at p.
func (r *Initramfs) WriteFile(p string) error {
	f, err := os.Create(p)
	if err != nil {
		return fmt.Errorf("lab: initramfs: %w", err)
	}
	if _, err := r.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("lab: initramfs: %w", err)
	}
	return nil
}

// Build writes the image into the test's temporary directory and returns
// its path; errors fail the test. It skips when busybox is missing.
func (r *Initramfs) Build(t testing.TB) string {
	t.Helper()
	bb := r.Busybox
	if bb == "" {
		bb = BusyboxPath
	}
	Require(t, bb)
	p := filepath.Join(t.TempDir(), "initrd.cpio.gz")
	if err := r.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}
