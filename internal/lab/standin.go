package lab

import (
	"fmt"
	"os"
	"path/filepath"
)

// PXEStandInScript is the iPXE script [PXEStandIn] embeds: it replaces the
// DHCP user class "iPXE" with "PXEClient", runs DHCP, and chains the boot
// file over TFTP, or as a URL when the server handed one out. Option 175
// is still sent (iPXE always sends it), so a server that treats 175 as
// "this is iPXE" answers it as iPXE; see specs/qemu-lab.md.
const PXEStandInScript = `#!ipxe
set user-class PXEClient
dhcp
chain tftp://${next-server}/${filename} || chain ${filename}
`

// PXEStandIn turns m into a BIOS machine that behaves as closely as Debian
// allows like one with a plain PXE ROM (Debian ships no non-iPXE BIOS PXE
// ROM): it boots Debian's ipxe.lkrn as the kernel with
// [PXEStandInScript] as its initrd, and disables every NIC's option ROM so
// only the stand-in drives the network. The script is written to dir.
func PXEStandIn(m Machine, dir string) (Machine, error) {
	script := filepath.Join(dir, "pxe-standin.ipxe")
	if err := os.WriteFile(script, []byte(PXEStandInScript), 0o644); err != nil {
		return m, fmt.Errorf("lab: %w", err)
	}
	m.Firmware = BIOS
	m.Kernel = filepath.Join(IPXEDir, "ipxe.lkrn")
	m.Initrd = script
	m.Append = " " // ipxe.lkrn takes no command line; keep DefaultAppend out
	nics := append([]NIC(nil), m.NICs...)
	for i := range nics {
		nics[i].ROM = NoROM
	}
	m.NICs = nics
	return m, nil
}
