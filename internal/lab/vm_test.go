package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
)

// fakeQEMU writes a shell script that ignores QEMU's arguments and plays
// the given guest: it lets VM's console handling be tested without QEMU.
func fakeQEMU(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-qemu")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755))
	return p
}

func startFake(t *testing.T, body string) *lab.VM {
	t.Helper()
	m := lab.Machine{Name: "fake", QEMU: fakeQEMU(t, body), Dir: t.TempDir(), NoSercon: true}
	vm, err := m.Start(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { vm.Stop() })
	return vm
}

func TestVMWaitForLineSeesWholeLines(t *testing.T) {
	// The line arrives in two pieces; a pattern run on the partial output
	// would capture "ab".
	vm := startFake(t, `printf 'boot\r\ngot: ab'; sleep 0.3; printf 'c\r\n'; echo 'err' >&2`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := vm.WaitForLine(ctx, regexp.MustCompile(`^got: (\S*)$`))
	require.NoError(t, err)
	assert.Equal(t, "abc", m[1])
	require.NoError(t, vm.Wait(ctx))
	assert.Equal(t, "boot\r\ngot: abc\r\n", vm.Output())
	assert.Equal(t, "err\n", vm.Stderr())
	log, err := os.ReadFile(vm.SerialLog())
	require.NoError(t, err)
	assert.Equal(t, vm.Output(), string(log))
	assert.Contains(t, vm.Args(), "-no-reboot")
}

func TestVMWaitForErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	exited := startFake(t, `echo hello; exit 3`)
	_, err := exited.WaitFor(ctx, "never printed")
	assert.ErrorIs(t, err, lab.ErrExited)
	assert.ErrorContains(t, exited.Wait(ctx), "exit status 3")

	hung := startFake(t, `echo hello; exec sleep 600`)
	d, err := hung.WaitFor(ctx, "hello")
	require.NoError(t, err)
	assert.Positive(t, d)
	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	_, err = hung.WaitFor(short, "never printed")
	assert.ErrorIs(t, err, lab.ErrTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, hung.Exited())
	require.NoError(t, hung.Stop())
	assert.True(t, hung.Exited(), "Stop kills by PID and waits")
	require.NoError(t, hung.Stop(), "Stop twice is fine")
}
