package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// Need returns nil when the program is on PATH (or an absolute path that
// exists), else an error naming the Debian package that provides it.
func Need(prog, debianPackage string) error {
	if _, err := exec.LookPath(prog); err != nil {
		return fmt.Errorf("%s %w (Debian package %s)", prog, ErrMissing, debianPackage)
	}
	return nil
}

// Proc is a started server process with its output captured.
type Proc struct {
	Cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{}
	err  error
}

// StartProc starts a program, inside network namespace netns when it is
// not empty (through `ip netns exec`, which execs the program: the PID is
// the server's). The process gets its own process group so Stop reaches
// whatever it forks.
func StartProc(netns string, env []string, prog string, args ...string) (*Proc, error) {
	if netns != "" {
		args = append([]string{"netns", "exec", netns, prog}, args...)
		prog = "ip"
	}
	cmd := exec.Command(prog, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// PID returns the process id.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Output returns what the process printed so far.
func (p *Proc) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the process group, waits up to 5 s, then SIGKILLs
// it, and waits for the exit.
func (p *Proc) Stop() error {
	if p.Exited() {
		return nil
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
		<-p.done
	}
	return nil
}

// WaitOutput waits until the process output matches re, the process exits
// (an error with its output) or ctx ends.
func (p *Proc) WaitOutput(ctx context.Context, re *regexp.Regexp) error {
	for {
		if re.MatchString(p.Output()) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before %q: %v\n%s", re, p.err, tail(p.Output(), 2000))
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q: %w\n%s", re, ctx.Err(), tail(p.Output(), 2000))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitTCP waits until addr accepts TCP connections (dialled from network
// namespace netns when it is not empty), the process exits, or ctx ends.
func (p *Proc) WaitTCP(ctx context.Context, netns, addr string) error {
	for {
		var err error
		dial := func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}
		if netns != "" {
			err = InNetns(netns, dial)
		} else {
			err = dial()
		}
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before listening on %s: %v\n%s", addr, p.err, tail(p.Output(), 2000))
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", addr, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitUDPBound waits until some socket of the process (or its children) is
// bound to UDP port, read from /proc/net/udp inside the namespace, then
// returns. It is the readiness signal for UDP servers that print nothing.
func (p *Proc) WaitUDPBound(ctx context.Context, port int) error {
	path := fmt.Sprintf("/proc/%d/net/udp", p.PID())
	want := []byte(fmt.Sprintf(":%04X ", port))
	for {
		if b, err := os.ReadFile(path); err == nil {
			for _, l := range bytes.Split(b, []byte("\n"))[1:] {
				f := bytes.Fields(l)
				if len(f) > 1 && bytes.HasSuffix(append(f[1], ' '), want) {
					return nil
				}
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before binding UDP port %d: %v\n%s", port, p.err, tail(p.Output(), 2000))
		case <-ctx.Done():
			return fmt.Errorf("waiting for UDP port %d: %w", port, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Server wraps the process as a harness Server with the given address.
func (p *Proc) Server(addr string, cleanup ...func()) *Server {
	return &Server{PID: p.PID(), Addr: addr, Stop: func() error {
		err := p.Stop()
		for _, c := range cleanup {
			c()
		}
		return err
	}}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 4<<20 { // keep memory bounded on chatty servers
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

var buildMu sync.Mutex
var built = map[string]string{}

// BuildOurs builds the main package at pkg (an import path or ./dir relative
// to the module root) into a temporary directory once per run and returns
// the binary's path. Our servers run as their own processes so their memory
// is measured the same way as the peers'.
func BuildOurs(ctx context.Context, pkg string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p, nil
	}
	dir, err := os.MkdirTemp("", "netboot-bench-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out, nil
}
