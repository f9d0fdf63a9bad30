package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crashEnv makes the test binary a writer that records machines until killed.
const crashEnv = "POOL_CRASH_WRITER"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	if addr := os.Getenv(proxyEnv); addr != "" {
		guestfwdRelay(addr)
		return
	}
	if path := os.Getenv(crashEnv); path != "" {
		crashWriter(path)
		return
	}
	os.Exit(m.Run())
}

// crashWriter adds machines one by one and prints each acknowledged count.
func crashWriter(path string) {
	s, err := OpenStore(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 1; ; i++ {
		mac := fmt.Sprintf("52:54:00:%02x:%02x:%02x", i>>16&0xff, i>>8&0xff, i&0xff)
		if _, err := s.Seen(Sighting{MAC: mac, Stage: StageWaiting}); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		if err := s.Assign([]string{mac}, "debian"); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(i)
	}
}

// A writer killed with SIGKILL in the middle of its writes leaves a state file
// that opens and holds every change it acknowledged.
func TestStoreSurvivesKill(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "pool.json")
	for round := 0; round < 3; round++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		acked := 0
		sc := bufio.NewScanner(out)
		deadline := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
		for sc.Scan() {
			n, err := strconv.Atoi(sc.Text())
			require.NoError(t, err, sc.Text())
			acked = n
			if acked >= 20+round*7 {
				break
			}
		}
		require.NoError(t, cmd.Process.Kill())
		cmd.Wait()
		deadline.Stop()
		require.GreaterOrEqual(t, acked, 20, "the writer made too little progress")

		s, err := OpenStore(path)
		require.NoError(t, err, "round %d", round)
		ms := s.Machines()
		assert.GreaterOrEqual(t, len(ms), acked, "every acknowledged machine survives")
		assigned := 0
		for _, m := range ms {
			if m.Image == "debian" {
				assigned++
			}
		}
		assert.GreaterOrEqual(t, assigned, acked, "every acknowledged assignment survives")
	}
}
