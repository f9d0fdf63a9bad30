package iscsi

import (
	"encoding/binary"
)

// Persistent reservation types (SPC-4).
const (
	prWE   = 1
	prEA   = 3
	prWERO = 5
	prEARO = 6
	prWEAR = 7
	prEAAR = 8
)

// prState is a logical unit's persistent reservation state. Nexus strings
// identify I_T nexuses (initiator name + ISID).
type prState struct {
	gen     uint32
	keys    map[string]uint64 // registered nexus → key
	holder  string            // reservation holder ("" = none)
	resType byte
}

func (p *prState) allRegistrants() bool { return p.resType == prWEAR || p.resType == prEAAR }

func (p *prState) isHolder(nexus string) bool {
	if p.resType == 0 {
		return false
	}
	if p.allRegistrants() {
		_, ok := p.keys[nexus]
		return ok
	}
	return p.holder == nexus
}

// conflict reports whether the command must end in RESERVATION CONFLICT.
func (u *logicalUnit) conflict(nexus string, cdb CDB) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := &u.pr
	if p.resType == 0 || p.isHolder(nexus) {
		return false
	}
	var write, read bool
	switch cdb.Op {
	case opRead6, opRead10, opRead12, opRead16, opVerify10, opVerify12, opVerify16:
		read = true
	case opWrite6, opWrite10, opWrite12, opWrite16, opWriteVerify10, opWriteVerify12, opWriteVerify16,
		opWriteSame10, opWriteSame16, opUnmap, opCompareAndWrite, opSyncCache10, opSyncCache16,
		opModeSelect6, opModeSelect10:
		write = true
	case opPrefetch10, opPrefetch16:
		read = true
	default:
		return false
	}
	_, registered := p.keys[nexus]
	switch p.resType {
	case prWE:
		return write
	case prEA:
		return read || write
	case prWERO, prWEAR:
		return write && !registered
	case prEARO, prEAAR:
		return !registered
	}
	return false
}

func (ts *targetState) prIn(c *scsiCmd, u *logicalUnit, cdb CDB) {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := &u.pr
	var b []byte
	switch cdb.ServiceAction {
	case 0: // READ KEYS
		b = binary.BigEndian.AppendUint32(nil, p.gen)
		b = binary.BigEndian.AppendUint32(b, uint32(8*len(p.keys)))
		for _, k := range p.sortedKeys() {
			b = binary.BigEndian.AppendUint64(b, k)
		}
	case 1: // READ RESERVATION
		b = binary.BigEndian.AppendUint32(nil, p.gen)
		if p.resType == 0 {
			b = binary.BigEndian.AppendUint32(b, 0)
		} else {
			b = binary.BigEndian.AppendUint32(b, 16)
			var key uint64
			if !p.allRegistrants() {
				key = p.keys[p.holder]
			}
			b = binary.BigEndian.AppendUint64(b, key)
			b = append(b, 0, 0, 0, 0, 0, p.resType&0x0F, 0, 0)
		}
	case 2: // REPORT CAPABILITIES
		b = make([]byte, 8)
		b[1] = 8
		b[2] = 0x10                             // CRH: compatible reservation handling
		b[3] = 0x80                             // TMV: type mask valid
		b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02 // WR_EX_AR EX_AC_RO WR_EX_RO EX_AC WR_EX
		b[5] = 0x01                             // EX_AC_AR
	case 3: // READ FULL STATUS
		b = binary.BigEndian.AppendUint32(nil, p.gen)
		b = binary.BigEndian.AppendUint32(b, 0)
		for _, nexus := range p.sortedNexuses() {
			d := make([]byte, 24)
			binary.BigEndian.PutUint64(d, p.keys[nexus])
			if p.isHolder(nexus) {
				d[12] = 0x01
				d[13] = p.resType & 0x0F
			}
			name := initiatorOf(nexus)
			tid := []byte{0x05, 0, 0, 0}
			tid = append(tid, name...)
			tid = append(tid, 0)
			for len(tid)%4 != 0 {
				tid = append(tid, 0)
			}
			binary.BigEndian.PutUint16(tid[2:], uint16(len(tid)-4))
			binary.BigEndian.PutUint32(d[20:], uint32(len(tid)))
			b = append(append(b, d...), tid...)
		}
		binary.BigEndian.PutUint32(b[4:], uint32(len(b)-8))
	default:
		c.check(u, scInvalidFieldCDB)
		return
	}
	c.reply(b, cdb.Length)
}

func initiatorOf(nexus string) string {
	for i := len(nexus) - 1; i >= 0; i-- {
		if nexus[i] == ',' {
			return nexus[:i]
		}
	}
	return nexus
}

func (p *prState) sortedNexuses() []string {
	out := make([]string, 0, len(p.keys))
	for n := range p.keys {
		out = append(out, n)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (p *prState) sortedKeys() []uint64 {
	var out []uint64
	for _, n := range p.sortedNexuses() {
		out = append(out, p.keys[n])
	}
	return out
}

func (ts *targetState) prOut(c *scsiCmd, u *logicalUnit, cdb CDB) {
	if cdb.Length != 24 {
		c.check(u, scParamListLength)
		return
	}
	if len(c.out) < 24 {
		c.check(u, scParamListLength)
		return
	}
	par := c.out[:24]
	key := binary.BigEndian.Uint64(par)
	saKey := binary.BigEndian.Uint64(par[8:])
	flags := par[20]
	typ := c.cdb[2] & 0x0F
	scope := c.cdb[2] >> 4
	if flags&(0x08|0x04) != 0 { // SPEC_I_PT, ALL_TG_PT unsupported
		c.check(u, scInvalidFieldParam)
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	p := &u.pr
	if p.keys == nil {
		p.keys = map[string]uint64{}
	}
	cur, registered := p.keys[c.nexus]
	conflict := func() { c.status = StatusReservationConflict }
	switch cdb.ServiceAction {
	case 0, 6: // REGISTER, REGISTER AND IGNORE EXISTING KEY
		if cdb.ServiceAction == 0 {
			if (!registered && key != 0) || (registered && key != cur) {
				conflict()
				return
			}
		}
		if saKey == 0 {
			if registered {
				p.unregister(c.nexus)
			}
		} else {
			p.keys[c.nexus] = saKey
		}
		p.gen++
	case 1: // RESERVE
		if scope != 0 {
			c.check(u, scInvalidFieldCDB)
			return
		}
		if !registered || key != cur {
			conflict()
			return
		}
		if !validPRType(typ) {
			c.check(u, scInvalidFieldCDB)
			return
		}
		if p.resType != 0 {
			if !p.isHolder(c.nexus) || p.resType != typ {
				conflict()
			}
			return
		}
		p.holder, p.resType = c.nexus, typ
	case 2: // RELEASE
		if !registered || key != cur {
			conflict()
			return
		}
		if p.resType == 0 || !p.isHolder(c.nexus) {
			return
		}
		if p.resType != typ {
			c.check(u, scInvalidFieldCDB) // INVALID RELEASE OF PERSISTENT RESERVATION
			return
		}
		p.holder, p.resType = "", 0
	case 3: // CLEAR
		if !registered || key != cur {
			conflict()
			return
		}
		p.keys = map[string]uint64{}
		p.holder, p.resType = "", 0
		p.gen++
	case 4, 5: // PREEMPT, PREEMPT AND ABORT
		if !registered || key != cur {
			conflict()
			return
		}
		if !validPRType(typ) {
			c.check(u, scInvalidFieldCDB)
			return
		}
		holderKey, holding := p.keys[p.holder]
		if p.resType != 0 && !p.allRegistrants() && holding && holderKey == saKey {
			for n, k := range p.keys {
				if k == saKey && n != c.nexus {
					p.unregister(n)
				}
			}
			p.holder, p.resType = c.nexus, typ
		} else {
			if saKey == 0 {
				c.check(u, scInvalidFieldParam)
				return
			}
			found := false
			for n, k := range p.keys {
				if k == saKey && n != c.nexus {
					p.unregister(n)
					found = true
				}
			}
			if !found {
				conflict()
				return
			}
		}
		p.gen++
	default:
		c.check(u, scInvalidFieldCDB)
	}
}

func (p *prState) unregister(nexus string) {
	delete(p.keys, nexus)
	if p.holder == nexus && !p.allRegistrants() {
		p.holder, p.resType = "", 0
	}
	if p.allRegistrants() && len(p.keys) == 0 {
		p.holder, p.resType = "", 0
	}
}

func validPRType(t byte) bool {
	switch t {
	case prWE, prEA, prWERO, prEARO, prWEAR, prEAAR:
		return true
	}
	return false
}
