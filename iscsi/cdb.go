package iscsi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// SCSI operation codes served by this package (SPC-4, SBC-3).
const (
	opTestUnitReady    = 0x00
	opRequestSense     = 0x03
	opRead6            = 0x08
	opWrite6           = 0x0A
	opInquiry          = 0x12
	opModeSelect6      = 0x15
	opReserve6         = 0x16
	opRelease6         = 0x17
	opModeSense6       = 0x1A
	opStartStopUnit    = 0x1B
	opPreventAllow     = 0x1E
	opReadCapacity10   = 0x25
	opRead10           = 0x28
	opWrite10          = 0x2A
	opWriteVerify10    = 0x2E
	opVerify10         = 0x2F
	opPrefetch10       = 0x34
	opSyncCache10      = 0x35
	opWriteSame10      = 0x41
	opUnmap            = 0x42
	opModeSelect10     = 0x55
	opModeSense10      = 0x5A
	opPRIn             = 0x5E
	opPROut            = 0x5F
	opRead16           = 0x88
	opCompareAndWrite  = 0x89
	opWrite16          = 0x8A
	opWriteVerify16    = 0x8E
	opVerify16         = 0x8F
	opPrefetch16       = 0x90
	opSyncCache16      = 0x91
	opWriteSame16      = 0x93
	opServiceActionIn  = 0x9E
	opReportLUNs       = 0xA0
	opMaintenanceIn    = 0xA3
	opRead12           = 0xA8
	opWrite12          = 0xAA
	opWriteVerify12    = 0xAE
	opVerify12         = 0xAF
	saReadCapacity16   = 0x10
	saReportSupportOps = 0x0C
)

// ErrBadCDB is returned by ParseCDB for a CDB shorter than its opcode requires
// or with a group code this package does not decode.
var ErrBadCDB = errors.New("iscsi: malformed CDB")

// CDB holds the fields of a SCSI command descriptor block that the block
// commands share. Fields a command does not have are zero.
type CDB struct {
	Op            byte   // operation code
	ServiceAction byte   // low five bits of byte 1 for 0x9E, 0xA3, 0x5E, 0x5F
	Flags         byte   // byte 1 (DPO 0x10, FUA 0x08, BYTCHK, UNMAP, …)
	LBA           uint64 // logical block address
	Length        uint32 // transfer length in blocks, or the allocation/parameter list length
	Control       byte   // last byte
}

// FUA reports the Force Unit Access bit of 10/12/16-byte read and write CDBs.
func (c CDB) FUA() bool { return c.Flags&0x08 != 0 }

// CDBLen returns the length a CDB with this operation code has, from its group code.
// It returns 0 for the variable-length and vendor groups.
func CDBLen(op byte) int {
	switch op >> 5 {
	case 0:
		return 6
	case 1, 2:
		return 10
	case 4:
		return 16
	case 5:
		return 12
	}
	return 0
}

// ParseCDB decodes b. For read, write, verify, write-same, prefetch, sync
// cache and compare-and-write commands LBA and Length are the block range; for
// other commands Length is the allocation or parameter list length.
func ParseCDB(b []byte) (CDB, error) {
	if len(b) == 0 {
		return CDB{}, fmt.Errorf("%w: empty", ErrBadCDB)
	}
	op := b[0]
	n := CDBLen(op)
	if n == 0 {
		return CDB{Op: op}, fmt.Errorf("%w: opcode %#02x has no fixed length", ErrBadCDB, op)
	}
	if len(b) < n {
		return CDB{Op: op}, fmt.Errorf("%w: %d bytes for opcode %#02x, want %d", ErrBadCDB, len(b), op, n)
	}
	c := CDB{Op: op, Flags: b[1], Control: b[n-1]}
	be := binary.BigEndian
	switch op {
	case opRead6, opWrite6:
		c.Flags = 0
		c.LBA = uint64(b[1]&0x1F)<<16 | uint64(b[2])<<8 | uint64(b[3])
		c.Length = uint32(b[4])
		if c.Length == 0 {
			c.Length = 256
		}
	case opRead10, opWrite10, opWriteVerify10, opVerify10, opPrefetch10, opSyncCache10, opWriteSame10:
		c.LBA = uint64(be.Uint32(b[2:]))
		c.Length = uint32(be.Uint16(b[7:]))
	case opRead12, opWrite12, opWriteVerify12, opVerify12:
		c.LBA = uint64(be.Uint32(b[2:]))
		c.Length = be.Uint32(b[6:])
	case opRead16, opWrite16, opWriteVerify16, opVerify16, opPrefetch16, opSyncCache16, opWriteSame16:
		c.LBA = be.Uint64(b[2:])
		c.Length = be.Uint32(b[10:])
	case opCompareAndWrite:
		c.LBA = be.Uint64(b[2:])
		c.Length = uint32(b[13])
	case opInquiry:
		c.Length = uint32(be.Uint16(b[3:]))
	case opRequestSense, opModeSense6, opModeSelect6:
		c.Length = uint32(b[4])
	case opModeSense10, opModeSelect10, opUnmap, opPRIn:
		c.Length = uint32(be.Uint16(b[7:]))
	case opPROut:
		c.ServiceAction = b[1] & 0x1F
		c.Length = be.Uint32(b[5:])
	case opServiceActionIn:
		c.ServiceAction = b[1] & 0x1F
		c.LBA = be.Uint64(b[2:])
		c.Length = be.Uint32(b[10:])
	case opReportLUNs, opMaintenanceIn:
		c.ServiceAction = b[1] & 0x1F
		c.Length = be.Uint32(b[6:])
	}
	if op == opPRIn {
		c.ServiceAction = b[1] & 0x1F
	}
	return c, nil
}
