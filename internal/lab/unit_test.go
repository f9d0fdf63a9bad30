package lab_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
)

func TestCacheDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	t.Setenv(lab.CacheEnv, dir)
	got, err := lab.CacheDir()
	require.NoError(t, err)
	assert.Equal(t, dir, got)
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.True(t, st.IsDir())

	t.Setenv(lab.CacheEnv, "")
	got, err = lab.CacheDir()
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(got, filepath.Join(".cache", "lab")), got)
	// The default lives under the module root, beside go.mod.
	_, err = os.Stat(filepath.Join(filepath.Dir(filepath.Dir(got)), "go.mod"))
	assert.NoError(t, err)
}

func TestRequireSkipsWithPackageName(t *testing.T) {
	reached, missingSkipped := false, false
	t.Run("expected_skip_missing_tool", func(t *testing.T) {
		t.Cleanup(func() { missingSkipped = t.Skipped() })
		lab.Require(t, "sh", "qemu-img-definitely-not-here")
		reached = true
	})
	assert.True(t, missingSkipped)
	assert.False(t, reached, "Require must stop the test")
	assert.Equal(t, "qemu-system-x86", lab.PackageFor("qemu-system-x86_64"))
	assert.Equal(t, "ovmf", lab.PackageFor(lab.OVMFCode))

	skipped := false
	t.Run("expected_skip_absent_file", func(t *testing.T) {
		t.Cleanup(func() { skipped = t.Skipped() })
		lab.Require(t, "/nonexistent/file")
	})
	assert.True(t, skipped)
	present := false
	t.Run("present", func(t *testing.T) {
		t.Cleanup(func() { present = !t.Skipped() })
		lab.Require(t, "sh")
	})
	assert.True(t, present)
}

func TestCPIORoundTrip(t *testing.T) {
	lab.Require(t, lab.BusyboxPath)
	rd := lab.NewInitramfs(`echo hi`)
	require.NoError(t, rd.AddFile("/etc/deep/dir/file.txt", []byte("abc"), 0o600))
	require.NoError(t, rd.AddSymlink("/usr/lib/link", "../../etc/deep/dir/file.txt"))
	require.NoError(t, rd.AddDir("/mnt/empty"))
	require.Error(t, rd.AddFile("/", nil, 0o644))
	var buf bytes.Buffer
	n, err := rd.WriteTo(&buf)
	require.NoError(t, err)
	assert.Equal(t, int64(buf.Len()), n)

	zr, err := gzip.NewReader(&buf)
	require.NoError(t, err)
	entries, err := lab.ReadCPIO(zr, 64<<20)
	require.NoError(t, err)
	byName := map[string]lab.CPIOEntry{}
	seen := map[string]bool{}
	for _, e := range entries {
		// Directories come before anything inside them.
		if d := filepath.Dir(e.Name); d != "." {
			assert.True(t, seen[d], "%s before its directory", e.Name)
		}
		seen[e.Name] = true
		byName[e.Name] = e
	}
	assert.Equal(t, []byte("abc"), byName["etc/deep/dir/file.txt"].Data)
	assert.Equal(t, fs.FileMode(0o600), byName["etc/deep/dir/file.txt"].FileMode())
	assert.Equal(t, fs.ModeSymlink|0o777, byName["usr/lib/link"].FileMode())
	assert.True(t, byName["mnt/empty"].IsDir())
	assert.True(t, byName["bin/sh"].FileMode()&fs.ModeSymlink != 0)
	assert.Equal(t, "/bin/busybox", string(byName["bin/sh"].Data))
	con := byName["dev/console"]
	assert.Equal(t, fs.ModeDevice|fs.ModeCharDevice|0o600, con.FileMode())
	assert.Equal(t, [2]uint32{5, 1}, [2]uint32{con.Major, con.Minor})
	init := string(byName["init"].Data)
	assert.True(t, strings.HasPrefix(init, lab.Prelude))
	assert.Contains(t, init, "echo hi")
	assert.True(t, strings.HasSuffix(init, lab.Epilogue))

	// The host's cpio (if installed) reads our archive too.
	if _, err := exec.LookPath("cpio"); err == nil {
		buf.Reset()
		_, err := rd.WriteTo(&buf)
		require.NoError(t, err)
		zr, err := gzip.NewReader(&buf)
		require.NoError(t, err)
		raw, err := io.ReadAll(zr)
		require.NoError(t, err)
		cmd := exec.Command("cpio", "-it", "--quiet")
		cmd.Stdin = bytes.NewReader(raw)
		out, err := cmd.Output()
		require.NoError(t, err)
		assert.Contains(t, string(out), "etc/deep/dir/file.txt\n")
		assert.Contains(t, string(out), "dev/console\n")
	}
}

func TestReadCPIORejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":     "",
		"bad magic": strings.Repeat("x", 110),
		"bad hex":   "070701" + strings.Repeat("g", 104),
		"truncated": "070701" + strings.Repeat("0", 80) + "00000010" + strings.Repeat("0", 16),
	} {
		_, err := lab.ReadCPIO(strings.NewReader(in), 1<<20)
		assert.ErrorIs(t, err, lab.ErrCPIO, name)
	}
}

func TestRawInit(t *testing.T) {
	lab.Require(t, lab.BusyboxPath)
	rd := lab.NewInitramfs("#!/bin/sh\necho raw\n")
	rd.RawInit = true
	entries, err := rd.Entries()
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name == "init" {
			assert.Equal(t, "#!/bin/sh\necho raw\n", string(e.Data))
			return
		}
	}
	t.Fatal("no /init")
}

func TestModuleDepsParse(t *testing.T) {
	deps, err := lab.ModuleDeps(strings.NewReader("kernel/a.ko: kernel/b.ko kernel/c.ko\n\nkernel/c.ko:\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"kernel/a.ko": {"kernel/b.ko", "kernel/c.ko"}, "kernel/c.ko": {}}, deps)
	_, err = lab.ModuleDeps(strings.NewReader("no colon here\n"))
	assert.Error(t, err)
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/firmware/iscsi_ibft.ko": "iscsi_ibft",
		"kernel/x/dm-snapshot.ko.xz":            "dm_snapshot",
		"kernel/x/libiscsi.ko.zst":              "libiscsi",
		"iscsi-tcp":                             "iscsi_tcp",
	} {
		assert.Equal(t, want, lab.ModuleName(in), in)
	}
}

func TestMachineCommand(t *testing.T) {
	dir := t.TempDir()
	mac, _ := net.ParseMAC("52:54:00:77:00:09")
	m := lab.Machine{Name: "m1", Kernel: "/k", Initrd: "/i", MemoryMB: 512,
		NICs: []lab.NIC{
			{Tap: "tap3", MAC: mac, BootIndex: 1},
			{Model: "virtio-net-pci", ROM: lab.NoROM},
			{Tap: "tap4", ROM: "/r.rom", PCIAddr: "05.0"},
		},
		Disks: []lab.Disk{{Path: "/d.img", ReadOnly: true}, {Path: "/q.qcow2", Format: "qcow2", Interface: "ide", Snapshot: true}},
		Args:  []string{"-acpitable", "file=/t.aml"},
	}
	argv, err := m.Command(dir)
	require.NoError(t, err)
	cmd := strings.Join(argv, " ")
	for _, want := range []string{
		"-machine pc,accel=tcg", "-m 512", "-no-reboot", "-display none", "-serial stdio",
		"-kernel /k -append " + lab.DefaultAppend + " -initrd /i",
		"-netdev tap,id=n0,ifname=tap3,script=no,downscript=no -device e1000,netdev=n0,mac=52:54:00:77:00:09,bootindex=1",
		"-netdev user,id=n1,restrict=on -device virtio-net-pci,netdev=n1,romfile=",
		"-device e1000,netdev=n2,romfile=/r.rom,addr=05.0",
		"-drive file=/d.img,format=raw,if=virtio,readonly=on",
		"-drive file=/q.qcow2,format=qcow2,if=ide,snapshot=on",
		"-fw_cfg name=etc/sercon-port,file=" + filepath.Join(dir, "sercon-port"),
	} {
		assert.Contains(t, cmd, want)
	}
	assert.True(t, strings.HasSuffix(cmd, "-acpitable file=/t.aml"))
	port, err := os.ReadFile(filepath.Join(dir, "sercon-port"))
	require.NoError(t, err)
	assert.Equal(t, []byte{0xf8, 0x03}, port, "0x3f8 little-endian")

	m = lab.Machine{NoSercon: true}
	argv, err = m.Command(dir)
	require.NoError(t, err)
	assert.NotContains(t, strings.Join(argv, " "), "sercon")
	assert.NotContains(t, strings.Join(argv, " "), "-kernel")

	if _, err := os.Stat(lab.OVMFVars); err == nil {
		m = lab.Machine{Firmware: lab.UEFI}
		argv, err = m.Command(dir)
		require.NoError(t, err)
		cmd = strings.Join(argv, " ")
		assert.Contains(t, cmd, "if=pflash,format=raw,unit=0,readonly=on,file="+lab.OVMFCode)
		assert.Contains(t, cmd, "if=pflash,format=raw,unit=1,file="+filepath.Join(dir, "OVMF_VARS.fd"))
		assert.NotContains(t, cmd, "sercon")
	}
}

func TestAddBinaryBringsLibraries(t *testing.T) {
	lab.Require(t, lab.BusyboxPath, "xz", "ldd")
	rd := lab.NewInitramfs("")
	p, err := rd.AddBinary("xz")
	require.NoError(t, err)
	entries, err := rd.Entries()
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, "/"+e.Name)
	}
	all := strings.Join(names, "\n")
	assert.Contains(t, names, p)
	assert.Regexp(t, `(?m)/liblzma\.so\.5$`, all)
	assert.Regexp(t, `(?m)/libc\.so\.6$`, all)
	assert.Regexp(t, `(?m)/ld-linux-x86-64\.so\.2$`, all)

	// A static binary has no libraries and is not an error.
	_, err = rd.AddBinary(lab.BusyboxPath)
	require.NoError(t, err)
	_, err = rd.AddBinary("no-such-binary-here")
	assert.Error(t, err)
}

func TestTail(t *testing.T) {
	assert.Equal(t, "c\nd", lab.Tail("a\nb\nc\nd", 2))
	assert.Equal(t, "a\nb", lab.Tail("a\nb", 5))
}
