package iscsi

import (
	"encoding/binary"
)

const (
	inqVendor   = "NETBOOT "
	inqProduct  = "VIRTUAL-DISK    "
	inqRevision = "0001"
)

func (ts *targetState) inquiry(c *scsiCmd, u *logicalUnit, cdb CDB) {
	evpd := c.cdb[1]&0x01 != 0
	page := c.cdb[2]
	if c.cdb[1]&0xFE != 0 || (!evpd && page != 0) {
		c.check(u, scInvalidFieldCDB)
		return
	}
	if !evpd {
		b := make([]byte, 96)
		if u == nil {
			b[0] = 0x7F // peripheral qualifier 3: no LU here
		}
		b[2] = 0x06         // SPC-4
		b[3] = 0x10 | 0x02  // HiSup, response data format 2
		b[4] = byte(96 - 5) // additional length
		b[5] = 0x00
		b[7] = 0x02 // CmdQue
		copy(b[8:], inqVendor)
		copy(b[16:], inqProduct)
		copy(b[32:], inqRevision)
		for i, v := range []uint16{0x00A0, 0x0960, 0x0460, 0x04C0} { // SAM-5, iSCSI, SPC-4, SBC-3
			binary.BigEndian.PutUint16(b[58+2*i:], v)
		}
		c.reply(b, cdb.Length)
		return
	}
	if u == nil {
		c.check(nil, scLUNNotSupported)
		return
	}
	var body []byte
	switch page {
	case 0x00:
		body = []byte{0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2}
	case 0x80:
		body = []byte(u.serial)
	case 0x83:
		body = ts.deviceIDs(u)
	case 0xB0:
		body = make([]byte, 0x3C)
		body[0] = 0x01 // WSNZ
		body[1] = maxCAWBlocks
		binary.BigEndian.PutUint16(body[2:], 1)
		binary.BigEndian.PutUint32(body[4:], uint32(maxTransferBytes/u.bs))
		binary.BigEndian.PutUint32(body[8:], uint32((1<<20)/u.bs))
		if u.discarder != nil {
			binary.BigEndian.PutUint32(body[16:], maxUnmapBlocks)
			binary.BigEndian.PutUint32(body[20:], maxUnmapDescs)
			binary.BigEndian.PutUint32(body[24:], 1)
		}
		binary.BigEndian.PutUint64(body[32:], maxWriteSameBlock)
	case 0xB1:
		body = make([]byte, 0x3C)
		binary.BigEndian.PutUint16(body[0:], 1) // non-rotating medium
	case 0xB2:
		body = make([]byte, 4)
		if u.discarder != nil {
			body[1] = 0x80 | 0x40 | 0x20 | 0x04 // LBPU, LBPWS, LBPWS10, LBPRZ
			body[2] = 0x02                      // thin provisioned
		}
	default:
		c.check(u, scInvalidFieldCDB)
		return
	}
	b := make([]byte, 4+len(body))
	b[1] = page
	binary.BigEndian.PutUint16(b[2:], uint16(len(body)))
	copy(b[4:], body)
	c.reply(b, cdb.Length)
}

// deviceIDs builds the Device Identification VPD page descriptors.
func (ts *targetState) deviceIDs(u *logicalUnit) []byte {
	var b []byte
	// NAA 6 logical unit identifier (binary, LU association).
	b = append(b, 0x01, 0x03, 0x00, 16)
	b = append(b, u.naa[:]...)
	// T10 vendor identification (ASCII).
	t10 := inqVendor + u.serial
	b = append(b, 0x02, 0x01, 0x00, byte(len(t10)))
	b = append(b, t10...)
	// SCSI name string of the target port (UTF-8, iSCSI, port association).
	name := ts.name + ",t,0x0001"
	n := len(name) + 1
	n += (4 - n%4) % 4
	b = append(b, 0x53, 0x80|0x10|0x08, 0x00, byte(n))
	b = append(b, name...)
	b = append(b, make([]byte, n-len(name))...)
	// Relative target port 1 and target port group 1.
	b = append(b, 0x51, 0x80|0x10|0x04, 0x00, 4, 0, 0, 0, 1)
	b = append(b, 0x51, 0x80|0x10|0x05, 0x00, 4, 0, 0, 0, 1)
	return b
}

// modePage returns page (current values, or the changeable mask when changeable).
func (u *logicalUnit) modePage(page byte, changeable bool) []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch page {
	case 0x08: // caching
		p := make([]byte, 0x14)
		p[0], p[1] = 0x08, 0x12
		if !changeable && u.syncer != nil {
			p[2] = 0x04 // WCE: SYNCHRONIZE CACHE really flushes
		}
		return p
	case 0x0A: // control
		p := make([]byte, 0x0C)
		p[0], p[1] = 0x0A, 0x0A
		if changeable {
			p[2] = 0x04
			p[4] = 0x08
			return p
		}
		if u.dsense.Load() {
			p[2] |= 0x04
		}
		if u.swp {
			p[4] |= 0x08
		}
		binary.BigEndian.PutUint16(p[10:], 0xFFFF) // extended self-test completion time: none
		p[10], p[11] = 0, 0
		return p
	case 0x1C: // informational exceptions control
		p := make([]byte, 0x0C)
		p[0], p[1] = 0x1C, 0x0A
		return p
	}
	return nil
}

func (u *logicalUnit) modeSense(c *scsiCmd, cdb CDB) {
	six := cdb.Op == opModeSense6
	dbd := c.cdb[1]&0x08 != 0
	pc := c.cdb[2] >> 6
	page := c.cdb[2] & 0x3F
	sub := c.cdb[3]
	if pc == 3 {
		c.check(u, scSavingNotSupported)
		return
	}
	if sub != 0 && !(page == 0x3F && sub == 0xFF) {
		c.check(u, scInvalidFieldCDB)
		return
	}
	var pages []byte
	if page == 0x3F {
		for _, p := range []byte{0x08, 0x0A, 0x1C} {
			pages = append(pages, u.modePage(p, pc == 1)...)
		}
	} else {
		pages = u.modePage(page, pc == 1)
		if pages == nil {
			c.check(u, scInvalidFieldCDB)
			return
		}
	}
	var dev byte = 0x10 // DPOFUA
	if u.writeProtected() {
		dev |= 0x80
	}
	var bd []byte
	if !dbd {
		bd = make([]byte, 8)
		blocks := u.blocks
		if blocks > 0xFFFFFFFF {
			blocks = 0xFFFFFFFF
		}
		binary.BigEndian.PutUint32(bd, uint32(blocks))
		binary.BigEndian.PutUint32(bd[4:], uint32(u.bs))
		if pc == 1 {
			clear(bd)
		}
	}
	var b []byte
	if six {
		b = []byte{0, 0, dev, byte(len(bd))}
		b = append(append(b, bd...), pages...)
		b[0] = byte(len(b) - 1)
	} else {
		b = []byte{0, 0, 0, dev, 0, 0, 0, byte(len(bd))}
		b = append(append(b, bd...), pages...)
		binary.BigEndian.PutUint16(b, uint16(len(b)-2))
	}
	c.reply(b, cdb.Length)
}

func (u *logicalUnit) modeSelect(c *scsiCmd, cdb CDB) {
	if c.cdb[1]&0x10 == 0 || c.cdb[1]&0x01 != 0 { // PF required, SP not supported
		c.check(u, scInvalidFieldCDB)
		return
	}
	p := c.out
	if len(p) > int(cdb.Length) {
		p = p[:cdb.Length]
	}
	hdr := 4
	var bdl int
	if cdb.Op == opModeSelect10 {
		hdr = 8
		if len(p) >= 8 {
			bdl = int(binary.BigEndian.Uint16(p[6:]))
		}
	} else if len(p) >= 4 {
		bdl = int(p[3])
	}
	if len(p) == 0 {
		return
	}
	if len(p) < hdr || hdr+bdl > len(p) {
		c.check(u, scParamListLength)
		return
	}
	pages := p[hdr+bdl:]
	u.mu.Lock()
	dsense, swp := u.dsense.Load(), u.swp
	u.mu.Unlock()
	for len(pages) > 0 {
		if len(pages) < 2 || 2+int(pages[1]) > len(pages) {
			c.check(u, scParamListLength)
			return
		}
		pg := pages[:2+int(pages[1])]
		pages = pages[len(pg):]
		cur := u.modePage(pg[0]&0x3F, false)
		mask := u.modePage(pg[0]&0x3F, true)
		if cur == nil || len(cur) != len(pg) {
			c.check(u, scInvalidFieldParam)
			return
		}
		for i := 2; i < len(pg); i++ {
			if (pg[i]^cur[i])&^mask[i] != 0 {
				c.check(u, scInvalidFieldParam)
				return
			}
		}
		if pg[0]&0x3F == 0x0A {
			dsense = pg[2]&0x04 != 0
			swp = pg[4]&0x08 != 0
		}
	}
	u.mu.Lock()
	u.dsense.Store(dsense)
	u.swp = swp
	u.mu.Unlock()
}

// supportedOps lists the commands REPORT SUPPORTED OPERATION CODES reports,
// with their service action (or -1) and CDB length.
var supportedOps = [...]struct {
	op  byte
	sa  int16
	len byte
}{
	{opTestUnitReady, -1, 6}, {opRequestSense, -1, 6}, {opRead6, -1, 6}, {opWrite6, -1, 6},
	{opInquiry, -1, 6}, {opModeSelect6, -1, 6}, {opModeSense6, -1, 6}, {opStartStopUnit, -1, 6},
	{opPreventAllow, -1, 6}, {opReadCapacity10, -1, 10}, {opRead10, -1, 10}, {opWrite10, -1, 10},
	{opWriteVerify10, -1, 10}, {opVerify10, -1, 10}, {opPrefetch10, -1, 10}, {opSyncCache10, -1, 10},
	{opWriteSame10, -1, 10}, {opUnmap, -1, 10}, {opModeSelect10, -1, 10}, {opModeSense10, -1, 10},
	{opPRIn, 0, 10}, {opPRIn, 1, 10}, {opPRIn, 2, 10}, {opPRIn, 3, 10},
	{opPROut, 0, 10}, {opPROut, 1, 10}, {opPROut, 2, 10}, {opPROut, 3, 10}, {opPROut, 4, 10},
	{opPROut, 5, 10}, {opPROut, 6, 10},
	{opRead16, -1, 16}, {opCompareAndWrite, -1, 16}, {opWrite16, -1, 16}, {opWriteVerify16, -1, 16},
	{opVerify16, -1, 16}, {opPrefetch16, -1, 16}, {opSyncCache16, -1, 16}, {opWriteSame16, -1, 16},
	{opServiceActionIn, saReadCapacity16, 16}, {opReportLUNs, -1, 12},
	{opMaintenanceIn, saReportSupportOps, 12}, {opRead12, -1, 12}, {opWrite12, -1, 12},
	{opWriteVerify12, -1, 12}, {opVerify12, -1, 12},
}

func reportSupportedOps(c *scsiCmd, u *logicalUnit, cdb CDB) {
	rctd := c.cdb[2]&0x80 != 0
	opts := c.cdb[2] & 0x07
	reqOp, reqSA := c.cdb[3], int16(binary.BigEndian.Uint16(c.cdb[4:]))
	timeout := func(b []byte) []byte {
		if !rctd {
			return b
		}
		return append(b, 0, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	switch opts {
	case 0:
		var list []byte
		for _, s := range supportedOps {
			if s.op == opUnmap && u.discarder == nil {
				continue
			}
			d := []byte{s.op, 0, 0, 0, 0, 0, 0, s.len}
			if s.sa >= 0 {
				binary.BigEndian.PutUint16(d[2:], uint16(s.sa))
				d[5] |= 0x01 // SERVACTV
			}
			if rctd {
				d[5] |= 0x02 // CTDP
			}
			list = append(list, timeout(d)...)
		}
		b := binary.BigEndian.AppendUint32(nil, uint32(len(list)))
		c.reply(append(b, list...), cdb.Length)
	case 1, 2:
		var found *struct {
			op  byte
			sa  int16
			len byte
		}
		hasSA := false
		for i := range supportedOps {
			s := &supportedOps[i]
			if s.op != reqOp {
				continue
			}
			if s.sa >= 0 {
				hasSA = true
			}
			if (opts == 1 && s.sa < 0) || (opts == 2 && s.sa == reqSA) {
				found = s
			}
		}
		if (opts == 1 && hasSA) || (opts == 2 && !hasSA && found == nil && anyOp(reqOp)) {
			c.check(u, scInvalidFieldCDB)
			return
		}
		if found != nil && found.op == opUnmap && u.discarder == nil {
			found = nil
		}
		b := []byte{0, 0x01, 0, 0}
		if found != nil {
			b[1] = 0x03
			usage := make([]byte, found.len)
			usage[0] = found.op
			for i := 1; i < len(usage)-1; i++ {
				usage[i] = 0xFF
			}
			usage[len(usage)-1] = 0x07
			if found.sa >= 0 {
				usage[1] = 0xE0 | byte(found.sa)
			}
			binary.BigEndian.PutUint16(b[2:], uint16(len(usage)))
			b = append(b, usage...)
			if rctd {
				b[1] |= 0x80
				b = timeout(b)
			}
		}
		c.reply(b, cdb.Length)
	default:
		c.check(u, scInvalidFieldCDB)
	}
}

func anyOp(op byte) bool {
	for _, s := range supportedOps {
		if s.op == op {
			return true
		}
	}
	return false
}
