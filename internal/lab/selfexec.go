package lab

import (
	"os"
	"strings"
	"testing"
	"time"
)

// StartMain runs the test binary itself as a server in the host's namespace:
// the package's TestMain runs the command's main when the environment
// variable env is "1" (StartMain sets it for the test), so an end-to-end test
// starts the very program a user runs. It waits, bounded by 30 s, until the
// program's output contains ready (e.g. "msg=serving") and fails the test with
// that output if the program exits first or never gets there.
func (h *Host) StartMain(t testing.TB, env, ready string, args ...string) *Process {
	t.Helper()
	t.Setenv(env, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := h.Start(t, exe, args...)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.Output(), ready) {
		select {
		case <-p.Done():
			t.Fatalf("lab: %s exited before %q:\n%s", exe, ready, p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("lab: %s did not print %q in 30 s:\n%s", exe, ready, p.Output())
		}
		time.Sleep(100 * time.Millisecond) // polling its output; bounded above
	}
	return p
}

// Tail returns the last n lines of s: the end of a serial console or a
// server log, for a failure message.
func Tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
