package iscsi

// Throughput against a real initiator: testdata/loadgen/loadgen.c, a small
// libiscsi client compiled here with gcc (Debian packages gcc, libiscsi-dev),
// drives this package's target and tgtd (Debian package tgt, needs root)
// serving the same file in the same run. Not a timed test:
//
//	go test -run '^$' -bench BenchmarkLoad -benchtime 3s ./iscsi

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func buildLoadgen(b *testing.B) string {
	b.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		b.Skip("gcc not installed (Debian package gcc)")
	}
	if _, err := os.Stat("/usr/include/iscsi/iscsi.h"); err != nil {
		b.Skip("libiscsi headers not installed (Debian package libiscsi-dev)")
	}
	bin := filepath.Join(b.TempDir(), "loadgen")
	out, err := exec.Command("gcc", "-O2", "-o", bin, "testdata/loadgen/loadgen.c", "-liscsi").CombinedOutput()
	if err != nil {
		b.Fatalf("building loadgen: %v\n%s", err, out)
	}
	return bin
}

func BenchmarkLoad(b *testing.B) {
	loadgen := buildLoadgen(b)
	img := filepath.Join(b.TempDir(), "bench.img")
	f, err := os.Create(img)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for range 256 {
		rand.Read(chunk)
		f.Write(chunk)
	}
	f.Close()

	dev, err := OpenFile(img, false)
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	srv := &Server{Targets: []*Target{{Name: testIQN, LUNs: []LUN{{Device: dev}}}}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	targets := []struct{ name, url string }{{"netboot", "iscsi://" + l.Addr().String() + "/" + testIQN + "/0"}}
	if os.Getenv("ISCSI_BENCH_TGTD") != "0" {
		if url, ok := startTgtd(b, img); ok {
			targets = append(targets, struct{ name, url string }{"tgtd", url})
		}
	}
	workloads := []struct {
		mode   string
		bs, qd int
	}{
		{"seqread", 1 << 20, 1}, {"seqwrite", 1 << 20, 1},
		{"randread", 4096, 1}, {"randwrite", 4096, 1},
		{"randread", 4096, 32}, {"randwrite", 4096, 32},
	}
	for _, w := range workloads {
		for _, tg := range targets {
			name := fmt.Sprintf("%s-%dk-qd%d/%s", w.mode, w.bs>>10, w.qd, tg.name)
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(w.bs))
				out, err := exec.Command(loadgen, tg.url, w.mode, strconv.Itoa(w.bs), strconv.Itoa(w.qd),
					strconv.Itoa(max(b.N, w.qd))).CombinedOutput()
				if err != nil {
					b.Fatalf("loadgen: %v: %s", err, out)
				}
				fields := strings.Fields(string(out))
				if len(fields) == 2 {
					ops, _ := strconv.ParseFloat(fields[0], 64)
					secs, _ := strconv.ParseFloat(fields[1], 64)
					b.ReportMetric(ops/secs, "iops")
				}
			})
		}
	}
}
