package iscsi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// BHSLen is the length of the Basic Header Segment that starts every PDU.
const BHSLen = 48

// ReservedTag is the tag value meaning "no task" (Initiator and Target Transfer Tags).
const ReservedTag uint32 = 0xFFFFFFFF

// Opcode is an iSCSI PDU opcode (the low six bits of byte 0).
type Opcode uint8

// Initiator and target opcodes (RFC 7143 section 11.1.1).
const (
	OpNOPOut      Opcode = 0x00
	OpSCSICmd     Opcode = 0x01
	OpTaskMgmt    Opcode = 0x02
	OpLoginReq    Opcode = 0x03
	OpTextReq     Opcode = 0x04
	OpDataOut     Opcode = 0x05
	OpLogoutReq   Opcode = 0x06
	OpSNACK       Opcode = 0x10
	OpNOPIn       Opcode = 0x20
	OpSCSIResp    Opcode = 0x21
	OpTaskMgmtRsp Opcode = 0x22
	OpLoginResp   Opcode = 0x23
	OpTextResp    Opcode = 0x24
	OpDataIn      Opcode = 0x25
	OpLogoutResp  Opcode = 0x26
	OpR2T         Opcode = 0x31
	OpAsync       Opcode = 0x32
	OpReject      Opcode = 0x3F
)

// Reject reasons (RFC 7143 section 11.17.1).
const (
	RejectDataDigest      byte = 0x02
	RejectSNACK           byte = 0x03
	RejectProtocolError   byte = 0x04
	RejectNotSupported    byte = 0x05
	RejectImmediate       byte = 0x06
	RejectTaskInProgress  byte = 0x07
	RejectInvalidDataAck  byte = 0x08
	RejectInvalidPDUField byte = 0x09
	RejectOutOfResources  byte = 0x0A
	RejectWaitingLogout   byte = 0x0C
)

// Errors returned by the PDU codec. They are wrapped with detail; test with errors.Is.
var (
	// ErrHeaderDigest means the CRC32C over BHS+AHS did not match; the connection must close.
	ErrHeaderDigest = errors.New("iscsi: header digest mismatch")
	// ErrDataDigest means the CRC32C over the data segment did not match.
	ErrDataDigest = errors.New("iscsi: data digest mismatch")
	// ErrMalformedPDU means a PDU's framing fields are inconsistent.
	ErrMalformedPDU = errors.New("iscsi: malformed PDU")
	// ErrDataTooLong means a data segment exceeds the negotiated MaxRecvDataSegmentLength.
	ErrDataTooLong = errors.New("iscsi: data segment longer than negotiated limit")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the iSCSI digest (CRC32C, Castagnoli) of b.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// BHS is a raw Basic Header Segment. Accessors read and write its fields in
// place so that no decoding allocation happens on the data path.
type BHS [BHSLen]byte

// Opcode returns the opcode.
func (h *BHS) Opcode() Opcode { return Opcode(h[0] & 0x3F) }

// Immediate reports the I bit (immediate delivery).
func (h *BHS) Immediate() bool { return h[0]&0x40 != 0 }

// Final reports the F bit of byte 1.
func (h *BHS) Final() bool { return h[1]&0x80 != 0 }

// Flags returns byte 1 (opcode-specific flags).
func (h *BHS) Flags() byte { return h[1] }

// TotalAHSLength returns the AHS length in bytes.
func (h *BHS) TotalAHSLength() int { return int(h[4]) * 4 }

// DataSegmentLength returns the data segment length in bytes (excluding padding).
func (h *BHS) DataSegmentLength() int {
	return int(h[5])<<16 | int(h[6])<<8 | int(h[7])
}

// SetDataSegmentLength stores n (which must be < 1<<24).
func (h *BHS) SetDataSegmentLength(n int) {
	h[5], h[6], h[7] = byte(n>>16), byte(n>>8), byte(n)
}

// LUN returns bytes 8–15 as a 64-bit SAM LUN.
func (h *BHS) LUN() uint64 { return binary.BigEndian.Uint64(h[8:16]) }

// ITT returns the Initiator Task Tag.
func (h *BHS) ITT() uint32 { return h.U32(16) }

// U32 reads the big-endian 32-bit field at byte offset off.
func (h *BHS) U32(off int) uint32 { return binary.BigEndian.Uint32(h[off:]) }

// PutU32 writes the big-endian 32-bit field at byte offset off.
func (h *BHS) PutU32(off int, v uint32) { binary.BigEndian.PutUint32(h[off:], v) }

// PDU is a decoded protocol data unit: header, additional header segments and data.
type PDU struct {
	BHS  BHS
	AHS  []byte
	Data []byte
}

// Digests selects which CRC32C digests are present on a connection.
type Digests struct {
	Header, Data bool
}

func pad4(n int) int { return (4 - n&3) & 3 }

// readHeader reads BHS, AHS and the header digest. ahsBuf may be reused for the AHS.
// scratch holds the digest bytes; passing it in keeps the hot path free of allocations.
func readHeader(r io.Reader, h *BHS, ahsBuf []byte, dg Digests, scratch *[8]byte) ([]byte, error) {
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	ahsLen := h.TotalAHSLength()
	var ahs []byte
	if ahsLen > 0 {
		if cap(ahsBuf) < ahsLen {
			ahsBuf = make([]byte, ahsLen)
		}
		ahs = ahsBuf[:ahsLen]
		if _, err := io.ReadFull(r, ahs); err != nil {
			return nil, unexpected(err)
		}
	}
	if dg.Header {
		d := scratch[:4]
		if _, err := io.ReadFull(r, d); err != nil {
			return nil, unexpected(err)
		}
		crc := crc32.Update(CRC32C(h[:]), castagnoli, ahs)
		if binary.LittleEndian.Uint32(d) != crc {
			return nil, ErrHeaderDigest
		}
	}
	if err := checkAHS(ahs); err != nil {
		return nil, err
	}
	return ahs, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// checkAHS validates that AHS entries tile the AHS area exactly.
func checkAHS(ahs []byte) error {
	for len(ahs) > 0 {
		if len(ahs) < 4 {
			return fmt.Errorf("%w: truncated AHS", ErrMalformedPDU)
		}
		l := int(binary.BigEndian.Uint16(ahs)) + 3 // AHSLength excludes the 2-byte length and 1-byte type
		total := l + pad4(l)
		if total > len(ahs) {
			return fmt.Errorf("%w: AHS entry overruns", ErrMalformedPDU)
		}
		ahs = ahs[total:]
	}
	return nil
}

// readData reads a data segment of len(dst) bytes plus its padding and digest into dst.
func readData(r io.Reader, dst []byte, dg Digests, tail *[8]byte) error {
	n := len(dst)
	if n == 0 {
		return nil
	}
	if _, err := io.ReadFull(r, dst); err != nil {
		return unexpected(err)
	}
	clear(tail[:])
	p := pad4(n)
	t := tail[:p]
	if dg.Data {
		t = tail[:p+4]
	}
	if len(t) > 0 {
		if _, err := io.ReadFull(r, t); err != nil {
			return unexpected(err)
		}
	}
	if dg.Data {
		crc := crc32.Update(CRC32C(dst), castagnoli, tail[:p])
		if binary.LittleEndian.Uint32(tail[p:]) != crc {
			return ErrDataDigest
		}
	}
	return nil
}

// ReadPDU reads one PDU from r. Data segments longer than maxData are refused
// with ErrDataTooLong (the header is still returned so a Reject can be sent).
func ReadPDU(r io.Reader, dg Digests, maxData int) (*PDU, error) {
	p := new(PDU)
	var scratch [8]byte
	ahs, err := readHeader(r, &p.BHS, nil, dg, &scratch)
	if err != nil {
		return p, err
	}
	p.AHS = ahs
	n := p.BHS.DataSegmentLength()
	if n > maxData {
		return p, fmt.Errorf("%w: %d > %d", ErrDataTooLong, n, maxData)
	}
	if n > 0 {
		p.Data = make([]byte, n)
		if err := readData(r, p.Data, dg, &scratch); err != nil {
			return p, err
		}
	}
	return p, nil
}

// DecodePDU decodes one PDU from the front of b and returns it with the
// number of bytes consumed. It never panics on malformed input.
func DecodePDU(b []byte, dg Digests, maxData int) (*PDU, int, error) {
	r := &sliceReader{b: b}
	p, err := ReadPDU(r, dg, maxData)
	if err != nil {
		return nil, r.off, err
	}
	return p, r.off, nil
}

type sliceReader struct {
	b   []byte
	off int
}

func (s *sliceReader) Read(p []byte) (int, error) {
	if s.off >= len(s.b) {
		return 0, io.EOF
	}
	n := copy(p, s.b[s.off:])
	s.off += n
	return n, nil
}

// AppendPDU appends the wire form of p (with padding and the selected digests) to b.
// The header's DataSegmentLength and TotalAHSLength are set from p.
func AppendPDU(b []byte, p *PDU, dg Digests) []byte {
	h := p.BHS
	h[4] = byte((len(p.AHS) + pad4(len(p.AHS))) / 4)
	h.SetDataSegmentLength(len(p.Data))
	b = append(b, h[:]...)
	if len(p.AHS) > 0 {
		b = append(b, p.AHS...)
		b = append(b, make([]byte, pad4(len(p.AHS)))...)
	}
	if dg.Header {
		b = binary.LittleEndian.AppendUint32(b, CRC32C(b[len(b)-BHSLen-len(p.AHS)-pad4(len(p.AHS)):]))
	}
	if len(p.Data) > 0 {
		start := len(b)
		b = append(b, p.Data...)
		b = append(b, make([]byte, pad4(len(p.Data)))...)
		if dg.Data {
			b = binary.LittleEndian.AppendUint32(b, CRC32C(b[start:]))
		}
	}
	return b
}
