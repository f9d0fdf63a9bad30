package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFlagErrors(t *testing.T) {
	img := filepath.Join(t.TempDir(), "d.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no name", []string{"-lun", img}, "-name and at least one -lun are required"},
		{"no lun", []string{"-name", "iqn.2026-01.org.x:d"}, "-name and at least one -lun are required"},
		{"missing file", []string{"-name", "iqn.2026-01.org.x:d", "-lun", img + ".nope"}, "no such file"},
		{"bad chap", []string{"-name", "iqn.2026-01.org.x:d", "-lun", img, "-chap", "nocolon"}, "USER:SECRET"},
		{"short secret", []string{"-name", "iqn.2026-01.org.x:d", "-lun", img, "-chap", "u:short"}, "12 to 16 bytes"},
		{"mutual without chap", []string{"-name", "iqn.2026-01.org.x:d", "-lun", img, "-mutual-chap", "t:targetsecret1"}, "needs -chap"},
		{"bad listen", []string{"-name", "iqn.2026-01.org.x:d", "-lun", img + ",ro", "-listen", "127.0.0.1:99999"}, "invalid port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(tt.args)
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tt.want)
			}
		})
	}
}
