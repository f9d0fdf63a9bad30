package dhcpboot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// udpPacket is one UDP datagram read from a capture.
type udpPacket struct {
	Frame            int // 1-based, as tshark numbers frames
	SrcPort, DstPort uint16
	Payload          []byte
}

// readPcap reads the UDP/IPv4 datagrams of a classic pcap file with
// Ethernet link type, by hand (no pcap library).
func readPcap(path string) ([]udpPacket, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 {
		return nil, errors.New("pcap: short file")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("pcap: not a classic pcap file (magic %x)", b[:4])
	}
	if lt := bo.Uint32(b[20:]); lt != 1 {
		return nil, fmt.Errorf("pcap: link type %d, want 1 (Ethernet)", lt)
	}
	var out []udpPacket
	off := 24
	for frame := 1; off+16 <= len(b); frame++ {
		incl := int(bo.Uint32(b[off+8:]))
		off += 16
		if incl > len(b)-off {
			return nil, errors.New("pcap: truncated record")
		}
		pkt := b[off : off+incl]
		off += incl
		if len(pkt) < 14 {
			continue
		}
		etype := binary.BigEndian.Uint16(pkt[12:])
		l3 := pkt[14:]
		if etype == 0x8100 && len(pkt) >= 18 {
			etype = binary.BigEndian.Uint16(pkt[16:])
			l3 = pkt[18:]
		}
		if etype != 0x0800 || len(l3) < 20 || l3[0]>>4 != 4 || l3[9] != 17 {
			continue
		}
		ihl := int(l3[0]&0xf) * 4
		if len(l3) < ihl+8 {
			continue
		}
		udp := l3[ihl:]
		ulen := int(binary.BigEndian.Uint16(udp[4:]))
		if ulen < 8 || ulen > len(udp) {
			continue
		}
		out = append(out, udpPacket{
			Frame:   frame,
			SrcPort: binary.BigEndian.Uint16(udp[0:]),
			DstPort: binary.BigEndian.Uint16(udp[2:]),
			Payload: append([]byte(nil), udp[8:ulen]...),
		})
	}
	return out, nil
}
