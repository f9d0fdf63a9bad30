package main

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/ipxescript"
	"github.com/netbootkit/netboot/iscsi"
)

func TestParseImage(t *testing.T) {
	ok := map[string]string{
		"linux":      `{"kernel": "vmlinuz", "initrds": ["initrd.gz", "extra.cpio"], "cmdline": "console=ttyS0,115200 ip=dhcp"}`,
		"url kernel": `{"kernel": "http://mirror.example/vmlinuz", "initrds": ["https://mirror.example/initrd?x=1&y=2"]}`,
		"san":        `{"description": "Windows", "san": "iscsi:192.0.2.10::::iqn.2026-01.lab:win"}`,
		"san efi":    `{"san": "iscsi:192.0.2.10::::iqn.2026-01.lab:win", "efi_filename": "\\EFI\\Microsoft\\Boot\\bootmgfw.efi"}`,
	}
	for name, body := range ok {
		img, err := ParseImage("img", strings.NewReader(body))
		require.NoError(t, err, name)
		s, err := img.Script("http://192.0.2.1:8080", "52:54:00:00:00:01")
		require.NoError(t, err, name)
		_, err = ipxescript.ParseString(s.String())
		require.NoError(t, err, "%s:\n%s", name, s)
	}

	bad := map[string]string{
		"empty":             `{}`,
		"both":              `{"kernel": "vmlinuz", "san": "iscsi:x"}`,
		"base and kernel":   `{"kernel": "vmlinuz", "base": "disk.img"}`,
		"base and san":      `{"san": "iscsi:x", "base": "disk.img"}`,
		"base with initrd":  `{"base": "disk.img", "initrds": ["i"]}`,
		"base with cmdline": `{"base": "disk.img", "cmdline": "quiet"}`,
		"base escape":       `{"base": "../disk.img"}`,
		"base absolute":     `{"base": "/dev/sda"}`,
		"base url":          `{"base": "http://a/disk.img"}`,
		"efi without disk":  `{"kernel": "k", "efi_filename": "\\EFI\\BOOT\\BOOTX64.EFI"}`,
		"efi not a path":    `{"base": "d", "efi_filename": "BOOTX64.EFI"}`,
		"efi expansion":     `{"base": "d", "efi_filename": "\\EFI\\${x}"}`,
		"efi space":         `{"base": "d", "efi_filename": "\\EFI\\a b"}`,
		"san with cmdline":  `{"san": "iscsi:x", "cmdline": "quiet"}`,
		"path escape":       `{"kernel": "../vmlinuz"}`,
		"absolute path":     `{"kernel": "/boot/vmlinuz"}`,
		"subdir":            `{"kernel": "a/vmlinuz"}`,
		"dot file":          `{"kernel": ".hidden"}`,
		"expansion":         `{"kernel": "vmlinuz", "cmdline": "root=${root}"}`,
		"separator":         `{"kernel": "vmlinuz", "cmdline": "quiet && shell"}`,
		"comment":           `{"kernel": "vmlinuz", "cmdline": "quiet #x"}`,
		"newline":           `{"kernel": "vmlinuz", "cmdline": "quiet\n#!ipxe"}`,
		"continuation":      `{"kernel": "vmlinuz", "cmdline": "quiet \\"}`,
		"url with space":    `{"kernel": "http://a/b c"}`,
		"url credentials":   `{"kernel": "http://u:p@a/b"}`,
		"ftp":               `{"kernel": "ftp://a/b"}`,
		"san expansion":     `{"san": "iscsi:${x}"}`,
		"san space":         `{"san": "iscsi:a b"}`,
		"san not a path":    `{"san": "disk"}`,
		"unknown field":     `{"kernel": "vmlinuz", "cmdlin": "typo"}`,
		"trailing":          `{"kernel": "vmlinuz"} {}`,
		"not json":          `kernel=vmlinuz`,
		"description ctl":   `{"kernel": "vmlinuz", "description": "a\u0007b"}`,
		"too many initrds":  `{"kernel": "k", "initrds": [` + strings.Repeat(`"i",`, 16) + `"i"]}`,
		"initrd expansion":  `{"kernel": "k", "initrds": ["http://a/${x}"]}`,
		"description large": `{"kernel": "k", "description": "` + strings.Repeat("d", 201) + `"}`,
	}
	for name, body := range bad {
		_, err := ParseImage("img", strings.NewReader(body))
		assert.ErrorIs(t, err, ErrInvalid, name)
	}
	for _, n := range []string{"", "..", "../x", "A", "a/b", "-x", ".x", "a..b", strings.Repeat("a", 64)} {
		_, err := ParseImage(n, strings.NewReader(ok["linux"]))
		assert.ErrorIs(t, err, ErrInvalid, n)
	}
	// A base image's name is part of iSCSI names, which have no "_".
	_, err := ParseImage("my_disk", strings.NewReader(`{"base": "disk.img"}`))
	assert.ErrorIs(t, err, ErrInvalid)
	img, err := ParseImage("my-disk.1", strings.NewReader(`{"description": "served", "base": "disk.img"}`))
	require.NoError(t, err)
	assert.Equal(t, "Base", img.Kind())
	assert.Equal(t, []string{"disk.img"}, img.Local(), "the catalog checks the base file exists")
	_, err = img.Script("http://192.0.2.1:8080", "")
	assert.ErrorIs(t, err, ErrNoSAN, "a base image boots only through the pool's own target")

	_, err = ParseImage("big", io.LimitReader(strings.NewReader(strings.Repeat(" ", maxImageFile+10)), maxImageFile+10))
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestParseMAC(t *testing.T) {
	for in, want := range map[string]string{
		"52:54:00:AB:cd:01": "52:54:00:ab:cd:01",
		"52-54-00-ab-cd-01": "52:54:00:ab:cd:01",
		"525400abcd01":      "52:54:00:ab:cd:01",
	} {
		got, err := ParseMAC(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, in := range []string{"", "52:54:00:ab:cd", "52:54:00:ab:cd:01:02", "5254.00ab.cd01", "00:00:00:00:00:00:00:e0:00:00:00:00:00:00:00:00:00:00:00:01", "zz:54:00:ab:cd:01", "52:54:00:ab:cd:01\n"} {
		_, err := ParseMAC(in)
		assert.ErrorIs(t, err, ErrInvalid, in)
	}
}

func FuzzParseImage(f *testing.F) {
	f.Add(`{"kernel": "vmlinuz", "initrds": ["initrd.gz"], "cmdline": "console=ttyS0 quiet"}`)
	f.Add(`{"san": "iscsi:192.0.2.10::::iqn.2026-01.lab:win"}`)
	f.Add(`{"kernel": "http://a/b?c=d&e=f", "cmdline": "a=b -c --d"}`)
	f.Add(`{"kernel": "../x"}`)
	f.Add(`{"description": "served", "base": "disk.img"}`)
	f.Add(`{"base": "disk.img", "kernel": "vmlinuz"}`)
	f.Add(`{"base": "../disk.img"}`)
	f.Add(`{"base": "disk.img", "efi_filename": "\\EFI\\BOOT\\BOOTX64.EFI"}`)
	f.Fuzz(func(t *testing.T, body string) {
		img, err := ParseImage("img", strings.NewReader(body))
		if err != nil {
			return
		}
		// Anything accepted yields a script that parses and whose local files
		// stay inside the image's directory; a base image's script is its
		// machine's sanboot.
		var st *sanTarget
		if img.Base != "" {
			_, err := img.Script("http://192.0.2.1:8080", "52:54:00:00:00:01")
			if !errors.Is(err, ErrNoSAN) {
				t.Fatalf("base image scripted without the pool's target: %v", err)
			}
			st = &sanTarget{Initiator: initiatorPrefix + "52-54-00-00-00-01", RootPath: "iscsi:192.0.2.1::::" + targetPrefix + "img:52-54-00-00-00-01",
				CHAP: &iscsi.CHAP{User: "pool", Secret: "twelvebytes+"}}
		}
		s, err := img.script("http://192.0.2.1:8080", "52:54:00:00:00:01", "", st, true)
		if err != nil {
			t.Fatalf("accepted image has no script: %v", err)
		}
		if _, err := ipxescript.ParseString(s.String()); err != nil {
			t.Fatalf("accepted image's script does not parse: %v\n%s", err, s)
		}
		for _, l := range img.Local() {
			if validFileName(l) != nil || strings.Contains(l, "/") {
				t.Fatalf("accepted local file %q", l)
			}
		}
	})
}

func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"52:54:00:ab:cd:01", "52-54-00-AB-CD-01", "525400abcd01", "", "::::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mac, err := ParseMAC(s)
		if err != nil {
			return
		}
		again, err := ParseMAC(mac)
		if err != nil || again != mac || len(mac) != 17 || mac != strings.ToLower(mac) {
			t.Fatalf("ParseMAC(%q) = %q, not canonical", s, mac)
		}
	})
}
