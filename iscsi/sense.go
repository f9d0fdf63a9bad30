package iscsi

import "encoding/binary"

// SCSI status bytes (SAM-5).
const (
	StatusGood                = 0x00
	StatusCheckCondition      = 0x02
	StatusConditionMet        = 0x04
	StatusBusy                = 0x08
	StatusReservationConflict = 0x18
	StatusTaskSetFull         = 0x28
	StatusTaskAborted         = 0x40
)

// senseCode packs sense key, ASC and ASCQ as 0xKKAAQQ.
type senseCode uint32

const (
	scNoSense               senseCode = 0x000000
	scNotReady              senseCode = 0x020400
	scUnrecoveredRead       senseCode = 0x031100
	scWriteError            senseCode = 0x030C00
	scInternal              senseCode = 0x044400
	scParamListLength       senseCode = 0x051A00
	scInvalidOpcode         senseCode = 0x052000
	scLBAOutOfRange         senseCode = 0x052100
	scInvalidFieldCDB       senseCode = 0x052400
	scLUNNotSupported       senseCode = 0x052500
	scInvalidFieldParam     senseCode = 0x052600
	scSavingNotSupported    senseCode = 0x053900
	scInvalidDataOutSize    senseCode = 0x050E03
	scPowerOnReset          senseCode = 0x062900
	scLUNReset              senseCode = 0x062903
	scModeParamsChanged     senseCode = 0x062A01
	scReservationsPreempted senseCode = 0x062A03
	scWriteProtected        senseCode = 0x072700
	scSpaceAllocFailed      senseCode = 0x072707
	scMiscompare            senseCode = 0x0E1D00
	scDataPhaseError        senseCode = 0x0B4B00
)

func (s senseCode) key() byte  { return byte(s >> 16) }
func (s senseCode) asc() byte  { return byte(s >> 8) }
func (s senseCode) ascq() byte { return byte(s) }

// appendSense appends sense data in fixed (0x70) or descriptor (0x72) format.
// info is the INFORMATION field (valid when hasInfo). sks, when non-zero, is the
// 3-byte sense-key-specific field (with SKSV already set).
func appendSense(b []byte, sc senseCode, descriptor bool, info uint64, hasInfo bool, sks uint32) []byte {
	if descriptor {
		h := [8]byte{0x72, sc.key(), sc.asc(), sc.ascq()}
		b = append(b, h[:]...)
		start := len(b)
		if hasInfo {
			d := [12]byte{0x00, 0x0A, 0x80}
			binary.BigEndian.PutUint64(d[4:], info)
			b = append(b, d[:]...)
		}
		if sks != 0 {
			d := [8]byte{0x02, 0x06, 0, 0, byte(sks >> 16), byte(sks >> 8), byte(sks)}
			b = append(b, d[:]...)
		}
		b[start-1] = byte(len(b) - start)
		return b
	}
	var f [18]byte
	f[0] = 0x70
	if hasInfo {
		f[0] |= 0x80
		binary.BigEndian.PutUint32(f[3:], uint32(info))
	}
	f[2] = sc.key()
	f[7] = 10
	f[12], f[13] = sc.asc(), sc.ascq()
	f[15], f[16], f[17] = byte(sks>>16), byte(sks>>8), byte(sks)
	return append(b, f[:]...)
}
