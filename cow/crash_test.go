package cow

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	crashChildEnv = "COW_CRASH_CHILD" // "iter base overlay" for the child process
	crashCS       = 4096
	crashSectors  = 2 << 20 / 512 // 2 MiB base: 512 chunks, two metadata areas
)

type crashOp struct {
	first, n int  // sectors
	sync     bool // Sync after the write
}

// crashOps is the deterministic op sequence of one iteration, shared by the
// child (which runs it) and the parent (which checks the result).
type crashOps struct {
	rng *rand.Rand
	ops []crashOp
}

func newCrashOps(iter int) *crashOps {
	return &crashOps{rng: rand.New(rand.NewPCG(uint64(iter), 0xC0FFEE))}
}

func (c *crashOps) get(j int) crashOp {
	for len(c.ops) <= j {
		n := 1 + c.rng.IntN(24)
		c.ops = append(c.ops, crashOp{first: c.rng.IntN(crashSectors - n + 1), n: n, sync: c.rng.IntN(4) == 0})
	}
	return c.ops[j]
}

func (op crashOp) data(iter, j int) []byte {
	p := make([]byte, op.n*512)
	for s := range op.n {
		stampSector(p[s*512:], uint64(iter), uint64(j), uint64(op.first+s))
	}
	return p
}

// crashChild runs in the re-executed test binary: it writes and syncs
// until it is killed, reporting every completed Sync on fd 3.
func crashChild(spec string) {
	f := strings.Fields(spec)
	iter, _ := strconv.Atoi(f[0])
	report := os.NewFile(3, "report")
	fail := func(err error) {
		fmt.Fprintf(report, "E %v\n", err)
		os.Exit(2)
	}
	base, err := OpenBase(f[1])
	if err != nil {
		fail(err)
	}
	o, err := Open(f[2], base, nil)
	if err != nil {
		fail(err)
	}
	fmt.Fprintf(report, "R\n")
	ops := newCrashOps(iter)
	deadline := time.Now().Add(30 * time.Second) // never outlive a lost parent
	for j := 0; time.Now().Before(deadline); j++ {
		op := ops.get(j)
		ops.ops[j] = crashOp{} // keep memory flat
		if _, err := o.WriteAt(op.data(iter, j), int64(op.first)*512); err != nil {
			fail(err)
		}
		if op.sync {
			if err := o.Sync(); err != nil {
				fail(err)
			}
			fmt.Fprintf(report, "S %d\n", j)
		}
	}
	os.Exit(0)
}

// TestCrashSIGKILL runs a writer in a child process, kills it with SIGKILL
// at random points, reopens the overlay and checks that every write
// completed before the last successful Sync is intact and that every sector
// holds either what it held at that Sync or a whole sector of a later write
// to that very position (nothing torn, nothing misplaced). The overlay
// carries over from one kill to the next, so reopening after crashes at
// area boundaries is exercised too.
func TestCrashSIGKILL(t *testing.T) {
	if spec := os.Getenv(crashChildEnv); spec != "" {
		crashChild(spec)
		return
	}
	if testing.Short() {
		t.Skip("spawns 50 processes; skipped with -short")
	}
	kills := 50
	_, content, basePath := fileBase(t, crashSectors*512, 31)
	base, err := OpenBase(basePath)
	require.NoError(t, err)
	defer base.Close()
	path := filepath.Join(t.TempDir(), "cow")
	o, err := Create(path, base, &Options{ChunkSize: crashCS})
	require.NoError(t, err)
	require.NoError(t, o.Close())

	model := append([]byte(nil), content...)
	rng := rand.New(rand.NewPCG(5, 5))
	totalSynced := 0
	for iter := 1; iter <= kills; iter++ {
		pr, pw, err := os.Pipe()
		require.NoError(t, err)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSIGKILL$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %s %s", crashChildEnv, iter, basePath, path))
		cmd.ExtraFiles = []*os.File{pw}
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		pw.Close()
		lines := make(chan string, 1<<16)
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var delay time.Duration
		if rng.IntN(5) == 0 {
			delay = time.Duration(rng.IntN(60)) * time.Millisecond // maybe before it even opened
		} else {
			select { // wait until it is writing, then a random while
			case l := <-lines:
				require.Equal(t, "R", l, "child failed to start")
			case <-time.After(60 * time.Second):
				t.Fatal("child did not start within 60s")
			}
			delay = time.Duration(rng.IntN(150)) * time.Millisecond
		}
		time.Sleep(delay) // the random kill point; not used for synchronisation
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		last := -1
		for l := range lines { // the pipe closed when the child died
			switch {
			case strings.HasPrefix(l, "S "):
				last, _ = strconv.Atoi(l[2:])
			case strings.HasPrefix(l, "E "):
				t.Fatalf("child %d failed: %s", iter, l)
			}
		}
		pr.Close()

		ops := newCrashOps(iter)
		for j := 0; j <= last; j++ {
			op := ops.get(j)
			copy(model[op.first*512:], op.data(iter, j))
		}
		totalSynced += last + 1

		o, err := Open(path, base, nil)
		require.NoError(t, err, "reopen after kill %d", iter)
		got := readAll(t, o)
		require.NoError(t, o.Close())
		for s := 0; s < crashSectors; s++ {
			sec := got[s*512 : s*512+512]
			if string(sec) == string(model[s*512:s*512+512]) {
				continue
			}
			w, j, sector, ok := parseStamp(sec)
			require.True(t, ok, "kill %d: sector %d is torn or garbage", iter, s)
			require.True(t, int(w) == iter && int(j) > last, "kill %d: sector %d lost a synced write: holds write %d/%d, last sync after %d", iter, s, w, j, last)
			op := ops.get(int(j))
			require.True(t, s >= op.first && s < op.first+op.n && int(sector) == s, "kill %d: sector %d holds data of write %d meant for sector %d", iter, s, j, sector)
		}
		model = got // unsynced writes that survived are the new baseline
	}
	t.Logf("%d kills, %d synced writes verified", kills, totalSynced)
}
