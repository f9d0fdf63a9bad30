package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// BenchmarkSeen measures one durable sighting (a boot request) in a pool of
// 200 machines: encode, write, fsync, rename, fsync the directory.
func BenchmarkSeen(b *testing.B) {
	s, err := OpenStore(filepath.Join(b.TempDir(), "pool.json"))
	if err != nil {
		b.Fatal(err)
	}
	for i := range 200 {
		if _, err := s.Seen(Sighting{MAC: fmt.Sprintf("52:54:00:00:%02x:%02x", i>>8, i&0xff), Arch: "x86_64"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Seen(Sighting{MAC: fmt.Sprintf("52:54:00:00:%02x:%02x", (i%200)>>8, i%200&0xff), Stage: StageWaiting}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBootScript measures /boot.ipxe for an assigned machine, through the
// handler (no network): identity parsing, image file reading and validation,
// script building, and the durable sighting.
func BenchmarkBootScript(b *testing.B) {
	tp := newBenchPool(b)
	req := httptest.NewRequest(http.MethodGet, tp.bootURL(mac1), nil)
	req.Header.Set("User-Agent", "iPXE/1.0")
	h := tp.Handler()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
