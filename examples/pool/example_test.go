package main

import (
	"fmt"
	"strings"
)

// An image description becomes the iPXE script its machines receive; local
// files are served by the pool and carry the machine's MAC.
func ExampleParseImage() {
	img, err := ParseImage("debian", strings.NewReader(
		`{"kernel": "vmlinuz", "initrds": ["initrd.gz"], "cmdline": "console=ttyS0 boot=live"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := img.Script("http://192.0.2.1:8080", "52:54:00:12:34:56")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(s)

	// Values that would change the script's structure are refused.
	_, err = ParseImage("evil", strings.NewReader(`{"kernel": "vmlinuz", "cmdline": "quiet && shell"}`))
	fmt.Println(err != nil)
	// Output:
	// #!ipxe
	// echo pool: booting image debian on 52:54:00:12:34:56
	// kernel --name vmlinuz http://192.0.2.1:8080/files/debian/vmlinuz?mac=52:54:00:12:34:56 initrd=initrd.gz console=ttyS0 boot=live
	// initrd --name initrd.gz http://192.0.2.1:8080/files/debian/initrd.gz?mac=52:54:00:12:34:56
	// boot
	// true
}

func ExampleParseMAC() {
	for _, s := range []string{"52-54-00-AB-CD-EF", "525400abcdef", "52:54:00:ab:cd"} {
		mac, err := ParseMAC(s)
		fmt.Println(mac, err != nil)
	}
	// Output:
	// 52:54:00:ab:cd:ef false
	// 52:54:00:ab:cd:ef false
	//  true
}
