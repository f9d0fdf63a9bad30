package iscsi

// Interoperability with real initiators: libiscsi's tools and its compliance
// suite iscsi-test-cu (Debian package libiscsi-bin), with tgtd (Debian
// package tgt) run through the same script in the same run as the reference.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testIQN = "iqn.2026-01.org.netboot:test"

func needBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian package %s)", name, pkg)
	}
	return p
}

// startServer serves srv on a loopback port and returns host:port.
func startServer(t testing.TB, srv *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return l.Addr().String()
}

// fileTarget makes a target over a sparse temporary file of size bytes.
func fileTarget(t testing.TB, name string, size int64) *Target {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	require.NoError(t, os.Truncate(path, size))
	dev, err := OpenFile(path, false)
	require.NoError(t, err)
	t.Cleanup(func() { dev.Close() })
	return &Target{Name: name, LUNs: []LUN{{Device: dev}}}
}

func runTool(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func TestLibiscsiTools(t *testing.T) {
	needBinary(t, "iscsi-ls", "libiscsi-bin")
	tg := fileTarget(t, testIQN, 64<<20)
	addr := startServer(t, &Server{Targets: []*Target{tg}})

	out, err := runTool(t, 30*time.Second, "iscsi-ls", "-s", "iscsi://"+addr+"/")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Target:"+testIQN+" Portal:"+addr+",1")
	assert.Contains(t, out, "Lun:0")
	assert.Contains(t, out, "DIRECT_ACCESS")

	url := "iscsi://" + addr + "/" + testIQN + "/0"
	out, err = runTool(t, 30*time.Second, "iscsi-inq", url)
	require.NoError(t, err, out)
	assert.Contains(t, out, "Vendor:NETBOOT")
	assert.Contains(t, out, "Peripheral Device Type:DIRECT_ACCESS")
	for _, page := range []string{"0x80", "0x83", "0xb0", "0xb1", "0xb2"} {
		out, err = runTool(t, 30*time.Second, "iscsi-inq", "-e", "1", "-c", page, url)
		assert.NoError(t, err, "VPD %s: %s", page, out)
	}

	out, err = runTool(t, 30*time.Second, "iscsi-readcapacity16", url)
	require.NoError(t, err, out)
	assert.Contains(t, out, "Total size:67108864")
	assert.Contains(t, out, "LOGICAL BLOCK LENGTH IN BYTES:512")

	// A LUN that does not exist and a target that does not exist both fail.
	out, err = runTool(t, 30*time.Second, "iscsi-inq", "iscsi://"+addr+"/"+testIQN+"/7")
	assert.Error(t, err, out)
	out, err = runTool(t, 30*time.Second, "iscsi-inq", "iscsi://"+addr+"/iqn.2026-01.org.netboot:nope/0")
	assert.Error(t, err, out)
}

func TestLibiscsiCHAPAndACL(t *testing.T) {
	needBinary(t, "iscsi-inq", "libiscsi-bin")
	tg := fileTarget(t, testIQN, 8<<20)
	tg.CHAP = &CHAP{User: "alice", Secret: "alicesecret1"}
	tg.Initiators = []string{"iqn.2026-01.org.netboot:allowed"}
	open := fileTarget(t, testIQN+"-open", 8<<20)
	var mu sync.Mutex
	var events []LoginEvent
	addr := startServer(t, &Server{Targets: []*Target{tg, open}, OnLogin: func(e LoginEvent) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	url := func(cred string) string {
		return "iscsi://" + cred + addr + "/" + testIQN + "/0"
	}
	tests := []struct {
		name, initiator, url string
		ok                   bool
	}{
		{"right secret", "iqn.2026-01.org.netboot:allowed", url("alice%alicesecret1@"), true},
		{"wrong secret", "iqn.2026-01.org.netboot:allowed", url("alice%wrongsecret1@"), false},
		{"wrong user", "iqn.2026-01.org.netboot:allowed", url("mallory%alicesecret1@"), false},
		{"no credentials", "iqn.2026-01.org.netboot:allowed", url(""), false},
		{"unknown initiator", "iqn.2026-01.org.netboot:stranger", url("alice%alicesecret1@"), false},
		{"open target, no CHAP", "iqn.2026-01.org.netboot:stranger", "iscsi://" + addr + "/" + testIQN + "-open/0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runTool(t, 30*time.Second, "iscsi-inq", "-i", tt.initiator, tt.url)
			if tt.ok {
				assert.NoError(t, err, out)
				assert.Contains(t, out, "Vendor:NETBOOT")
			} else {
				assert.Error(t, err, out)
			}
		})
	}
	// Discovery shows only what the ACL admits.
	out, err := runTool(t, 30*time.Second, "iscsi-ls", "-i", "iqn.2026-01.org.netboot:stranger", "iscsi://"+addr+"/")
	require.NoError(t, err, out)
	assert.NotContains(t, out, "Target:"+testIQN+" ")
	assert.Contains(t, out, "Target:"+testIQN+"-open")

	mu.Lock()
	defer mu.Unlock()
	var authFail, forbidden int
	for _, e := range events {
		var le *LoginError
		if errors.As(e.Err, &le) {
			switch le.Status {
			case loginAuthFailed:
				authFail++
			case loginForbidden:
				forbidden++
			}
		}
	}
	assert.GreaterOrEqual(t, authFail, 3, "wrong secret, wrong user and no credentials are authentication failures")
	assert.GreaterOrEqual(t, forbidden, 1, "an unknown initiator is not authorized")
}

// cuResult is one iscsi-test-cu test outcome.
type cuResult struct {
	suite, test string
	failed      bool
	detail      string
}

var cuFailLine = regexp.MustCompile(`^\s+\d+\. test_\S+\.c:\d+`)

// runCU runs iscsi-test-cu against url, one process per suite (every
// ALL.<suite> when suites is nil) with a timeout; a hung suite is reported.
func runCU(t *testing.T, url string, suites []string) (results []cuResult, hung []string) {
	if suites == nil {
		out, err := exec.Command("iscsi-test-cu", "-l").Output()
		require.NoError(t, err)
		for _, l := range strings.Split(string(out), "\n") {
			if s, ok := strings.CutPrefix(strings.TrimSpace(l), "ALL."); ok && !strings.Contains(s, ".") {
				suites = append(suites, s)
			}
		}
	}
	require.NotEmpty(t, suites)
	for _, s := range suites {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		b, _ := exec.CommandContext(ctx, "iscsi-test-cu", "-d", "--test=ALL."+s, url).CombinedOutput()
		if ctx.Err() != nil {
			hung = append(hung, s)
		}
		cancel()
		var cur *cuResult
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if i := strings.Index(l, "Test: "); i >= 0 && strings.HasPrefix(strings.TrimSpace(l), "Test: ") {
				name := strings.TrimSpace(l[i+6:])
				name, _, _ = strings.Cut(name, " ...")
				results = append(results, cuResult{suite: s, test: name})
				cur = &results[len(results)-1]
				continue
			}
			if cur != nil && cuFailLine.MatchString(l) {
				cur.failed = true
				cur.detail += strings.TrimSpace(l) + "; "
			}
		}
	}
	return results, hung
}

// knownCUFailures lists iscsi-test-cu tests expected to fail against this
// target, with the reason. It is empty: every applicable test passes.
var knownCUFailures = map[string]string{}

func TestLibiscsiCompliance(t *testing.T) {
	needBinary(t, "iscsi-test-cu", "libiscsi-bin")
	if testing.Short() {
		t.Skip("compliance suite skipped in -short mode")
	}
	tg := fileTarget(t, testIQN, 64<<20)
	ro := fileTarget(t, testIQN, 8<<20)
	tg.LUNs = append(tg.LUNs, LUN{Device: ro.LUNs[0].Device, ReadOnly: true}) // LUN 1: write-protected
	addr := startServer(t, &Server{Targets: []*Target{tg}})

	var tgtResults []cuResult
	var tgtHung []string
	var wg sync.WaitGroup
	tgtImg := filepath.Join(t.TempDir(), "tgt.img")
	require.NoError(t, os.WriteFile(tgtImg, nil, 0o600))
	require.NoError(t, os.Truncate(tgtImg, 64<<20))
	if url, ok := startTgtd(t, tgtImg); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tgtResults, tgtHung = runCU(t, url, nil)
		}()
	}
	ours, hung := runCU(t, "iscsi://"+addr+"/"+testIQN+"/0", nil)
	// The write-protection tests skip on a writable LUN: run them on LUN 1.
	roRes, roHung := runCU(t, "iscsi://"+addr+"/"+testIQN+"/1", []string{"ReadOnly", "Write10.WriteProtect",
		"Write16.WriteProtect", "WriteSame16.WriteProtect", "WriteVerify10.WriteProtect", "ModeSense6"})
	for i := range roRes {
		roRes[i].suite = "readonly-lun:" + roRes[i].suite
	}
	ours, hung = append(ours, roRes...), append(hung, roHung...)
	wg.Wait()

	assert.Empty(t, hung, "suites that hung against our target")
	count := func(rs []cuResult) (n, failed int, names []string) {
		for _, r := range rs {
			n++
			if r.failed {
				failed++
				names = append(names, r.suite+"."+r.test)
			}
		}
		sort.Strings(names)
		return
	}
	n, failed, names := count(ours)
	t.Logf("netboot/iscsi: %d tests, %d failed %v", n, failed, names)
	require.Greater(t, n, 200, "iscsi-test-cu ran too few tests")
	for _, r := range ours {
		if r.failed {
			if why, ok := knownCUFailures[r.suite+"."+r.test]; ok {
				t.Logf("known failure %s.%s: %s", r.suite, r.test, why)
				continue
			}
			t.Errorf("iscsi-test-cu %s.%s failed: %s", r.suite, r.test, r.detail)
		}
	}
	if tgtResults != nil {
		tn, tfailed, tnames := count(tgtResults)
		t.Logf("tgtd (reference): %d tests, %d failed %v, hung suites %v", tn, tfailed, tnames, tgtHung)
		assert.LessOrEqual(t, failed, tfailed, "we must do at least as well as tgtd")
	}
}

// startTgtd starts tgtd on a loopback portal serving the file at path as LUN 1
// and returns its libiscsi URL; ok is false (with a log line) when tgtd
// cannot run here (not installed, not root).
func startTgtd(t testing.TB, path string) (url string, ok bool) {
	t.Helper()
	tgtd, err := exec.LookPath("tgtd")
	if err != nil {
		t.Log("tgtd not installed (Debian package tgt): no reference run")
		return "", false
	}
	if os.Geteuid() != 0 {
		t.Log("tgtd needs root: no reference run")
		return "", false
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctl := fmt.Sprint(20000 + (os.Getpid()+port)%10000)
	cmd := exec.Command(tgtd, "-f", "-C", ctl, "--iscsi", fmt.Sprintf("portal=127.0.0.1:%d", port))
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill() // tgtd ignores SIGTERM while it has targets
		cmd.Wait()
	})
	adm := func(args ...string) error {
		out, err := exec.Command("tgtadm", append([]string{"-C", ctl, "--lld", "iscsi"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("tgtadm %v: %v: %s", args, err, out)
		}
		return nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for adm("--op", "show", "--mode", "target") != nil {
		if time.Now().After(deadline) {
			t.Log("tgtd did not start: no reference run")
			return "", false
		}
		time.Sleep(100 * time.Millisecond)
	}
	const iqn = "iqn.2026-01.org.netboot:tgtd"
	require.NoError(t, adm("--op", "new", "--mode", "target", "--tid", "1", "-T", iqn))
	require.NoError(t, adm("--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", path))
	require.NoError(t, adm("--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL"))
	return fmt.Sprintf("iscsi://127.0.0.1:%d/%s/1", port, iqn), true
}
