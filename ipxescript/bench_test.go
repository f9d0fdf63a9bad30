package ipxescript

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func benchScript() *Script {
	return New().
		Echo("Booting node-1").
		Retry(Retry{Label: "dl", Attempts: 5, Delay: time.Second, MaxDelay: 16 * time.Second, OnFail: "disk"}, func(s *Script) {
			s.LinuxBoot(Linux{
				Kernel:  "http://192.0.2.1/fedora/44/x86_64/vmlinuz",
				Initrds: []string{"http://192.0.2.1/fedora/44/x86_64/initrd.img"},
				Args:    []string{"ip=dhcp", "console=ttyS0,115200n8", "inst.repo=http://192.0.2.1/fedora/44/x86_64/os", "inst.ks=http://192.0.2.1/ks/node-1.cfg"},
			})
		}).
		Label("disk").LocalBoot()
}

// BenchmarkBuild: build and write a typical per-machine script (retry loop
// around a Linux boot, 20 lines).
func BenchmarkBuild(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := benchScript().WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse: parse and validate the same script.
func BenchmarkParse(b *testing.B) {
	text := benchScript().String()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseString(text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandler: one iPXE request through the Handler (identity parsing,
// rendering, writing), without network.
func BenchmarkHandler(b *testing.B) {
	h := &Handler{Renderer: RenderFunc(func(context.Context, *Machine) (*Script, error) { return benchScript(), nil })}
	req := httptest.NewRequest(http.MethodGet, "/boot.ipxe?mac=52-54-00-12-34-56&uuid=4c4c4544-0032-3410-8036-b4c04f4e4d32&buildarch=x86_64&platform=efi&manufacturer=QEMU&product=Standard%20PC&serial=&asset=&hostname=&ip=10.0.0.5", nil)
	req.Header.Set("User-Agent", "iPXE/1.21.1")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "#!ipxe") {
			b.Fatal(rec.Code)
		}
	}
}
