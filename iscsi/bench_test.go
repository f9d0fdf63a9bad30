package iscsi

// Throughput against a real initiator: internal/bench/diskload/loadgen/loadgen.c,
// a small libiscsi client (shared with the internal/bench runner) compiled here
// with gcc (Debian packages gcc, libiscsi-dev),
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
	out, err := exec.Command("gcc", "-O2", "-o", bin, filepath.Join("..", "internal", "bench", "diskload", "loadgen", "loadgen.c"), "-liscsi").CombinedOutput()
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
				if len(fields) >= 2 { // ops seconds lat_avg_us lat_p99_us errors
					ops, _ := strconv.ParseFloat(fields[0], 64)
					secs, _ := strconv.ParseFloat(fields[1], 64)
					b.ReportMetric(ops/secs, "iops")
				}
			})
		}
	}
}

// Hot-path micro-benchmarks: the PDU codec and CDB decoding every SCSI
// command goes through. go test -run '^$' -bench 'PDU|CDB' -benchmem ./iscsi

// benchCommandPDU is a SCSI Command PDU carrying READ(16) of 8 blocks, the
// shape libiscsi and the Linux initiator send for a 4 KiB read.
func benchCommandPDU() *PDU {
	p := &PDU{}
	p.BHS[0] = byte(OpSCSICmd)
	p.BHS[1] = 0x80 | 0x40 | 0x01 // F, R, simple task
	p.BHS.PutU32(16, 0x1234)      // ITT
	p.BHS.PutU32(20, 4096)        // expected data transfer length
	p.BHS.PutU32(24, 7)           // CmdSN
	p.BHS.PutU32(28, 9)           // ExpStatSN
	cdb := p.BHS[32:48]
	cdb[0] = 0x88 // READ(16)
	cdb[9] = 0x10 // LBA 16
	cdb[13] = 8   // 8 blocks
	return p
}

func BenchmarkPDUEncode(b *testing.B) {
	data := make([]byte, 4096)
	for _, tc := range []struct {
		name string
		p    *PDU
		dg   Digests
	}{
		{"command", benchCommandPDU(), Digests{}},
		{"command-hdigest", benchCommandPDU(), Digests{Header: true}},
		{"datain-4k", &PDU{BHS: BHS{byte(OpDataIn), 0x80}, Data: data}, Digests{}},
		{"datain-4k-digests", &PDU{BHS: BHS{byte(OpDataIn), 0x80}, Data: data}, Digests{Header: true, Data: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(BHSLen + len(tc.p.Data)))
			buf := make([]byte, 0, BHSLen+len(tc.p.Data)+16)
			for b.Loop() {
				buf = AppendPDU(buf[:0], tc.p, tc.dg)
			}
		})
	}
}

func BenchmarkPDUDecode(b *testing.B) {
	data := make([]byte, 4096)
	for _, tc := range []struct {
		name string
		p    *PDU
		dg   Digests
	}{
		{"command", benchCommandPDU(), Digests{}},
		{"command-hdigest", benchCommandPDU(), Digests{Header: true}},
		{"dataout-4k", &PDU{BHS: BHS{byte(OpDataOut), 0x80}, Data: data}, Digests{}},
		{"dataout-4k-digests", &PDU{BHS: BHS{byte(OpDataOut), 0x80}, Data: data}, Digests{Header: true, Data: true}},
	} {
		wire := AppendPDU(nil, tc.p, tc.dg)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(wire)))
			for b.Loop() {
				if _, n, err := DecodePDU(wire, tc.dg, 1<<20); err != nil || n != len(wire) {
					b.Fatalf("decode: n=%d err=%v", n, err)
				}
			}
		})
	}
}

func BenchmarkParseCDB(b *testing.B) {
	cdb := benchCommandPDU().BHS[32:48]
	b.ReportAllocs()
	for b.Loop() {
		c, err := ParseCDB(cdb)
		if err != nil || c.LBA != 16 || c.Length != 8 {
			b.Fatalf("ParseCDB = %+v, %v", c, err)
		}
	}
}
