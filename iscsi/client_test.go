package iscsi

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testClient is a minimal initiator for tests: it speaks just enough iSCSI
// to drive the target's edge cases directly.
type testClient struct {
	t         testing.TB
	nc        net.Conn
	br        *bufio.Reader
	dg        Digests
	isid      [6]byte
	tsih      uint16
	cmdSN     uint32
	expStatSN uint32
	itt       uint32
	maxCmdSN  uint32
	keys      map[string]string // last login response keys
	dataIn    map[uint32][]byte // Data-In payloads per ITT
}

func dialClient(t testing.TB, addr string, isid byte) *testClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	return &testClient{t: t, nc: nc, br: bufio.NewReader(nc), isid: [6]byte{0x80, 0, 0, 0, 0, isid}, cmdSN: 1, itt: 1, dataIn: map[uint32][]byte{}}
}

func (c *testClient) send(p *PDU) {
	c.t.Helper()
	_, err := c.nc.Write(AppendPDU(nil, p, c.dg))
	require.NoError(c.t, err)
}

func (c *testClient) recv() (*PDU, error) {
	p, err := ReadPDU(c.br, c.dg, 1<<24)
	if err != nil {
		return nil, err
	}
	switch p.BHS.Opcode() {
	case OpSCSIResp, OpTaskMgmtRsp, OpTextResp, OpLogoutResp, OpReject, OpLoginResp, OpNOPIn, OpAsync:
		if p.BHS.Opcode() != OpNOPIn || p.BHS.ITT() != ReservedTag {
			c.expStatSN = p.BHS.U32(24) + 1
		}
	case OpDataIn:
		if p.BHS.Flags()&0x01 != 0 {
			c.expStatSN = p.BHS.U32(24) + 1
		}
	}
	if p.BHS.Opcode() != OpLoginResp {
		c.maxCmdSN = p.BHS.U32(32)
	}
	return p, nil
}

func (c *testClient) mustRecv() *PDU {
	c.t.Helper()
	p, err := c.recv()
	require.NoError(c.t, err)
	return p
}

// loginPDU sends one Login Request and returns the response status and keys.
func (c *testClient) loginPDU(csg, nsg int, transit bool, kvs ...KeyValue) (uint16, map[string]string, *PDU) {
	c.t.Helper()
	p := &PDU{Data: AppendText(nil, kvs...)}
	h := &p.BHS
	h[0] = byte(OpLoginReq) | 0x40
	h[1] = byte(csg<<2 | nsg)
	if transit {
		h[1] |= 0x80
	}
	copy(h[8:14], c.isid[:])
	binary.BigEndian.PutUint16(h[14:], c.tsih)
	h.PutU32(16, c.itt)
	h.PutU32(24, c.cmdSN)
	h.PutU32(28, c.expStatSN)
	c.send(p)
	r := c.mustRecv()
	require.Equal(c.t, OpLoginResp, r.BHS.Opcode())
	kv, err := ParseText(r.Data)
	require.NoError(c.t, err)
	m := map[string]string{}
	for _, x := range kv {
		m[x.Key] = x.Value
	}
	c.tsih = binary.BigEndian.Uint16(r.BHS[14:])
	c.maxCmdSN = r.BHS.U32(32)
	return uint16(r.BHS[36])<<8 | uint16(r.BHS[37]), m, r
}

// login performs a Normal (target != "") or Discovery login with AuthMethod
// None straight into the operational stage, adding extra keys.
func (c *testClient) login(initiator, target string, extra ...KeyValue) uint16 {
	c.t.Helper()
	kvs := []KeyValue{{"InitiatorName", initiator}}
	if target == "" {
		kvs = append(kvs, KeyValue{"SessionType", "Discovery"})
	} else {
		kvs = append(kvs, KeyValue{"TargetName", target}, KeyValue{"SessionType", "Normal"})
	}
	kvs = append(kvs, extra...)
	st, keys, _ := c.loginPDU(1, 3, true, kvs...)
	c.keys = keys
	if st == 0 {
		c.dg = Digests{Header: keys["HeaderDigest"] == "CRC32C", Data: keys["DataDigest"] == "CRC32C"}
	}
	return st
}

// chapLogin authenticates with CHAP (mutual when mutualSecret != "") and
// returns the final status; it verifies the target's mutual response.
func (c *testClient) chapLogin(initiator, target, user, secret, mutualUser, mutualSecret string) uint16 {
	c.t.Helper()
	st, keys, _ := c.loginPDU(0, 1, true, KeyValue{"InitiatorName", initiator}, KeyValue{"TargetName", target},
		KeyValue{"AuthMethod", "CHAP,None"})
	if st != 0 {
		return st
	}
	require.Equal(c.t, "CHAP", keys["AuthMethod"])
	st, keys, _ = c.loginPDU(0, 1, false, KeyValue{"CHAP_A", "7,5"})
	if st != 0 {
		return st
	}
	require.Equal(c.t, "5", keys["CHAP_A"])
	id, err := strconv.Atoi(keys["CHAP_I"])
	require.NoError(c.t, err)
	ch, err := parseBinary(keys["CHAP_C"])
	require.NoError(c.t, err)
	require.GreaterOrEqual(c.t, len(ch), 16)
	kvs := []KeyValue{{"CHAP_N", user}, {"CHAP_R", "0x" + hex.EncodeToString(chapResponse(byte(id), secret, ch))}}
	myCh := []byte("0123456789abcdef")
	if mutualSecret != "" {
		kvs = append(kvs, KeyValue{"CHAP_I", "77"}, KeyValue{"CHAP_C", "0x" + hex.EncodeToString(myCh)})
	}
	st, keys, r := c.loginPDU(0, 1, true, kvs...)
	if st != 0 {
		return st
	}
	if mutualSecret != "" {
		require.Equal(c.t, mutualUser, keys["CHAP_N"])
		got, err := parseBinary(keys["CHAP_R"])
		require.NoError(c.t, err)
		require.Equal(c.t, chapResponse(77, mutualSecret, myCh), got, "target's mutual CHAP response")
	}
	require.NotZero(c.t, r.BHS[1]&0x80, "target transits after CHAP")
	st, keys, _ = c.loginPDU(1, 3, true)
	c.keys = keys
	return st
}

// cmd builds a SCSI Command PDU.
func (c *testClient) cmd(cdb []byte, edtl int, read, write bool, attr byte, data []byte) (*PDU, uint32) {
	p := &PDU{Data: data}
	h := &p.BHS
	h[0] = byte(OpSCSICmd)
	h[1] = 0x80 | attr
	if read {
		h[1] |= 0x40
	}
	if write {
		h[1] |= 0x20
	}
	itt := c.itt
	c.itt++
	h.PutU32(16, itt)
	h.PutU32(20, uint32(edtl))
	h.PutU32(24, c.cmdSN)
	c.cmdSN++
	h.PutU32(28, c.expStatSN)
	copy(h[32:], cdb)
	return p, itt
}

// result collects one command's outcome.
type result struct {
	status byte
	data   []byte
	sense  []byte
	flags  byte
	resid  uint32
}

// do runs commands to completion, answering R2Ts from the write buffers.
func (c *testClient) do(pdus []*PDU, writes map[uint32][]byte) map[uint32]*result {
	c.t.Helper()
	for _, p := range pdus {
		c.send(p)
	}
	res := map[uint32]*result{}
	for len(res) < len(pdus) {
		p := c.mustRecv()
		h := &p.BHS
		r := res[h.ITT()]
		switch h.Opcode() {
		case OpDataIn:
			_ = r
			buf := c.dataIn[h.ITT()]
			off := int(h.U32(40))
			if need := off + len(p.Data); len(buf) < need {
				buf = append(buf, make([]byte, need-len(buf))...)
			}
			copy(buf[off:], p.Data)
			c.dataIn[h.ITT()] = buf
			if h.Flags()&0x01 != 0 {
				res[h.ITT()] = &result{status: h[3], data: buf, flags: h.Flags(), resid: h.U32(44)}
			}
		case OpSCSIResp:
			r := &result{status: h[3], data: c.dataIn[h.ITT()], flags: h.Flags(), resid: h.U32(44)}
			if len(p.Data) >= 2 {
				r.sense = p.Data[2:]
			}
			res[h.ITT()] = r
		case OpR2T:
			buf := writes[h.ITT()]
			off, n := int(h.U32(40)), int(h.U32(44))
			for sn, o := uint32(0), off; o < off+n; sn++ {
				seg := min(8192, off+n-o)
				d := &PDU{Data: buf[o : o+seg]}
				d.BHS[0] = byte(OpDataOut)
				if o+seg == off+n {
					d.BHS[1] = 0x80
				}
				d.BHS.PutU32(16, h.ITT())
				d.BHS.PutU32(20, h.U32(20))
				d.BHS.PutU32(28, c.expStatSN)
				d.BHS.PutU32(36, sn)
				d.BHS.PutU32(40, uint32(o))
				c.send(d)
				o += seg
			}
		case OpNOPIn, OpAsync:
		default:
			c.t.Fatalf("unexpected opcode %#x", h.Opcode())
		}
	}
	clear(c.dataIn)
	return res
}

func cdb10(op byte, lba uint32, blocks uint16) []byte {
	b := []byte{op, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[2:], lba)
	binary.BigEndian.PutUint16(b[7:], blocks)
	return b
}

func (c *testClient) nop(data []byte) *PDU {
	c.t.Helper()
	p := &PDU{Data: data}
	p.BHS[0] = byte(OpNOPOut) | 0x40
	p.BHS[1] = 0x80
	p.BHS.PutU32(16, c.itt)
	c.itt++
	p.BHS.PutU32(20, ReservedTag)
	p.BHS.PutU32(24, c.cmdSN)
	p.BHS.PutU32(28, c.expStatSN)
	c.send(p)
	for {
		r := c.mustRecv()
		if r.BHS.Opcode() == OpNOPIn && r.BHS.ITT() != ReservedTag {
			return r
		}
	}
}

func (c *testClient) text(kvs ...KeyValue) map[string][]string {
	c.t.Helper()
	p := &PDU{Data: AppendText(nil, kvs...)}
	p.BHS[0] = byte(OpTextReq) | 0x40
	p.BHS[1] = 0x80
	p.BHS.PutU32(16, c.itt)
	c.itt++
	p.BHS.PutU32(20, ReservedTag)
	p.BHS.PutU32(24, c.cmdSN)
	p.BHS.PutU32(28, c.expStatSN)
	c.send(p)
	r := c.mustRecv()
	require.Equal(c.t, OpTextResp, r.BHS.Opcode())
	out := map[string][]string{}
	for _, item := range strings.Split(strings.TrimRight(string(r.Data), "\x00"), "\x00") {
		k, v, _ := strings.Cut(item, "=")
		out[k] = append(out[k], v)
	}
	return out
}

func (c *testClient) logout() byte {
	c.t.Helper()
	p := &PDU{}
	p.BHS[0] = byte(OpLogoutReq) | 0x40
	p.BHS[1] = 0x80
	p.BHS.PutU32(16, c.itt)
	c.itt++
	p.BHS.PutU32(24, c.cmdSN)
	p.BHS.PutU32(28, c.expStatSN)
	c.send(p)
	for {
		r := c.mustRecv()
		if r.BHS.Opcode() == OpLogoutResp {
			return r.BHS[2]
		}
	}
}
