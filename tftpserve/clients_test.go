package tftpserve

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// peerClient is a real TFTP client program.
type peerClient struct {
	name    string
	bin     string
	pkg     string // Debian package
	blksize []int  // 0: the client's default (512, no option)
	args    func(host, port, remote, local string, blksize int) []string
}

var peerClients = []peerClient{
	{
		// Debian's tftp-hpa client has no blksize option.
		name: "tftp-hpa", bin: "tftp", pkg: "tftp-hpa", blksize: []int{0},
		args: func(host, port, remote, local string, _ int) []string {
			return []string{"-m", "octet", host, port, "-c", "get", remote, local}
		},
	},
	{
		name: "atftp", bin: "atftp", pkg: "atftp", blksize: []int{0, 1468, 65464},
		args: func(host, port, remote, local string, bs int) []string {
			a := []string{"-g", "-r", remote, "-l", local, "--option", "tsize 0"}
			if bs != 0 {
				a = append(a, "--option", "blksize "+strconv.Itoa(bs))
			}
			return append(a, host, port)
		},
	},
	{
		name: "busybox", bin: "busybox", pkg: "busybox-static", blksize: []int{0, 1468, 65464},
		args: func(host, port, remote, local string, bs int) []string {
			a := []string{"tftp", "-g", "-r", remote, "-l", local}
			if bs != 0 {
				a = append(a, "-b", strconv.Itoa(bs))
			}
			return append(a, host, port)
		},
	},
	{
		name: "curl", bin: "curl", pkg: "curl", blksize: []int{0, 1468, 65464},
		args: func(host, port, remote, local string, bs int) []string {
			a := []string{"-sS", "--path-as-is", "--max-time", "120", "-o", local}
			if bs != 0 {
				a = append(a, "--tftp-blksize", strconv.Itoa(bs))
			}
			return append(a, "tftp://"+net.JoinHostPort(host, port)+"/"+remote)
		},
	},
}

// runPeer fetches remote with client c into a fresh file and returns its
// path and the client's combined output.
func runPeer(t *testing.T, c peerClient, addr, remote string, bs int) (string, string, error) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	local := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, c.args(host, port, remote, local, bs)...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	// tftp-hpa exits 0 even when the server refuses; it prints the error.
	if err == nil && strings.Contains(strings.ToLower(string(out)), "error") {
		err = fmt.Errorf("client reported an error")
	}
	return local, string(out), err
}

func requirePeer(t *testing.T, c peerClient) {
	t.Helper()
	if _, err := exec.LookPath(c.bin); err != nil {
		t.Skipf("%s not installed (Debian package %s)", c.bin, c.pkg)
	}
}

// TestPeerClients fetches every test file with tftp-hpa, atftp, busybox
// tftp and curl, at each block size the client can ask for, with the
// default server, with send-ahead (Anticipate) on, and in single-port
// mode, and compares SHA-256 sums.
func TestPeerClients(t *testing.T) {
	if testing.Short() {
		t.Skip("interop with real clients takes a while")
	}
	dir := testTree(t)
	modes := []struct {
		name  string
		srv   func() *Server
		sizes []string
	}{
		{"default", func() *Server { return &Server{Handler: openTestDir(t)} }, nil},
		// Clients asking for 65464 get 1468 here: see Server.Anticipate.
		{"anticipate", func() *Server { return &Server{Handler: openTestDir(t), Anticipate: 16, BlockSize: 1468} }, nil},
		{"singleport", func() *Server { return &Server{Handler: openTestDir(t), SinglePort: true} }, []string{"empty.bin", "512.bin", "513.bin", "1m.bin"}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			checkGoroutines(t)
			addr := startServer(t, m.srv(), "127.0.0.1")
			for _, c := range peerClients {
				t.Run(c.name, func(t *testing.T) {
					requirePeer(t, c)
					for _, bs := range c.blksize {
						for name := range testSizes {
							if m.sizes != nil && !contains(m.sizes, name) {
								continue
							}
							t.Run(fmt.Sprintf("%s/blksize=%d", name, bs), func(t *testing.T) {
								local, out, err := runPeer(t, c, addr, name, bs)
								require.NoError(t, err, out)
								require.Equal(t, fileSHA(t, filepath.Join(dir, name)), fileSHA(t, local), out)
							})
						}
					}
				})
			}
		})
	}
}

// TestPeerTraversal asks each real client for files outside the root.
func TestPeerTraversal(t *testing.T) {
	checkGoroutines(t)
	addr := startServer(t, &Server{Handler: openTestDir(t)}, "127.0.0.1")
	for _, c := range peerClients {
		t.Run(c.name, func(t *testing.T) {
			requirePeer(t, c)
			for _, name := range []string{"../outside/secret.txt", "/../outside/secret.txt", "escape", "sub/../../outside/secret.txt", "%2e%2e/outside/secret.txt"} {
				local, out, err := runPeer(t, c, addr, name, 0)
				require.Error(t, err, "%s fetched %q: %s", c.name, name, out)
				b, _ := os.ReadFile(local)
				require.NotContains(t, string(b), "SECRET")
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
