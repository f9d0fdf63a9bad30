package iscsi

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testInit = "iqn.2026-01.org.netboot:client"

func memTarget(name string, blocks int) (*Target, *memDevice) {
	dev := &memDevice{b: make([]byte, blocks*512)}
	return &Target{Name: name, LUNs: []LUN{{Device: dev}}}, dev
}

func TestLoginStatus(t *testing.T) {
	tg, _ := memTarget(testIQN, 64)
	tg.Initiators = []string{testInit}
	chapT, _ := memTarget(testIQN+"-chap", 64)
	chapT.CHAP = &CHAP{User: "u", Secret: "0123456789ab", MutualUser: "tgt", MutualSecret: "mutualsecret"}
	addr := startServer(t, &Server{Targets: []*Target{tg, chapT}})

	tests := []struct {
		name   string
		run    func(c *testClient) uint16
		status uint16
	}{
		{"ok", func(c *testClient) uint16 { return c.login(testInit, testIQN) }, 0},
		{"discovery", func(c *testClient) uint16 { return c.login(testInit, "") }, 0},
		{"target not found", func(c *testClient) uint16 { return c.login(testInit, testIQN+"-nope") }, loginNotFound},
		{"not authorized", func(c *testClient) uint16 { return c.login("iqn.2026-01.org.other:x", testIQN) }, loginForbidden},
		{"no initiator name", func(c *testClient) uint16 {
			st, _, _ := c.loginPDU(1, 3, true, KeyValue{"TargetName", testIQN})
			return st
		}, loginMissingParam},
		{"bad session type", func(c *testClient) uint16 {
			return c.login(testInit, testIQN, KeyValue{"SessionType", "Weird"})
		}, 0x0200}, // duplicate SessionType key: malformed text
		{"skip security on CHAP target", func(c *testClient) uint16 { return c.login(testInit, testIQN+"-chap") }, loginAuthFailed},
		{"CHAP mutual", func(c *testClient) uint16 {
			return c.chapLogin(testInit, testIQN+"-chap", "u", "0123456789ab", "tgt", "mutualsecret")
		}, 0},
		{"CHAP one-way", func(c *testClient) uint16 {
			return c.chapLogin(testInit, testIQN+"-chap", "u", "0123456789ab", "", "")
		}, 0},
		{"CHAP wrong secret", func(c *testClient) uint16 {
			return c.chapLogin(testInit, testIQN+"-chap", "u", "0123456789ac", "", "")
		}, loginAuthFailed},
		{"CHAP only SHA", func(c *testClient) uint16 {
			c.loginPDU(0, 1, true, KeyValue{"InitiatorName", testInit}, KeyValue{"TargetName", testIQN + "-chap"},
				KeyValue{"AuthMethod", "CHAP"})
			st, _, _ := c.loginPDU(0, 1, false, KeyValue{"CHAP_A", "56"})
			return st
		}, loginAuthFailed},
		{"None only on CHAP target", func(c *testClient) uint16 {
			st, _, _ := c.loginPDU(0, 1, true, KeyValue{"InitiatorName", testInit}, KeyValue{"TargetName", testIQN + "-chap"},
				KeyValue{"AuthMethod", "None"})
			return st
		}, loginAuthFailed},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialClient(t, addr, byte(i))
			assert.Equal(t, fmt.Sprintf("%#04x", tt.status), fmt.Sprintf("%#04x", tt.run(c)))
		})
	}
}

func TestNegotiationReply(t *testing.T) {
	tg, _ := memTarget(testIQN, 256)
	addr := startServer(t, &Server{Targets: []*Target{tg}})
	c := dialClient(t, addr, 1)
	require.Zero(t, c.login(testInit, testIQN,
		KeyValue{"HeaderDigest", "CRC32C,None"}, KeyValue{"DataDigest", "CRC32C"},
		KeyValue{"MaxBurstLength", "16776192"}, KeyValue{"FirstBurstLength", "262144"},
		KeyValue{"InitialR2T", "No"}, KeyValue{"ImmediateData", "Yes"}, KeyValue{"MaxRecvDataSegmentLength", "4096"},
		KeyValue{"IFMarker", "No"}, KeyValue{"X-com.example.Foo", "1"}))
	assert.Equal(t, "CRC32C", c.keys["HeaderDigest"])
	assert.Equal(t, "CRC32C", c.keys["DataDigest"])
	assert.Equal(t, "1048576", c.keys["MaxBurstLength"])
	assert.Equal(t, "262144", c.keys["FirstBurstLength"])
	assert.Equal(t, "No", c.keys["InitialR2T"])
	assert.Equal(t, "No", c.keys["IFMarker"])
	assert.Equal(t, "NotUnderstood", c.keys["X-com.example.Foo"])
	assert.Equal(t, "1", c.keys["TargetPortalGroupTag"])
	assert.Equal(t, "262144", c.keys["MaxRecvDataSegmentLength"])

	// With digests on, a write with unsolicited Data-Out and a 40 KiB read
	// split to the initiator's 4 KiB MaxRecvDataSegmentLength.
	data := bytes.Repeat([]byte("0123456789abcdef"), 40*1024/16)
	w, witt := c.cmd(cdb10(opWrite10, 2, 80), len(data), false, true, attrSimple, data[:4096])
	w.BHS[1] &^= 0x80 // more unsolicited data follows
	c.send(w)
	for off, sn := 4096, uint32(0); off < len(data); sn++ {
		n := min(4096, len(data)-off)
		d := &PDU{Data: data[off : off+n]}
		d.BHS[0] = byte(OpDataOut)
		if off+n == len(data) {
			d.BHS[1] = 0x80
		}
		d.BHS.PutU32(16, witt)
		d.BHS.PutU32(20, ReservedTag)
		d.BHS.PutU32(36, sn)
		d.BHS.PutU32(40, uint32(off))
		c.send(d)
		off += n
	}
	r := c.mustRecv()
	require.Equal(t, OpSCSIResp, r.BHS.Opcode())
	assert.Equal(t, byte(StatusGood), r.BHS[3])
	p, itt := c.cmd(cdb10(opRead10, 2, 80), len(data), true, false, attrSimple, nil)
	got := c.do([]*PDU{p}, nil)[itt]
	require.NotNil(t, got)
	assert.Equal(t, byte(StatusGood), got.status)
	assert.True(t, bytes.Equal(data, got.data), "read back what was written")
}

func TestQueueDepthAndOrdering(t *testing.T) {
	tg, dev := memTarget(testIQN, 4096)
	srv := &Server{Targets: []*Target{tg}, QueueDepth: 64}
	addr := startServer(t, srv)
	c := dialClient(t, addr, 1)
	require.Zero(t, c.login(testInit, testIQN, KeyValue{"ImmediateData", "Yes"}, KeyValue{"MaxOutstandingR2T", "4"}))
	assert.GreaterOrEqual(t, int32(c.maxCmdSN-c.cmdSN), int32(63), "window holds 64 commands")

	// 64 writes sent in reverse CmdSN order: all are held until the first
	// arrives, then all complete.
	var pdus []*PDU
	writes := map[uint32][]byte{}
	for i := range 64 {
		data := bytes.Repeat([]byte{byte(i + 1)}, 8192)
		p, itt := c.cmd(cdb10(opWrite10, uint32(16*i), 16), len(data), false, true, attrSimple, data[:512])
		writes[itt] = data
		pdus = append(pdus, p)
	}
	for i, j := 0, len(pdus)-1; i < j; i, j = i+1, j-1 {
		pdus[i], pdus[j] = pdus[j], pdus[i]
	}
	res := c.do(pdus, writes)
	require.Len(t, res, 64)
	for _, r := range res {
		assert.Equal(t, byte(StatusGood), r.status)
	}
	for i := range 64 {
		assert.Equal(t, byte(i+1), dev.b[16*512*i+8191], "block range %d", i)
	}

	// ORDERED writes to one block, sent in reverse: the last CmdSN wins.
	pdus = pdus[:0]
	for i := range 16 {
		p, _ := c.cmd(cdb10(opWrite10, 0, 1), 512, false, true, attrOrdered, bytes.Repeat([]byte{byte(0xA0 + i)}, 512))
		pdus = append(pdus, p)
	}
	for i, j := 0, len(pdus)-1; i < j; i, j = i+1, j-1 {
		pdus[i], pdus[j] = pdus[j], pdus[i]
	}
	c.do(pdus, nil)
	assert.Equal(t, byte(0xA0+15), dev.b[0])
}

func TestCmdSNWindowDropsOutOfRange(t *testing.T) {
	tg, _ := memTarget(testIQN, 64)
	addr := startServer(t, &Server{Targets: []*Target{tg}, QueueDepth: 8})
	c := dialClient(t, addr, 1)
	require.Zero(t, c.login(testInit, testIQN))
	// Too high: silently dropped.
	p, _ := c.cmd(cdb10(opTestUnitReady, 0, 0)[:6], 0, false, false, attrSimple, nil)
	p.BHS.PutU32(24, c.cmdSN+100)
	c.send(p)
	// Too low (already used): dropped too.
	p2, _ := c.cmd([]byte{0, 0, 0, 0, 0, 0}, 0, false, false, attrSimple, nil)
	p2.BHS.PutU32(24, c.cmdSN-10)
	c.send(p2)
	c.cmdSN -= 2
	// A NOP still answers, proving nothing blocked, and then the right CmdSN works.
	r := c.nop([]byte("nopping\x00"))
	assert.Equal(t, []byte("nopping\x00"), r.Data)
	p3, itt := c.cmd([]byte{0, 0, 0, 0, 0, 0}, 0, false, false, attrSimple, nil)
	res := c.do([]*PDU{p3}, nil)
	require.Contains(t, res, itt)
	assert.Equal(t, byte(StatusGood), res[itt].status)
}

func TestDiscoverySendTargets(t *testing.T) {
	a, _ := memTarget(testIQN+"-a", 8)
	b, _ := memTarget(testIQN+"-b", 8)
	b.Initiators = []string{"iqn.2026-01.org.netboot:other"}
	addr := startServer(t, &Server{Targets: []*Target{a, b},
		Discover: func(ctx context.Context, initiator string) []string { return []string{testIQN + "-dyn"} }})
	c := dialClient(t, addr, 1)
	require.Zero(t, c.login(testInit, ""))
	got := c.text(KeyValue{"SendTargets", "All"})
	assert.Equal(t, []string{testIQN + "-a", testIQN + "-dyn"}, got["TargetName"])
	assert.Equal(t, []string{addr + ",1", addr + ",1"}, got["TargetAddress"])
	got = c.text(KeyValue{"SendTargets", testIQN + "-a"})
	assert.Equal(t, []string{testIQN + "-a"}, got["TargetName"])
	got = c.text(KeyValue{"SendTargetsPlease", "All"})
	assert.Equal(t, []string{"NotUnderstood"}, got["SendTargetsPlease"])
	got = c.text(KeyValue{"SendTargets", "Alle"})
	assert.Equal(t, []string{"Reject"}, got["SendTargets"])
	assert.Equal(t, byte(0), c.logout())
	_, err := c.recv()
	assert.Error(t, err, "connection closes after logout")
}

func TestNOPAndTargetPing(t *testing.T) {
	tg, _ := memTarget(testIQN, 8)
	addr := startServer(t, &Server{Targets: []*Target{tg}, NOPInterval: 200 * time.Millisecond})
	c := dialClient(t, addr, 1)
	require.Zero(t, c.login(testInit, testIQN))
	r := c.nop(nil)
	assert.Empty(t, r.Data)
	// Stay idle: the target pings with a NOP-In carrying a TTT.
	p := c.mustRecv()
	require.Equal(t, OpNOPIn, p.BHS.Opcode())
	assert.Equal(t, ReservedTag, p.BHS.ITT())
	assert.NotEqual(t, ReservedTag, p.BHS.U32(20))
	// Answer it; the connection stays usable.
	ans := &PDU{}
	ans.BHS[0] = byte(OpNOPOut) | 0x40
	ans.BHS[1] = 0x80
	ans.BHS.PutU32(16, ReservedTag)
	ans.BHS.PutU32(20, p.BHS.U32(20))
	ans.BHS.PutU32(24, c.cmdSN)
	c.send(ans)
	assert.Equal(t, []byte("x"), c.nop([]byte("x")).Data)
}

func TestMalformedPDUs(t *testing.T) {
	tg, _ := memTarget(testIQN, 8)
	addr := startServer(t, &Server{Targets: []*Target{tg}, LoginTimeout: 2 * time.Second})
	t.Run("garbage before login", func(t *testing.T) {
		c := dialClient(t, addr, 1)
		c.nc.Write(bytes.Repeat([]byte{0xFF}, 48))
		_, err := c.recv()
		assert.Error(t, err)
	})
	t.Run("unknown opcode gets Reject", func(t *testing.T) {
		c := dialClient(t, addr, 2)
		require.Zero(t, c.login(testInit, testIQN))
		p := &PDU{}
		p.BHS[0] = 0x1D | 0x40
		p.BHS[1] = 0x80
		c.send(p)
		r := c.mustRecv()
		require.Equal(t, OpReject, r.BHS.Opcode())
		assert.Equal(t, RejectNotSupported, r.BHS[2])
		assert.Equal(t, p.BHS[:], r.Data[:48])
		assert.Equal(t, []byte("ok"), c.nop([]byte("ok")).Data)
	})
	t.Run("huge data segment closes", func(t *testing.T) {
		c := dialClient(t, addr, 3)
		require.Zero(t, c.login(testInit, testIQN))
		var h BHS
		h[0] = byte(OpNOPOut) | 0x40
		h.SetDataSegmentLength(1<<24 - 1)
		c.nc.Write(h[:])
		for {
			if _, err := c.recv(); err != nil {
				break
			}
		}
	})
	t.Run("SCSI command in discovery closes", func(t *testing.T) {
		c := dialClient(t, addr, 4)
		require.Zero(t, c.login(testInit, ""))
		p, _ := c.cmd([]byte{0, 0, 0, 0, 0, 0}, 0, false, false, attrSimple, nil)
		c.send(p)
		r := c.mustRecv()
		assert.Equal(t, OpReject, r.BHS.Opcode())
		_, err := c.recv()
		assert.Error(t, err)
	})
	t.Run("bad data digest", func(t *testing.T) {
		c := dialClient(t, addr, 5)
		require.Zero(t, c.login(testInit, testIQN, KeyValue{"DataDigest", "CRC32C"}))
		p := &PDU{Data: []byte("abcd")}
		p.BHS[0] = byte(OpNOPOut) | 0x40
		p.BHS[1] = 0x80
		p.BHS.PutU32(16, 9)
		p.BHS.PutU32(20, ReservedTag)
		wire := AppendPDU(nil, p, c.dg)
		wire[len(wire)-1] ^= 0xFF
		c.nc.Write(wire)
		r := c.mustRecv()
		assert.Equal(t, OpReject, r.BHS.Opcode())
		assert.Equal(t, RejectDataDigest, r.BHS[2])
	})
}

func TestTaskManagement(t *testing.T) {
	tg, _ := memTarget(testIQN, 64)
	addr := startServer(t, &Server{Targets: []*Target{tg}})
	c := dialClient(t, addr, 1)
	require.Zero(t, c.login(testInit, testIQN, KeyValue{"ImmediateData", "No"}))
	tmf := func(fn byte, ref, refSN uint32, lun uint64) byte {
		p := &PDU{}
		p.BHS[0] = byte(OpTaskMgmt) | 0x40
		p.BHS[1] = 0x80 | fn
		binary.BigEndian.PutUint64(p.BHS[8:], lun)
		p.BHS.PutU32(16, c.itt)
		c.itt++
		p.BHS.PutU32(20, ref)
		p.BHS.PutU32(24, c.cmdSN)
		p.BHS.PutU32(32, refSN)
		c.send(p)
		for {
			r := c.mustRecv()
			if r.BHS.Opcode() == OpTaskMgmtRsp {
				return r.BHS[2]
			}
			require.NotEqual(t, OpSCSIResp, r.BHS.Opcode(), "aborted task must not answer")
		}
	}
	// A write waiting for its R2T data is aborted: no SCSI response, TMF complete.
	w, itt := c.cmd(cdb10(opWrite10, 0, 8), 4096, false, true, attrSimple, nil)
	c.send(w)
	r2t := c.mustRecv()
	require.Equal(t, OpR2T, r2t.BHS.Opcode())
	assert.Equal(t, byte(tmfComplete), tmf(tmfAbortTask, itt, w.BHS.U32(24), 0))
	assert.Equal(t, byte(tmfNoTask), tmf(tmfAbortTask, 0x5555, c.cmdSN, 0))
	assert.Equal(t, byte(tmfNoLUN), tmf(tmfLUNReset, 0, 0, encodeLUN(9)))
	assert.Equal(t, byte(tmfComplete), tmf(tmfLUNReset, 0, 0, 0))
	assert.Equal(t, byte(tmfComplete), tmf(tmfAbortTaskSet, 0, 0, 0))
	assert.Equal(t, byte(tmfNotSupported), tmf(tmfClearACA, 0, 0, 0))
	// Command slots came back: a TUR works.
	p, itt := c.cmd([]byte{0, 0, 0, 0, 0, 0}, 0, false, false, attrSimple, nil)
	assert.Equal(t, byte(StatusGood), c.do([]*PDU{p}, nil)[itt].status)
}

func TestLUNResetUnitAttention(t *testing.T) {
	tg, _ := memTarget(testIQN, 64)
	addr := startServer(t, &Server{Targets: []*Target{tg}})
	a := dialClient(t, addr, 1)
	require.Zero(t, a.login(testInit, testIQN))
	b := dialClient(t, addr, 2)
	require.Zero(t, b.login(testInit, testIQN))
	p := &PDU{}
	p.BHS[0] = byte(OpTaskMgmt) | 0x40
	p.BHS[1] = 0x80 | tmfLUNReset
	p.BHS.PutU32(16, 99)
	p.BHS.PutU32(24, a.cmdSN)
	a.send(p)
	require.Equal(t, OpTaskMgmtRsp, a.mustRecv().BHS.Opcode())
	tur := func(c *testClient) *result {
		p, itt := c.cmd([]byte{0, 0, 0, 0, 0, 0}, 0, false, false, attrSimple, nil)
		return c.do([]*PDU{p}, nil)[itt]
	}
	r := tur(b)
	require.Equal(t, byte(StatusCheckCondition), r.status)
	assert.Equal(t, []byte{0x06}, r.sense[2:3])
	assert.Equal(t, []byte{0x29, 0x03}, r.sense[12:14])
	assert.Equal(t, byte(StatusGood), tur(b).status, "unit attention is reported once")
	assert.Equal(t, byte(StatusGood), tur(a).status, "the resetting nexus gets no unit attention")
}

func TestSessionReinstatement(t *testing.T) {
	tg, _ := memTarget(testIQN, 8)
	var logouts atomic.Int32
	addr := startServer(t, &Server{Targets: []*Target{tg}, OnLogout: func(LoginEvent) { logouts.Add(1) }})
	old := dialClient(t, addr, 7)
	require.Zero(t, old.login(testInit, testIQN))
	fresh := dialClient(t, addr, 7) // same ISID, TSIH 0
	require.Zero(t, fresh.login(testInit, testIQN))
	_, err := old.recv()
	assert.Error(t, err, "the old session's connection is closed")
	assert.Equal(t, []byte("hi"), fresh.nop([]byte("hi")).Data)
	assert.Eventually(t, func() bool { return logouts.Load() == 1 }, 10*time.Second, 10*time.Millisecond)
}

func TestLookupPerInitiator(t *testing.T) {
	disks := map[string]*Target{}
	var mu sync.Mutex
	srv := &Server{Lookup: func(ctx context.Context, initiator, target string) (*Target, error) {
		if target != testIQN {
			return nil, fmt.Errorf("no %s: %w", target, ErrTargetNotFound)
		}
		if initiator == "iqn.2026-01.org.netboot:banned" {
			return nil, ErrNotAuthorized
		}
		mu.Lock()
		defer mu.Unlock()
		if disks[initiator] == nil {
			disks[initiator], _ = memTarget(testIQN, 16)
		}
		return disks[initiator], nil
	}}
	addr := startServer(t, srv)
	write := func(initiator string, v byte) {
		c := dialClient(t, addr, v)
		require.Zero(t, c.login(initiator, testIQN))
		p, itt := c.cmd(cdb10(opWrite10, 0, 1), 512, false, true, attrSimple, bytes.Repeat([]byte{v}, 512))
		require.Equal(t, byte(StatusGood), c.do([]*PDU{p}, nil)[itt].status)
	}
	write("iqn.2026-01.org.netboot:m1", 1)
	write("iqn.2026-01.org.netboot:m2", 2)
	mu.Lock()
	assert.Equal(t, byte(1), disks["iqn.2026-01.org.netboot:m1"].LUNs[0].Device.(*memDevice).b[0])
	assert.Equal(t, byte(2), disks["iqn.2026-01.org.netboot:m2"].LUNs[0].Device.(*memDevice).b[0])
	mu.Unlock()
	c := dialClient(t, addr, 9)
	assert.Equal(t, uint16(loginForbidden), c.login("iqn.2026-01.org.netboot:banned", testIQN))
	c = dialClient(t, addr, 10)
	assert.Equal(t, uint16(loginNotFound), c.login(testInit, testIQN+"x"))
}

func TestShutdownAsksForLogout(t *testing.T) {
	tg, _ := memTarget(testIQN, 8)
	srv := &Server{Targets: []*Target{tg}}
	addr := startServer(t, srv)
	c := dialClient(t, addr, 1)
	require.Zero(t, c.login(testInit, testIQN))
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	r := c.mustRecv()
	require.Equal(t, OpAsync, r.BHS.Opcode())
	assert.Equal(t, byte(1), r.BHS[36], "async event: request logout")
	assert.Equal(t, byte(0), c.logout())
	require.NoError(t, <-done)
}

func TestDeviceErrorsMapToSense(t *testing.T) {
	tests := []struct {
		err  error
		want []byte // key, ASC, ASCQ
	}{
		{errNoSpace, []byte{0x07, 0x27, 0x07}},
		{errPerm, []byte{0x07, 0x27, 0x00}},
		{io.ErrShortWrite, []byte{0x03, 0x0C, 0x00}},
	}
	for _, tt := range tests {
		u, err := newLogicalUnit("iqn.x", 0, LUN{Device: failingDevice{tt.err}})
		require.NoError(t, err)
		ts := &targetState{units: []*logicalUnit{u}}
		c := &scsiCmd{cdb: cdb10(opWrite10, 0, 1), edtl: 512, out: make([]byte, 512), pool: &bufPool{}}
		ts.execute(c)
		require.Equal(t, byte(StatusCheckCondition), c.status)
		assert.Equal(t, tt.want, []byte{c.sense[2], c.sense[12], c.sense[13]}, "%v", tt.err)
	}
	u, _ := newLogicalUnit("iqn.x", 0, LUN{Device: failingDevice{errors.New("x")}})
	c := &scsiCmd{cdb: cdb10(opRead10, 0, 1), edtl: 512, pool: &bufPool{}}
	(&targetState{units: []*logicalUnit{u}}).execute(c)
	assert.Equal(t, []byte{0x03, 0x11, 0x00}, []byte{c.sense[2], c.sense[12], c.sense[13]})
}

func TestConnBufferBudget(t *testing.T) {
	c := &conn{}
	a, b, d := &task{}, &task{}, &task{}
	require.True(t, c.reserve(a, maxConnBufferBytes-1024))
	assert.False(t, c.reserve(b, 4096), "over budget: TASK SET FULL")
	require.True(t, c.reserve(d, 1024))
	c.bufBytes -= a.reserved // what finish does
	assert.True(t, c.reserve(b, 4096))
	c2 := &conn{}
	assert.True(t, c2.reserve(&task{}, 2*maxConnBufferBytes), "a single command always fits")
}
