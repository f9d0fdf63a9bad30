package ibft

// Legacy BIOS placement (ibft.md §5): the table sits on a 16-byte boundary
// in base memory, 0x80000–0xFFFFF, outside the VGA hole 0xA0000–0xBFFFF.
const (
	// LegacyStart and LegacyEnd bound the physical memory Linux scans for
	// a table when it was not booted through EFI.
	LegacyStart = 0x80000
	LegacyEnd   = 0x100000
	// legacy scan skips the VGA/option-ROM hole.
	vgaStart = 0xa0000
	vgaEnd   = 0xc0000
)

// Find looks for a table in an image of physical memory that starts at
// physical address base (for example base = LegacyStart and the 512 KiB
// read from /dev/mem there), the way Linux's legacy scan does: at 16-byte
// aligned addresses in [LegacyStart, LegacyEnd) outside the VGA hole, for
// the signatures "iBFT" and "BIFT". Unlike Linux it skips a candidate that
// does not decode (a stray signature, a bad checksum) and goes on. It
// returns the table's offset in mem and the decoded table, or -1 and nil.
func Find(mem []byte, base int) (int, *Table) {
	start := max(base, LegacyStart)
	start = alignUp(start)
	for addr := start; addr < LegacyEnd; addr += align {
		if addr >= vgaStart && addr < vgaEnd {
			addr = vgaEnd - align
			continue
		}
		off := addr - base
		if off+4 > len(mem) {
			break
		}
		if sig := string(mem[off : off+4]); sig != "iBFT" && sig != "BIFT" {
			continue
		}
		if t, err := Parse(mem[off:]); err == nil {
			return off, t
		}
	}
	return -1, nil
}
