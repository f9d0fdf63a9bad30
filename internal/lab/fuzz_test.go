package lab

import (
	"bytes"
	"strings"
	"testing"
)

func cpioSeed(t testing.TB, entries ...CPIOEntry) []byte {
	var buf bytes.Buffer
	w := newCPIOWriter(&buf)
	for _, e := range entries {
		if err := w.WriteEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzReadCPIO feeds arbitrary bytes to the newc reader (never a panic, a
// bounded allocation) and checks that what it accepts survives a rewrite.
func FuzzReadCPIO(f *testing.F) {
	f.Add(cpioSeed(f,
		CPIOEntry{Name: "bin", Mode: cpioDir | 0o755},
		CPIOEntry{Name: "bin/sh", Mode: cpioSymlink | 0o777, Data: []byte("busybox")},
		CPIOEntry{Name: "init", Mode: cpioReg | 0o755, Data: []byte("#!/bin/sh\necho hi\n")},
		CPIOEntry{Name: "dev/console", Mode: cpioChar | 0o600, Major: 5, Minor: 1}))
	f.Add(cpioSeed(f))
	f.Add([]byte("070701"))
	f.Add([]byte("070701" + strings.Repeat("F", 104)))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ReadCPIO(bytes.NewReader(data), 1<<20)
		if err != nil {
			return
		}
		again, err := ReadCPIO(bytes.NewReader(cpioSeed(t, entries...)), 1<<20)
		if err != nil {
			t.Fatalf("rewrite of accepted archive unreadable: %v", err)
		}
		if len(again) != len(entries) {
			t.Fatalf("rewrite has %d entries, want %d", len(again), len(entries))
		}
		for i := range entries {
			a, b := entries[i], again[i]
			if a.Name != b.Name || a.Mode != b.Mode || !bytes.Equal(a.Data, b.Data) || a.Major != b.Major || a.Minor != b.Minor {
				t.Fatalf("entry %d changed: %+v vs %+v", i, a, b)
			}
		}
	})
}

// FuzzModuleDeps parses arbitrary modules.dep text and resolves every module
// it names: errors are fine (cycles, missing deps), panics and duplicate or
// misordered loads are not.
func FuzzModuleDeps(f *testing.F) {
	f.Add("kernel/a.ko: kernel/b.ko kernel/c.ko\nkernel/b.ko: kernel/c.ko\nkernel/c.ko:\n")
	f.Add("kernel/x.ko: kernel/x.ko\n")
	f.Add("a.ko.xz: b.ko.xz\nb.ko.xz: a.ko.xz\n")
	f.Add(":\n# comment\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		deps, err := ModuleDeps(strings.NewReader(text))
		if err != nil {
			return
		}
		var names []string
		for p := range deps {
			names = append(names, ModuleName(p))
		}
		order, err := resolveModules(deps, nil, names)
		if err != nil {
			return
		}
		pos := map[string]int{}
		for i, p := range order {
			if _, dup := pos[p]; dup {
				t.Fatalf("%s loaded twice", p)
			}
			pos[p] = i
		}
		for _, p := range order {
			for _, d := range deps[p] {
				if j, ok := pos[d]; !ok || j > pos[p] {
					t.Fatalf("%s loaded before its dependency %s", p, d)
				}
			}
		}
	})
}
