package iscsi

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// Limits the logical units advertise in the Block Limits VPD page.
const (
	maxTransferBytes  = 32 << 20 // largest READ/WRITE transfer, bytes
	maxCAWBlocks      = 64
	maxUnmapBlocks    = 1 << 20
	maxUnmapDescs     = 256
	maxWriteSameBlock = 1 << 30
)

// scsiCmd is one SCSI command travelling from the iSCSI layer to a logical unit and back.
type scsiCmd struct {
	cdb   []byte
	lun   uint64
	edtl  int    // expected data transfer length
	out   []byte // data-out received (len ≤ edtl)
	nexus string // I_T nexus identity (initiator name + ISID)
	pool  *bufPool

	status   byte
	sense    []byte
	senseBuf [48]byte
	in       []byte  // data-in payload
	inBuf    *[]byte // pooled backing of in, released by the caller
	xfer     int     // bytes the command would move (for residuals); -1 = len(in) or EDTL
}

func (c *scsiCmd) reset() {
	c.status, c.sense, c.in, c.inBuf, c.xfer = StatusGood, nil, nil, nil, -1
}

// alloc returns a data-in buffer of n bytes from the pool; the caller
// overwrites all of it (it is not cleared).
func (c *scsiCmd) alloc(n int) []byte {
	c.inBuf = c.pool.get(n)
	c.in = *c.inBuf
	return c.in
}

// reply sets a small data-in payload truncated to the allocation length.
func (c *scsiCmd) reply(b []byte, alloc uint32) {
	if uint32(len(b)) > alloc {
		b = b[:alloc]
	}
	c.in = b
}

// logicalUnit is the runtime state of one LUN: geometry, mode pages, unit
// attentions and persistent reservations.
type logicalUnit struct {
	id        uint64
	dev       Device
	bs        int
	blocks    uint64
	ro        bool
	syncer    Syncer
	discarder Discarder
	naa       [16]byte
	serial    string

	cawMu sync.RWMutex // COMPARE AND WRITE excludes other writers

	dsense atomic.Bool // descriptor-format sense (control mode page D_SENSE)

	mu  sync.Mutex
	swp bool
	ua  map[string]senseCode
	pr  prState
}

func newLogicalUnit(targetName string, id uint64, l LUN) (*logicalUnit, error) {
	bs := l.BlockSize
	if bs == 0 {
		bs = 512
	}
	if bs < 512 || bs > 65536 || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("iscsi: LUN %d: block size %d is not a power of two in 512..65536", id, bs)
	}
	if l.Device == nil {
		return nil, fmt.Errorf("iscsi: LUN %d: nil Device", id)
	}
	size := l.Device.Size()
	if size <= 0 || size%int64(bs) != 0 {
		return nil, fmt.Errorf("iscsi: LUN %d: size %d is not a positive multiple of %d", id, size, bs)
	}
	u := &logicalUnit{id: id, dev: l.Device, bs: bs, blocks: uint64(size / int64(bs)), ua: map[string]senseCode{}}
	if r, ok := l.Device.(ReadOnlyDevice); ok && r.ReadOnly() {
		u.ro = true
	}
	u.ro = u.ro || l.ReadOnly
	u.syncer, _ = l.Device.(Syncer)
	u.discarder, _ = l.Device.(Discarder)
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d/%s", targetName, id, l.Serial))
	u.naa[0] = 0x60 | sum[0]&0x0F // NAA 6, then a locally derived 24-bit "OUI" and vendor id
	copy(u.naa[1:], sum[1:16])
	u.serial = l.Serial
	if u.serial == "" {
		u.serial = fmt.Sprintf("%X", sum[16:24])
	}
	return u, nil
}

func (c *scsiCmd) check(u *logicalUnit, sc senseCode) {
	c.checkInfo(u, sc, 0, false)
}

func (c *scsiCmd) checkInfo(u *logicalUnit, sc senseCode, info uint64, hasInfo bool) {
	desc := u != nil && u.dsense.Load()
	c.status = StatusCheckCondition
	c.sense = appendSense(c.senseBuf[:0], sc, desc, info, hasInfo, 0)
	c.in = nil
}

// writeErr maps a device write error to sense data as DESIGN.md prescribes.
func (c *scsiCmd) writeErr(u *logicalUnit, err error) {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		c.check(u, scSpaceAllocFailed)
	case errors.Is(err, os.ErrPermission):
		c.check(u, scWriteProtected)
	default:
		c.check(u, scWriteError)
	}
}

// writable checks a write-type command's block range and the write-protect state,
// answering CHECK CONDITION (LBA out of range, or write protected, in that order)
// when the command must not go on.
func (u *logicalUnit) writable(c *scsiCmd, cdb CDB) bool {
	if !u.rangeOK(cdb.LBA, uint64(cdb.Length)) {
		c.check(u, scLBAOutOfRange)
		return false
	}
	if u.writeProtected() {
		c.check(u, scWriteProtected)
		return false
	}
	return true
}

func (u *logicalUnit) writeProtected() bool {
	if u.ro {
		return true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.swp
}

// rangeOK reports whether [lba, lba+n) lies on the medium.
func (u *logicalUnit) rangeOK(lba uint64, n uint64) bool {
	return lba <= u.blocks && n <= u.blocks-lba
}

// execute runs one command against the target's logical units.
func (ts *targetState) execute(c *scsiCmd) {
	c.reset()
	cdb, err := ParseCDB(c.cdb)
	if err != nil {
		c.check(nil, scInvalidOpcode)
		return
	}
	u := ts.unit(c.lun)
	switch cdb.Op {
	case opReportLUNs:
		ts.reportLUNs(c, cdb)
		return
	case opInquiry:
		ts.inquiry(c, u, cdb)
		return
	case opRequestSense:
		requestSense(c, u, cdb)
		return
	}
	if u == nil {
		c.check(nil, scLUNNotSupported)
		return
	}
	if sc, ok := u.takeUA(c.nexus); ok {
		c.check(u, sc)
		return
	}
	if u.conflict(c.nexus, cdb) {
		c.status = StatusReservationConflict
		return
	}
	switch cdb.Op {
	case opTestUnitReady, opStartStopUnit, opPreventAllow:
	case opRead6, opRead10, opRead12, opRead16:
		u.read(c, cdb)
	case opWrite6, opWrite10, opWrite12, opWrite16, opWriteVerify10, opWriteVerify12, opWriteVerify16:
		u.write(c, cdb)
	case opVerify10, opVerify12, opVerify16:
		u.verify(c, cdb)
	case opPrefetch10, opPrefetch16:
		if !u.rangeOK(cdb.LBA, uint64(cdb.Length)) {
			c.check(u, scLBAOutOfRange)
		}
	case opSyncCache10, opSyncCache16:
		u.syncCache(c, cdb)
	case opWriteSame10, opWriteSame16:
		u.writeSame(c, cdb)
	case opUnmap:
		u.unmap(c, cdb)
	case opCompareAndWrite:
		u.compareAndWrite(c, cdb)
	case opReadCapacity10:
		u.readCapacity10(c)
	case opServiceActionIn:
		if cdb.ServiceAction != saReadCapacity16 {
			c.check(u, scInvalidFieldCDB)
			return
		}
		u.readCapacity16(c, cdb)
	case opModeSense6, opModeSense10:
		u.modeSense(c, cdb)
	case opModeSelect6, opModeSelect10:
		u.modeSelect(c, cdb)
	case opMaintenanceIn:
		if cdb.ServiceAction != saReportSupportOps {
			c.check(u, scInvalidFieldCDB)
			return
		}
		reportSupportedOps(c, u, cdb)
	case opPRIn:
		ts.prIn(c, u, cdb)
	case opPROut:
		ts.prOut(c, u, cdb)
	default:
		c.check(u, scInvalidOpcode)
	}
}

func (u *logicalUnit) takeUA(nexus string) (senseCode, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	sc, ok := u.ua[nexus]
	if ok {
		delete(u.ua, nexus)
	}
	return sc, ok
}

func (ts *targetState) unit(lun uint64) *logicalUnit {
	id, ok := decodeLUN(lun)
	if !ok || id >= uint64(len(ts.units)) {
		return nil
	}
	return ts.units[id]
}

// decodeLUN decodes an 8-byte SAM LUN with peripheral or flat addressing.
func decodeLUN(l uint64) (uint64, bool) {
	if l&0x0000FFFFFFFFFFFF != 0 {
		return 0, false
	}
	hi := l >> 48
	switch hi >> 14 {
	case 0: // peripheral device addressing, bus 0
		if hi>>8 != 0 {
			return 0, false
		}
		return hi & 0xFF, true
	case 1: // flat space
		return hi & 0x3FFF, true
	}
	return 0, false
}

// encodeLUN is the inverse of decodeLUN.
func encodeLUN(id uint64) uint64 {
	if id < 256 {
		return id << 48
	}
	return (0x4000 | id&0x3FFF) << 48
}

func (u *logicalUnit) read(c *scsiCmd, cdb CDB) {
	if cdb.Op != opRead6 && cdb.Flags&0xE0 != 0 { // RDPROTECT without protection information
		c.check(u, scInvalidFieldCDB)
		return
	}
	if !u.rangeOK(cdb.LBA, uint64(cdb.Length)) {
		c.check(u, scLBAOutOfRange)
		return
	}
	n := int(cdb.Length) * u.bs
	c.xfer = n
	if n == 0 {
		return
	}
	if n > maxTransferBytes {
		c.check(u, scInvalidFieldCDB)
		return
	}
	// Read only what the initiator will receive; the rest is a residual.
	want := min(n, c.edtl)
	b := c.alloc(want)
	if want == 0 {
		return
	}
	if _, err := u.dev.ReadAt(b, int64(cdb.LBA)*int64(u.bs)); err != nil {
		c.check(u, scUnrecoveredRead)
	}
}

// dataOut returns the data-out bytes a command with n expected bytes may use,
// or false after setting CHECK CONDITION when too few arrived.
func (u *logicalUnit) dataOut(c *scsiCmd, n int) ([]byte, bool) {
	if len(c.out) < n {
		c.check(u, scInvalidDataOutSize)
		return nil, false
	}
	return c.out[:n], true
}

func (u *logicalUnit) write(c *scsiCmd, cdb CDB) {
	if cdb.Op != opWrite6 && cdb.Flags&0xE0 != 0 {
		c.check(u, scInvalidFieldCDB)
		return
	}
	if !u.writable(c, cdb) {
		return
	}
	n := int(cdb.Length) * u.bs
	c.xfer = n
	if n == 0 {
		return
	}
	if n > maxTransferBytes {
		c.check(u, scInvalidFieldCDB)
		return
	}
	// When EDTL is shorter than the CDB's transfer length only the whole
	// blocks the initiator sent are written, and the residual says so.
	m := min(n, c.edtl) / u.bs * u.bs
	data, ok := u.dataOut(c, m)
	if !ok || m == 0 {
		return
	}
	u.cawMu.RLock()
	_, err := u.dev.WriteAt(data, int64(cdb.LBA)*int64(u.bs))
	u.cawMu.RUnlock()
	if err != nil {
		c.writeErr(u, err)
		return
	}
	if cdb.FUA() || cdb.Op == opWriteVerify10 || cdb.Op == opWriteVerify12 || cdb.Op == opWriteVerify16 {
		if u.syncer != nil {
			if err := u.syncer.Sync(); err != nil {
				c.writeErr(u, err)
			}
		}
	}
}

func (u *logicalUnit) verify(c *scsiCmd, cdb CDB) {
	if cdb.Flags&0xE0 != 0 {
		c.check(u, scInvalidFieldCDB)
		return
	}
	bytchk := cdb.Flags >> 1 & 3
	if bytchk == 2 {
		c.check(u, scInvalidFieldCDB)
		return
	}
	if !u.rangeOK(cdb.LBA, uint64(cdb.Length)) {
		c.check(u, scLBAOutOfRange)
		return
	}
	n := int(cdb.Length) * u.bs
	if bytchk == 0 || n == 0 {
		c.xfer = 0
		return
	}
	if n > maxTransferBytes {
		c.check(u, scInvalidFieldCDB)
		return
	}
	want := n
	if bytchk == 3 {
		want = u.bs
	}
	c.xfer = want
	data, ok := u.dataOut(c, want)
	if !ok {
		return
	}
	medium := c.pool.get(n)
	defer c.pool.put(medium)
	if _, err := u.dev.ReadAt(*medium, int64(cdb.LBA)*int64(u.bs)); err != nil {
		c.check(u, scUnrecoveredRead)
		return
	}
	for off := 0; off < n; off += len(data) {
		m := (*medium)[off : off+len(data)]
		if !bytes.Equal(m, data) {
			i := firstDiff(m, data)
			c.checkInfo(u, scMiscompare, uint64(off+i), true)
			return
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

func (u *logicalUnit) syncCache(c *scsiCmd, cdb CDB) {
	if !u.rangeOK(cdb.LBA, uint64(cdb.Length)) {
		c.check(u, scLBAOutOfRange)
		return
	}
	if u.syncer != nil && !u.ro {
		if err := u.syncer.Sync(); err != nil {
			c.writeErr(u, err)
		}
	}
}

func (u *logicalUnit) writeSame(c *scsiCmd, cdb CDB) {
	unmap := cdb.Flags&0x08 != 0
	ndob := cdb.Op == opWriteSame16 && cdb.Flags&0x01 != 0
	if cdb.Flags&0xE0 != 0 || cdb.Flags&0x10 != 0 { // WRPROTECT, ANCHOR
		c.check(u, scInvalidFieldCDB)
		return
	}
	if cdb.Op == opWriteSame10 && cdb.Flags&0x01 != 0 {
		c.check(u, scInvalidFieldCDB)
		return
	}
	if cdb.Length == 0 || uint64(cdb.Length) > maxWriteSameBlock { // WSNZ=1
		c.check(u, scInvalidFieldCDB)
		return
	}
	if !u.writable(c, cdb) {
		return
	}
	var block []byte
	c.xfer = u.bs
	if ndob {
		c.xfer = 0
		if c.edtl != 0 {
			c.check(u, scInvalidFieldCDB)
			return
		}
	} else {
		if c.edtl != u.bs {
			c.check(u, scInvalidDataOutSize)
			return
		}
		var ok bool
		if block, ok = u.dataOut(c, u.bs); !ok {
			return
		}
	}
	off, total := int64(cdb.LBA)*int64(u.bs), int64(cdb.Length)*int64(u.bs)
	zero := block == nil || allZero(block)
	if unmap && zero && u.discarder != nil {
		u.cawMu.RLock()
		err := u.discarder.Discard(off, total)
		u.cawMu.RUnlock()
		if err != nil {
			c.writeErr(u, err)
		}
		return
	}
	chunk := c.pool.get(int(min(total, 1<<20)))
	defer c.pool.put(chunk)
	buf := *chunk
	if zero {
		clear(buf)
	} else {
		for i := 0; i < len(buf); i += u.bs {
			copy(buf[i:], block)
		}
	}
	u.cawMu.RLock()
	defer u.cawMu.RUnlock()
	for total > 0 {
		n := min(total, int64(len(buf)))
		if _, err := u.dev.WriteAt(buf[:n], off); err != nil {
			c.writeErr(u, err)
			return
		}
		off += n
		total -= n
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func (u *logicalUnit) unmap(c *scsiCmd, cdb CDB) {
	if u.discarder == nil {
		c.check(u, scInvalidOpcode)
		return
	}
	if c.cdb[1]&0x01 != 0 { // ANCHOR
		c.check(u, scInvalidFieldCDB)
		return
	}
	if u.writeProtected() {
		c.check(u, scWriteProtected)
		return
	}
	if cdb.Length == 0 {
		return
	}
	p := c.out
	if len(p) > int(cdb.Length) {
		p = p[:cdb.Length]
	}
	if len(p) < 8 {
		c.check(u, scParamListLength)
		return
	}
	dl := int(binary.BigEndian.Uint16(p[2:]))
	if dl%16 != 0 || 8+dl > len(p) {
		c.check(u, scParamListLength)
		return
	}
	if dl/16 > maxUnmapDescs {
		c.check(u, scInvalidFieldParam)
		return
	}
	descs := p[8 : 8+dl]
	for i := 0; i < len(descs); i += 16 {
		lba := binary.BigEndian.Uint64(descs[i:])
		n := uint64(binary.BigEndian.Uint32(descs[i+8:]))
		if !u.rangeOK(lba, n) {
			c.check(u, scLBAOutOfRange)
			return
		}
		if n > maxUnmapBlocks {
			c.check(u, scInvalidFieldParam)
			return
		}
	}
	u.cawMu.RLock()
	defer u.cawMu.RUnlock()
	for i := 0; i < len(descs); i += 16 {
		lba := binary.BigEndian.Uint64(descs[i:])
		n := uint64(binary.BigEndian.Uint32(descs[i+8:]))
		if n == 0 {
			continue
		}
		if err := u.discarder.Discard(int64(lba)*int64(u.bs), int64(n)*int64(u.bs)); err != nil {
			c.writeErr(u, err)
			return
		}
	}
}

func (u *logicalUnit) compareAndWrite(c *scsiCmd, cdb CDB) {
	if cdb.Flags&0xE0 != 0 {
		c.check(u, scInvalidFieldCDB)
		return
	}
	if cdb.Length > maxCAWBlocks {
		c.check(u, scInvalidFieldCDB)
		return
	}
	if !u.writable(c, cdb) {
		return
	}
	n := int(cdb.Length) * u.bs
	if c.edtl != 2*n {
		c.check(u, scInvalidFieldCDB)
		return
	}
	if n == 0 {
		return
	}
	data, ok := u.dataOut(c, 2*n)
	if !ok {
		return
	}
	off := int64(cdb.LBA) * int64(u.bs)
	u.cawMu.Lock()
	defer u.cawMu.Unlock()
	medium := c.pool.get(n)
	defer c.pool.put(medium)
	if _, err := u.dev.ReadAt(*medium, off); err != nil {
		c.check(u, scUnrecoveredRead)
		return
	}
	if !bytes.Equal(*medium, data[:n]) {
		c.checkInfo(u, scMiscompare, uint64(firstDiff(*medium, data[:n])), true)
		return
	}
	if _, err := u.dev.WriteAt(data[n:], off); err != nil {
		c.writeErr(u, err)
		return
	}
	if cdb.FUA() && u.syncer != nil {
		if err := u.syncer.Sync(); err != nil {
			c.writeErr(u, err)
		}
	}
}

func (u *logicalUnit) readCapacity10(c *scsiCmd) {
	b := make([]byte, 8)
	last := u.blocks - 1
	if last > 0xFFFFFFFF {
		last = 0xFFFFFFFF
	}
	binary.BigEndian.PutUint32(b, uint32(last))
	binary.BigEndian.PutUint32(b[4:], uint32(u.bs))
	c.in = b
}

func (u *logicalUnit) readCapacity16(c *scsiCmd, cdb CDB) {
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b, u.blocks-1)
	binary.BigEndian.PutUint32(b[8:], uint32(u.bs))
	if u.discarder != nil {
		b[14] = 0x80 | 0x40 // LBPME, LBPRZ
	}
	c.reply(b, cdb.Length)
}

func (ts *targetState) reportLUNs(c *scsiCmd, cdb CDB) {
	if c.cdb[2] > 2 && c.cdb[2] != 0x10 && c.cdb[2] != 0x11 && c.cdb[2] != 0x12 {
		c.check(nil, scInvalidFieldCDB)
		return
	}
	if cdb.Length < 16 {
		c.check(nil, scInvalidFieldCDB)
		return
	}
	var ids []uint64
	for i, u := range ts.units {
		if u != nil {
			ids = append(ids, uint64(i))
		}
	}
	if c.cdb[2] == 1 {
		ids = nil // no well-known LUNs
	}
	b := make([]byte, 8+8*len(ids))
	binary.BigEndian.PutUint32(b, uint32(8*len(ids)))
	for i, id := range ids {
		binary.BigEndian.PutUint64(b[8+8*i:], encodeLUN(id))
	}
	c.reply(b, cdb.Length)
}

func requestSense(c *scsiCmd, u *logicalUnit, cdb CDB) {
	desc := c.cdb[1]&0x01 != 0
	sc := scNoSense
	if u == nil {
		sc = scLUNNotSupported
	} else if s, ok := u.takeUA(c.nexus); ok {
		sc = s
	}
	c.reply(appendSense(nil, sc, desc, 0, false, 0), cdb.Length)
}
