package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Firmware selects how a [Machine] boots.
type Firmware int

const (
	// BIOS is SeaBIOS (QEMU's default); NIC option ROMs are iPXE from ipxe-qemu.
	BIOS Firmware = iota
	// UEFI is OVMF from Debian's ovmf package, with a private copy of the
	// variable store per machine.
	UEFI
)

// String returns "bios" or "uefi".
func (f Firmware) String() string {
	if f == UEFI {
		return "uefi"
	}
	return "bios"
}

// NoROM as NIC.ROM disables the NIC's option ROM (romfile=), e.g. so that
// OVMF's own PXE client, not iPXE, drives a virtio-net NIC.
const NoROM = "-"

// NIC is one network card of a [Machine], attached to a tap device.
type NIC struct {
	// Tap is the tap device (in the machine's namespace) to attach; see
	// [Net.AddTap]. Empty means a QEMU user-mode network with restrict=on
	// (no traffic leaves QEMU).
	Tap string
	// MAC is the card's address; empty lets QEMU choose 52:54:00:12:34:5x.
	MAC net.HardwareAddr
	// Model is the QEMU device, e.g. "e1000" (default) or "virtio-net-pci".
	Model string
	// ROM is the option ROM file: "" for QEMU's default (iPXE from
	// ipxe-qemu), [NoROM] for none, or a path.
	ROM string
	// BootIndex, when > 0, sets the device's bootindex (lower boots first).
	BootIndex int
	// PCIAddr pins the card's PCI slot[.function] on bus 0, e.g. "03.0"
	// (so a guest sees it at 0000:00:03.0); empty lets QEMU choose.
	PCIAddr string
}

// Disk is a drive of a [Machine].
type Disk struct {
	Path      string // image file
	Format    string // "raw" (default) or "qcow2"
	Interface string // QEMU if=: "virtio" (default), "ide", "none"
	ReadOnly  bool   // attach read-only
	Snapshot  bool   // discard writes when QEMU exits (snapshot=on)
}

// Machine describes one QEMU x86_64 guest. The zero value plus a kernel or a
// NIC is enough; fields left empty get the defaults documented on them.
type Machine struct {
	// Name labels logs and the serial log file; default "vm".
	Name string
	// Firmware is BIOS (default) or UEFI.
	Firmware Firmware
	// Kernel, Initrd and Append boot a Linux kernel directly (-kernel, -initrd,
	// -append). Append defaults to [DefaultAppend] when Kernel is set.
	Kernel, Initrd, Append string
	// MemoryMB is the guest RAM; default 256.
	MemoryMB int
	// CPUs is the number of virtual CPUs; default 1.
	CPUs int
	// NICs are the network cards, in PCI order.
	NICs []NIC
	// Disks are the drives.
	Disks []Disk
	// Args are extra QEMU arguments appended last, e.g. "-acpitable", "file=x".
	Args []string
	// Netns is the network namespace QEMU runs in (it must hold the taps);
	// empty runs it in the caller's namespace.
	Netns string
	// Accel is "tcg" or "kvm"; empty means "tcg" for Start (the [Boot]
	// helper fills it in from [Accel]).
	Accel string
	// NoSercon turns off mirroring of SeaBIOS/iPXE VGA text output to the
	// serial port (BIOS only; on by default so iPXE is visible on serial).
	NoSercon bool
	// Dir receives the serial log, UEFI vars and sercon file; default a new
	// temporary directory removed by Stop.
	Dir string
	// QEMU is the binary; default "qemu-system-x86_64".
	QEMU string
	// Logger receives start/stop events; nil is silent.
	Logger *slog.Logger
}

// DefaultAppend is the kernel command line used when Machine.Append is
// empty: console on the first serial port, no reboot loop on panic, and
// no_timer_check, without which a TCG guest on a loaded host panics
// ("IO-APIC + timer doesn't work!") when the timer calibration loses ticks.
// Build your own Append from it: DefaultAppend + " ip=…".
const DefaultAppend = "console=ttyS0,115200 panic=-1 loglevel=4 mitigations=off no_timer_check"

// ErrExited is returned (wrapped) by [VM.WaitFor] when QEMU exits before the
// pattern appears.
var ErrExited = errors.New("lab: qemu exited")

// ErrTimeout is returned (wrapped) by [VM.WaitFor] when its context ends
// before the pattern appears.
var ErrTimeout = errors.New("lab: timed out waiting for console output")

// Command returns the QEMU command line (binary first) for the machine, with
// files it needs placed in dir.
func (m *Machine) Command(dir string) ([]string, error) {
	q := m.QEMU
	if q == "" {
		q = "qemu-system-x86_64"
	}
	mem := m.MemoryMB
	if mem == 0 {
		mem = 256
	}
	cpus := m.CPUs
	if cpus == 0 {
		cpus = 1
	}
	accel := m.Accel
	if accel == "" {
		accel = "tcg"
	}
	args := []string{q,
		"-name", m.name(),
		"-machine", "pc,accel=" + accel,
		"-m", strconv.Itoa(mem),
		"-smp", strconv.Itoa(cpus),
		"-display", "none", "-vga", "none", "-monitor", "none",
		"-serial", "stdio",
		"-no-reboot",
		"-nodefaults",
	}
	if accel == "tcg" {
		args = append(args, "-cpu", "max")
	}
	switch m.Firmware {
	case UEFI:
		vars, err := os.ReadFile(OVMFVars)
		if err != nil {
			return nil, fmt.Errorf("lab: UEFI vars (Debian package ovmf): %w", err)
		}
		vp := filepath.Join(dir, "OVMF_VARS.fd")
		if err := os.WriteFile(vp, vars, 0o644); err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+OVMFCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vp)
	default:
		if !m.NoSercon {
			// SeaBIOS mirrors VGA text (its own and iPXE's) to this port;
			// the value must come from a file holding 0x3f8 little-endian.
			sp := filepath.Join(dir, "sercon-port")
			if err := os.WriteFile(sp, []byte{0xf8, 0x03}, 0o644); err != nil {
				return nil, fmt.Errorf("lab: %w", err)
			}
			args = append(args, "-fw_cfg", "name=etc/sercon-port,file="+sp)
		}
	}
	if m.Kernel != "" {
		app := m.Append
		if app == "" {
			app = DefaultAppend
		}
		args = append(args, "-kernel", m.Kernel, "-append", app)
		if m.Initrd != "" {
			args = append(args, "-initrd", m.Initrd)
		}
	}
	for i, n := range m.NICs {
		id := "n" + strconv.Itoa(i)
		if n.Tap != "" {
			args = append(args, "-netdev", "tap,id="+id+",ifname="+n.Tap+",script=no,downscript=no")
		} else {
			args = append(args, "-netdev", "user,id="+id+",restrict=on")
		}
		model := n.Model
		if model == "" {
			model = "e1000"
		}
		dev := model + ",netdev=" + id
		if len(n.MAC) > 0 {
			dev += ",mac=" + n.MAC.String()
		}
		switch n.ROM {
		case "":
		case NoROM:
			dev += ",romfile="
		default:
			dev += ",romfile=" + n.ROM
		}
		if n.BootIndex > 0 {
			dev += ",bootindex=" + strconv.Itoa(n.BootIndex)
		}
		if n.PCIAddr != "" {
			dev += ",addr=" + n.PCIAddr
		}
		args = append(args, "-device", dev)
	}
	for _, d := range m.Disks {
		f := d.Format
		if f == "" {
			f = "raw"
		}
		iface := d.Interface
		if iface == "" {
			iface = "virtio"
		}
		spec := "file=" + d.Path + ",format=" + f + ",if=" + iface
		if d.ReadOnly {
			spec += ",readonly=on"
		}
		if d.Snapshot {
			spec += ",snapshot=on"
		}
		args = append(args, "-drive", spec)
	}
	return append(args, m.Args...), nil
}

func (m *Machine) name() string {
	if m.Name == "" {
		return "vm"
	}
	return m.Name
}

// VM is a running QEMU process started by [Machine.Start].
type VM struct {
	// Name is the machine's name.
	Name string

	cmd     *exec.Cmd
	argv    []string
	dir     string
	ownDir  bool
	logFile *os.File
	stderr  bytes.Buffer
	log     *slog.Logger
	started time.Time

	mu      sync.Mutex
	out     []byte
	changed chan struct{} // closed and replaced on every output or exit
	exited  bool
	exitErr error
	done    chan struct{}
	stop    sync.Once
}

// Start launches QEMU for the machine. Serial output (the guest's ttyS0) is
// kept in memory (see Output, WaitFor) and written to SerialLog(). Cancelling
// ctx kills QEMU. Call Stop when done.
func (m *Machine) Start(ctx context.Context) (*VM, error) {
	dir, own := m.Dir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "lab-"+m.name()+"-")
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		dir, own = d, true
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	argv, err := m.Command(dir)
	if err != nil {
		return nil, err
	}
	if m.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", m.Netns}, argv...)
	}
	logFile, err := os.Create(filepath.Join(dir, m.name()+".serial.log"))
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	v := &VM{Name: m.name(), argv: argv, dir: dir, ownDir: own, logFile: logFile, log: m.Logger,
		changed: make(chan struct{}), done: make(chan struct{})}
	// `ip netns exec` execs QEMU in place, so the PID is QEMU's.
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = nil
	cmd.Stdout = (*vmWriter)(v)
	cmd.Stderr = &lockedWriter{mu: &v.mu, w: &v.stderr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	v.cmd = cmd
	if err := cmd.Start(); err != nil {
		logFile.Close()
		if own {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("lab: start qemu: %w", err)
	}
	v.started = time.Now()
	if v.log != nil {
		v.log.Info("qemu started", "name", v.Name, "pid", cmd.Process.Pid, "args", strings.Join(argv, " "))
	}
	go func() {
		err := cmd.Wait()
		v.mu.Lock()
		v.exited, v.exitErr = true, err
		close(v.changed)
		v.changed = make(chan struct{})
		v.mu.Unlock()
		v.logFile.Sync()
		close(v.done)
		if v.log != nil {
			v.log.Info("qemu exited", "name", v.Name, "err", err, "after", time.Since(v.started))
		}
	}()
	return v, nil
}

type vmWriter VM

func (w *vmWriter) Write(p []byte) (int, error) {
	v := (*VM)(w)
	v.mu.Lock()
	v.out = append(v.out, p...)
	close(v.changed)
	v.changed = make(chan struct{})
	v.mu.Unlock()
	v.logFile.Write(p)
	return len(p), nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Args returns the command line QEMU was started with (including the
// `ip netns exec` prefix when it runs in a namespace).
func (v *VM) Args() []string { return append([]string(nil), v.argv...) }

// PID returns QEMU's process id.
func (v *VM) PID() int { return v.cmd.Process.Pid }

// Dir returns the directory holding the machine's serial log and state.
func (v *VM) Dir() string { return v.dir }

// SerialLog returns the path of the file that receives the serial output.
func (v *VM) SerialLog() string { return v.logFile.Name() }

// Output returns everything the guest wrote to its serial port so far.
func (v *VM) Output() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return string(v.out)
}

// Stderr returns what QEMU itself wrote to stderr (errors, warnings).
func (v *VM) Stderr() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stderr.String()
}

// WaitFor waits until the serial output contains substr and returns the
// time since start. It fails with [ErrTimeout] when ctx ends and with
// [ErrExited] when QEMU exits first.
func (v *VM) WaitFor(ctx context.Context, substr string) (time.Duration, error) {
	_, d, err := v.waitMatch(ctx, func(b []byte) []string {
		if bytes.Contains(b, []byte(substr)) {
			return []string{substr}
		}
		return nil
	}, strconv.Quote(substr))
	return d, err
}

// WaitForRegexp waits until the serial output matches re and returns the
// leftmost match and its submatches, like regexp.FindStringSubmatch. The
// output may end mid-line: end the pattern with \n, or use WaitForLine.
func (v *VM) WaitForRegexp(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	m, _, err := v.waitMatch(ctx, func(b []byte) []string {
		if sm := re.FindSubmatch(b); sm != nil {
			out := make([]string, len(sm))
			for i, s := range sm {
				out[i] = string(s)
			}
			return out
		}
		return nil
	}, "/"+re.String()+"/")
	return m, err
}

// WaitForLine waits until a complete line of serial output (ended by a
// newline; a trailing \r is dropped) matches re, and returns the submatches
// as regexp.FindStringSubmatch does. Unlike WaitForRegexp it cannot match a
// line the guest has only half written, so `value=(\S*)` is safe.
func (v *VM) WaitForLine(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	m, _, err := v.waitMatch(ctx, func(b []byte) []string {
		end := bytes.LastIndexByte(b, '\n')
		if end < 0 {
			return nil
		}
		for _, line := range bytes.Split(b[:end], []byte("\n")) {
			if sm := re.FindSubmatch(bytes.TrimSuffix(line, []byte("\r"))); sm != nil {
				out := make([]string, len(sm))
				for i, s := range sm {
					out[i] = string(s)
				}
				return out
			}
		}
		return nil
	}, "line /"+re.String()+"/")
	return m, err
}

func (v *VM) waitMatch(ctx context.Context, match func([]byte) []string, what string) ([]string, time.Duration, error) {
	for {
		v.mu.Lock()
		m := match(v.out)
		exited, exitErr, ch := v.exited, v.exitErr, v.changed
		v.mu.Unlock()
		if m != nil {
			return m, time.Since(v.started), nil
		}
		if exited {
			return nil, time.Since(v.started), fmt.Errorf("%w (%v) before %s appeared on %s's console; stderr: %s",
				ErrExited, exitErr, what, v.Name, strings.TrimSpace(v.Stderr()))
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, time.Since(v.started), fmt.Errorf("%w: %s on %s's console after %v: %w",
				ErrTimeout, what, v.Name, time.Since(v.started).Round(time.Millisecond), ctx.Err())
		}
	}
}

// Wait waits for QEMU to exit (e.g. after the guest powers off) or for ctx
// to end, and returns QEMU's exit error.
func (v *VM) Wait(ctx context.Context) error {
	select {
	case <-v.done:
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.exitErr
	case <-ctx.Done():
		return fmt.Errorf("lab: waiting for %s to exit: %w", v.Name, ctx.Err())
	}
}

// Exited reports whether QEMU has exited.
func (v *VM) Exited() bool {
	select {
	case <-v.done:
		return true
	default:
		return false
	}
}

// Stop kills QEMU by its PID (if still running), waits for it, and removes
// the temporary directory Start created. It is safe to call more than once.
func (v *VM) Stop() error {
	v.stop.Do(func() {
		if !v.Exited() {
			_ = v.cmd.Process.Kill()
		}
		select {
		case <-v.done:
		case <-time.After(30 * time.Second):
		}
		v.logFile.Close()
		if v.ownDir {
			os.RemoveAll(v.dir)
		}
	})
	return nil
}

// Boot starts m for a test: it fills m.Accel from [Accel] when empty, puts
// the machine's files in a test temporary directory, stops QEMU in
// t.Cleanup, and logs the serial output tail when the test failed. It skips
// when qemu-system-x86_64 (or OVMF for UEFI) is missing.
func Boot(t testing.TB, m Machine) *VM {
	t.Helper()
	q := m.QEMU
	if q == "" {
		q = "qemu-system-x86_64"
	}
	Require(t, q)
	if m.Firmware == UEFI {
		Require(t, OVMFCode, OVMFVars)
	}
	if m.Accel == "" {
		m.Accel = Accel(t)
	}
	if m.Dir == "" {
		m.Dir = t.TempDir()
	}
	v, err := m.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		v.Stop()
		if t.Failed() {
			t.Logf("lab: %s: %s\nserial output (last 40 lines):\n%s\nqemu stderr: %s",
				v.Name, strings.Join(v.argv, " "), lastLines([]byte(v.Output()), 40), v.Stderr())
		}
	})
	return v
}
