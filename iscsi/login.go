package iscsi

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Login status classes and details (RFC 7143 section 11.13.5).
const (
	loginSuccess            = 0x0000
	loginInitiatorError     = 0x0200
	loginAuthFailed         = 0x0201
	loginForbidden          = 0x0202
	loginNotFound           = 0x0203
	loginUnsupportedVersion = 0x0205
	loginTooManyConns       = 0x0206
	loginMissingParam       = 0x0207
	loginSessionTypeUnsup   = 0x0209
	loginNoSession          = 0x020A
	loginInvalidDuringLogin = 0x020B
	loginTargetError        = 0x0300
	loginOutOfResources     = 0x0302
)

// LoginError is a failed login with the status it was answered with.
type LoginError struct {
	Status uint16 // class<<8 | detail
	Err    error
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("iscsi: login failed (status %#04x): %v", e.Status, e.Err)
}

func (e *LoginError) Unwrap() error { return e.Err }

func loginErr(status uint16, format string, args ...any) *LoginError {
	return &LoginError{Status: status, Err: fmt.Errorf(format, args...)}
}

// params are a session's negotiated operational parameters.
type params struct {
	headerDigest, dataDigest bool
	initiatorMRDSL           int // what we may send in one PDU
	targetMRDSL              int // what we accept in one PDU
	maxBurst, firstBurst     int
	initialR2T, immediate    bool
	maxOutstandingR2T        int
	dataPDUInOrder           bool
	dataSeqInOrder           bool
	time2Wait, time2Retain   int
	erl                      int
	maxConnections           int
}

func defaultParams() params {
	return params{
		initiatorMRDSL: 8192, targetMRDSL: 262144,
		maxBurst: 262144, firstBurst: 65536,
		initialR2T: true, immediate: true,
		maxOutstandingR2T: 1, dataPDUInOrder: true, dataSeqInOrder: true,
		time2Wait: 2, time2Retain: 20, maxConnections: 1,
	}
}

// ourMaxBurst etc. are the values the target offers in negotiation.
const (
	ourMaxBurst          = 1 << 20
	ourFirstBurst        = 1 << 18
	ourMaxOutstandingR2T = 8
)

// parseNumber decodes an iSCSI numerical value (decimal or 0x hex).
func parseNumber(v string) (uint64, error) {
	if len(v) > 2 && (v[:2] == "0x" || v[:2] == "0X") {
		return strconv.ParseUint(v[2:], 16, 64)
	}
	if v == "" || (len(v) > 1 && v[0] == '0') {
		return 0, fmt.Errorf("bad number %q", v)
	}
	return strconv.ParseUint(v, 10, 64)
}

// parseBinary decodes a 0x hex or 0b base64 value.
func parseBinary(v string) ([]byte, error) {
	if len(v) > 2 {
		switch v[:2] {
		case "0x", "0X":
			s := v[2:]
			if len(s)%2 == 1 {
				s = "0" + s
			}
			return hex.DecodeString(s)
		case "0b", "0B":
			return base64.StdEncoding.DecodeString(v[2:])
		}
	}
	return nil, fmt.Errorf("bad binary value %q", v)
}

// negotiator applies the operational key rules of RFC 7143 section 13.
type negotiator struct {
	p         params
	discovery bool
	replied   map[string]bool
}

// negotiate answers one operational key; ok=false means "not an operational key".
func (n *negotiator) negotiate(k, v string) (answer string, ok bool, err error) {
	boolKey := func(dst *bool, or bool) (string, bool, error) {
		if v != "Yes" && v != "No" {
			return "Reject", true, nil
		}
		mine := v == "Yes"
		if or { // result = OR(initiator, target); we offer No for InitialR2T
			*dst = mine
		} else { // AND; we offer Yes
			*dst = mine
		}
		if *dst {
			return "Yes", true, nil
		}
		return "No", true, nil
	}
	num := func(lo, hi uint64) (uint64, bool) {
		x, e := parseNumber(v)
		if e != nil || x < lo || x > hi {
			return 0, false
		}
		return x, true
	}
	minKey := func(dst *int, lo, hi uint64, ours int) (string, bool, error) {
		x, good := num(lo, hi)
		if !good {
			return "Reject", true, nil
		}
		*dst = min(int(x), ours)
		return strconv.Itoa(*dst), true, nil
	}
	p := &n.p
	switch k {
	case "HeaderDigest", "DataDigest":
		choice := ""
		for _, o := range strings.Split(v, ",") {
			if o == "None" || o == "CRC32C" {
				choice = o
				break
			}
		}
		if choice == "" {
			return "Reject", true, nil
		}
		if k == "HeaderDigest" {
			p.headerDigest = choice == "CRC32C"
		} else {
			p.dataDigest = choice == "CRC32C"
		}
		return choice, true, nil
	case "MaxRecvDataSegmentLength":
		x, good := num(512, 16777215)
		if !good {
			return "Reject", true, nil
		}
		p.initiatorMRDSL = int(x)
		return "", true, nil // declarative; ours is declared separately
	}
	if n.discovery {
		switch k {
		case "MaxConnections", "InitialR2T", "ImmediateData", "MaxBurstLength", "FirstBurstLength",
			"DefaultTime2Wait", "DefaultTime2Retain", "MaxOutstandingR2T", "DataPDUInOrder",
			"DataSequenceInOrder", "ErrorRecoveryLevel":
			return "Irrelevant", true, nil
		}
	}
	switch k {
	case "MaxConnections":
		return minKey(&p.maxConnections, 1, 65535, 1)
	case "InitialR2T":
		return boolKey(&p.initialR2T, true)
	case "ImmediateData":
		return boolKey(&p.immediate, false)
	case "MaxBurstLength":
		a, ok, err := minKey(&p.maxBurst, 512, 16777215, ourMaxBurst)
		p.firstBurst = min(p.firstBurst, p.maxBurst)
		return a, ok, err
	case "FirstBurstLength":
		return minKey(&p.firstBurst, 512, 16777215, ourFirstBurst)
	case "DefaultTime2Wait":
		x, good := num(0, 3600)
		if !good {
			return "Reject", true, nil
		}
		p.time2Wait = max(int(x), 0)
		return strconv.Itoa(p.time2Wait), true, nil
	case "DefaultTime2Retain":
		return minKey(&p.time2Retain, 0, 3600, 0)
	case "MaxOutstandingR2T":
		return minKey(&p.maxOutstandingR2T, 1, 65535, ourMaxOutstandingR2T)
	case "DataPDUInOrder":
		// OR with our Yes: the result is always Yes.
		if v != "Yes" && v != "No" {
			return "Reject", true, nil
		}
		p.dataPDUInOrder = true
		return "Yes", true, nil
	case "DataSequenceInOrder":
		if v != "Yes" && v != "No" {
			return "Reject", true, nil
		}
		p.dataSeqInOrder = true
		return "Yes", true, nil
	case "ErrorRecoveryLevel":
		return minKey(&p.erl, 0, 2, 0)
	case "IFMarker", "OFMarker":
		return "No", true, nil
	case "IFMarkInt", "OFMarkInt":
		return "Reject", true, nil
	}
	return "", false, nil
}

// loginState is one connection's login conversation.
type loginState struct {
	c          *conn
	first      BHS
	isid       [6]byte
	tsih       uint16
	cid        uint16
	initiator  string
	targetName string
	discovery  bool
	target     *Target
	stage      int // current stage (CSG) expected
	authDone   bool
	chapStage  int // 0 none, 1 method chosen, 2 challenge sent
	chapID     byte
	chapC      []byte
	neg        negotiator
	sentTPGT   bool
	sentMRDSL  bool
	text       []byte // continued text (C bit)
	expCmdSN   uint32
	statSN     uint32
	pending    []KeyValue
}

// login runs the login phase; on success the connection enters full feature phase.
func (c *conn) login(ctx context.Context) error {
	ls := &loginState{c: c, neg: negotiator{p: defaultParams()}}
	first := true
	for {
		var h BHS
		if _, err := readHeader(c.br, &h, nil, Digests{}, &c.rxTail); err != nil {
			return fmt.Errorf("iscsi: login: %w", err)
		}
		if h.Opcode() != OpLoginReq {
			return fmt.Errorf("%w: opcode %#02x during login", ErrMalformedPDU, h.Opcode())
		}
		n := h.DataSegmentLength()
		if n > 65536 || len(ls.text)+n > 65536 {
			return ls.fail(h, loginErr(loginInitiatorError, "login text too long"))
		}
		data := make([]byte, n)
		if err := readData(c.br, data, Digests{}, &c.rxTail); err != nil {
			return fmt.Errorf("iscsi: login: %w", err)
		}
		if first {
			ls.first = h
			copy(ls.isid[:], h[8:14])
			ls.tsih = binary.BigEndian.Uint16(h[14:])
			ls.cid = binary.BigEndian.Uint16(h[20:])
			ls.expCmdSN = h.U32(24)
			ls.statSN = h.U32(28)
			if h[3] > 0 { // VersionMin
				return ls.fail(h, loginErr(loginUnsupportedVersion, "version %d unsupported", h[3]))
			}
			first = false
		}
		done, err := ls.step(ctx, h, data)
		if err != nil {
			return ls.fail(h, err)
		}
		if done {
			return nil
		}
	}
}

// fail sends a Login Response with a failure status and returns the error.
func (ls *loginState) fail(req BHS, err error) error {
	var le *LoginError
	if !errors.As(err, &le) {
		le = &LoginError{Status: loginTargetError, Err: err}
	}
	var h BHS
	h[0] = byte(OpLoginResp)
	h[1] = req[1] & 0x0F // CSG/NSG echoed, T=0
	h[1] &^= 0x03
	copy(h[8:14], req[8:14])
	h.PutU32(16, req.ITT())
	h.PutU32(24, ls.statSN)
	h.PutU32(28, ls.expCmdSN)
	h.PutU32(32, ls.expCmdSN)
	h[36], h[37] = byte(le.Status>>8), byte(le.Status)
	ls.c.writeRaw(&h, nil)
	ls.c.srv.log().Info("iscsi login failed", "remote", ls.c.nc.RemoteAddr().String(),
		"initiator", ls.initiator, "target", ls.targetName, "status", fmt.Sprintf("%#04x", le.Status), "err", le.Err)
	if ls.c.srv.OnLogin != nil {
		ls.c.srv.OnLogin(LoginEvent{InitiatorName: ls.initiator, TargetName: ls.targetName, ISID: ls.isid,
			RemoteAddr: ls.c.nc.RemoteAddr(), Discovery: ls.discovery, Err: le})
	}
	return le
}

// step handles one Login Request; done reports a successful transition to full feature phase.
func (ls *loginState) step(ctx context.Context, h BHS, data []byte) (bool, error) {
	transit := h[1]&0x80 != 0
	cont := h[1]&0x40 != 0
	csg := int(h[1]>>2) & 3
	nsg := int(h[1]) & 3
	if transit && cont {
		return false, loginErr(loginInitiatorError, "T and C both set")
	}
	if csg == 2 || (transit && (nsg == 2 || nsg <= csg)) {
		return false, loginErr(loginInitiatorError, "bad stage transition %d→%d", csg, nsg)
	}
	if csg != ls.stage && !(ls.stage == 0 && csg == 1) {
		return false, loginErr(loginInitiatorError, "stage %d, expected %d", csg, ls.stage)
	}
	if !bytesEqual(h[8:14], ls.isid[:]) {
		return false, loginErr(loginInitiatorError, "ISID changed during login")
	}
	ls.expCmdSN = h.U32(24)
	ls.text = append(ls.text, data...)
	if cont {
		return false, ls.respond(h, 0, false, nil) // acknowledge the partial text
	}
	kvs, err := ParseText(ls.text)
	ls.text = ls.text[:0]
	if err != nil {
		return false, loginErr(loginInitiatorError, "%v", err)
	}
	if ls.initiator == "" {
		if err := ls.declare(ctx, kvs); err != nil {
			return false, err
		}
	}
	if csg == 1 && ls.stage == 0 {
		// Skipping security: only allowed when no authentication is required.
		if ls.authRequired() {
			return false, loginErr(loginAuthFailed, "authentication required")
		}
		ls.authDone = true
		ls.stage = 1
	}
	var resp []KeyValue
	switch csg {
	case 0:
		r, err := ls.security(kvs)
		if err != nil {
			return false, err
		}
		resp = r
	case 1:
		r, err := ls.operational(kvs)
		if err != nil {
			return false, err
		}
		resp = r
	}
	if !ls.sentTPGT && !ls.discovery {
		resp = append(resp, KeyValue{"TargetPortalGroupTag", "1"})
		ls.sentTPGT = true
	}
	// Decide whether to transit.
	tr := transit
	if csg == 0 && !ls.authDone {
		tr = false
	}
	if tr && nsg == 3 && !ls.sentMRDSL {
		// Going to full feature phase: our MaxRecvDataSegmentLength must be declared.
		resp = append(resp, KeyValue{"MaxRecvDataSegmentLength", strconv.Itoa(ls.neg.p.targetMRDSL)})
		ls.sentMRDSL = true
	}
	if tr && nsg == 3 && ls.target == nil && !ls.discovery {
		return false, loginErr(loginMissingParam, "no TargetName")
	}
	final := tr && nsg == 3
	var tsih uint16
	if final {
		tsih = ls.tsih
		if tsih == 0 {
			tsih = ls.c.srv.allocTSIH()
		}
		ls.tsih = tsih
		if err := ls.c.startSession(ls); err != nil {
			return false, err
		}
	}
	if err := ls.respond(h, tsih, tr, resp); err != nil {
		return false, err
	}
	if tr {
		ls.stage = nsg
	}
	return final, nil
}

func bytesEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

func (ls *loginState) authRequired() bool {
	return ls.target != nil && ls.target.CHAP != nil
}

// declare handles the declarative keys of the first request.
func (ls *loginState) declare(ctx context.Context, kvs []KeyValue) error {
	st := "Normal"
	for _, kv := range kvs {
		switch kv.Key {
		case "InitiatorName":
			ls.initiator = kv.Value
		case "TargetName":
			ls.targetName = kv.Value
		case "SessionType":
			st = kv.Value
		}
	}
	if ls.initiator == "" {
		return loginErr(loginMissingParam, "no InitiatorName")
	}
	switch st {
	case "Discovery":
		ls.discovery = true
		ls.neg.discovery = true
		if ls.tsih != 0 {
			return loginErr(loginNoSession, "discovery session with TSIH %d", ls.tsih)
		}
		return nil
	case "Normal":
	default:
		return loginErr(loginSessionTypeUnsup, "SessionType %q", st)
	}
	if ls.targetName == "" {
		return loginErr(loginMissingParam, "no TargetName")
	}
	t, err := ls.c.srv.findTarget(ctx, ls.initiator, ls.targetName)
	switch {
	case errors.Is(err, ErrNotAuthorized):
		return &LoginError{Status: loginForbidden, Err: err}
	case errors.Is(err, ErrTargetNotFound):
		return &LoginError{Status: loginNotFound, Err: err}
	case err != nil:
		return &LoginError{Status: loginTargetError, Err: err}
	}
	ls.target = t
	if ls.tsih != 0 {
		old := ls.c.srv.lookupSession(sessionKey(ls.initiator, ls.isid, ls.targetName))
		if old == nil || old.tsih != ls.tsih {
			return loginErr(loginNoSession, "no session with TSIH %d", ls.tsih)
		}
	}
	return nil
}

func sessionKey(initiator string, isid [6]byte, target string) string {
	return fmt.Sprintf("%s,i,0x%x,%s", initiator, isid[:], target)
}

// security handles the security stage: AuthMethod and CHAP.
func (ls *loginState) security(kvs []KeyValue) ([]KeyValue, error) {
	var resp []KeyValue
	get := func(k string) (string, bool) {
		for _, kv := range kvs {
			if kv.Key == k {
				return kv.Value, true
			}
		}
		return "", false
	}
	for _, kv := range kvs {
		switch kv.Key {
		case "InitiatorName", "TargetName", "SessionType", "InitiatorAlias", "AuthMethod",
			"CHAP_A", "CHAP_N", "CHAP_R", "CHAP_I", "CHAP_C":
			continue
		}
		if a, ok, _ := ls.neg.negotiate(kv.Key, kv.Value); ok {
			if a != "" {
				resp = append(resp, KeyValue{kv.Key, a})
			}
			continue
		}
		resp = append(resp, KeyValue{kv.Key, "NotUnderstood"})
	}
	if am, ok := get("AuthMethod"); ok {
		want := "None"
		if ls.authRequired() {
			want = "CHAP"
		}
		chosen := ""
		for _, m := range strings.Split(am, ",") {
			if m == want {
				chosen = m
				break
			}
		}
		if chosen == "" {
			if ls.authRequired() {
				return nil, loginErr(loginAuthFailed, "initiator offers AuthMethod=%s, CHAP required", am)
			}
			return nil, loginErr(loginAuthFailed, "initiator offers AuthMethod=%s, only None available", am)
		}
		resp = append(resp, KeyValue{"AuthMethod", chosen})
		if chosen == "None" {
			ls.authDone = true
		} else {
			ls.chapStage = 1
		}
		return resp, nil
	}
	switch ls.chapStage {
	case 0:
		if ls.authRequired() {
			return nil, loginErr(loginAuthFailed, "no AuthMethod offered")
		}
		ls.authDone = true
		return resp, nil
	case 1:
		algs, ok := get("CHAP_A")
		if !ok {
			return nil, loginErr(loginAuthFailed, "expected CHAP_A")
		}
		md5ok := false
		for _, a := range strings.Split(algs, ",") {
			if a == "5" {
				md5ok = true
			}
		}
		if !md5ok {
			return nil, loginErr(loginAuthFailed, "CHAP_A=%s: only MD5 (5) is supported", algs)
		}
		var id [1]byte
		ls.chapC = make([]byte, 16)
		rand.Read(id[:])
		rand.Read(ls.chapC)
		ls.chapID = id[0]
		ls.chapStage = 2
		return append(resp, KeyValue{"CHAP_A", "5"}, KeyValue{"CHAP_I", strconv.Itoa(int(id[0]))},
			KeyValue{"CHAP_C", "0x" + hex.EncodeToString(ls.chapC)}), nil
	case 2:
		chap := ls.target.CHAP
		name, _ := get("CHAP_N")
		rv, ok := get("CHAP_R")
		if !ok {
			return nil, loginErr(loginAuthFailed, "expected CHAP_N and CHAP_R")
		}
		r, err := parseBinary(rv)
		if err != nil {
			return nil, loginErr(loginAuthFailed, "CHAP_R: %v", err)
		}
		want := chapResponse(ls.chapID, chap.Secret, ls.chapC)
		nameOK := subtle.ConstantTimeCompare([]byte(name), []byte(chap.User)) == 1
		if !nameOK || subtle.ConstantTimeCompare(r, want) != 1 {
			return nil, &LoginError{Status: loginAuthFailed, Err: fmt.Errorf("%w: CHAP response of %q", ErrAuthFailed, name)}
		}
		iv, hasI := get("CHAP_I")
		cv, hasC := get("CHAP_C")
		if hasI != hasC {
			return nil, loginErr(loginAuthFailed, "mutual CHAP needs both CHAP_I and CHAP_C")
		}
		if hasI {
			if chap.MutualSecret == "" {
				return nil, loginErr(loginAuthFailed, "mutual CHAP requested but not configured")
			}
			id, err := parseNumber(iv)
			if iv == "0" {
				id, err = 0, nil
			}
			if err != nil || id > 255 {
				return nil, loginErr(loginAuthFailed, "bad CHAP_I %q", iv)
			}
			ch, err := parseBinary(cv)
			if err != nil || len(ch) == 0 || len(ch) > 1024 {
				return nil, loginErr(loginAuthFailed, "bad CHAP_C")
			}
			if bytesEqual(ch, ls.chapC) {
				return nil, loginErr(loginAuthFailed, "mutual challenge repeats the target's")
			}
			resp = append(resp, KeyValue{"CHAP_N", chap.MutualUser},
				KeyValue{"CHAP_R", "0x" + hex.EncodeToString(chapResponse(byte(id), chap.MutualSecret, ch))})
		}
		ls.authDone = true
		ls.chapStage = 3
		return resp, nil
	}
	return resp, nil
}

// chapResponse computes MD5(id ‖ secret ‖ challenge).
func chapResponse(id byte, secret string, challenge []byte) []byte {
	h := md5.New()
	h.Write([]byte{id})
	h.Write([]byte(secret))
	h.Write(challenge)
	return h.Sum(nil)
}

// operational negotiates the operational keys.
func (ls *loginState) operational(kvs []KeyValue) ([]KeyValue, error) {
	var resp []KeyValue
	for _, kv := range kvs {
		switch kv.Key {
		case "InitiatorName", "TargetName", "SessionType", "InitiatorAlias", "TargetAlias":
			continue
		case "AuthMethod", "CHAP_A", "CHAP_N", "CHAP_R", "CHAP_I", "CHAP_C":
			return nil, loginErr(loginInitiatorError, "%s in operational stage", kv.Key)
		}
		a, ok, err := ls.neg.negotiate(kv.Key, kv.Value)
		if err != nil {
			return nil, err
		}
		if !ok {
			a = "NotUnderstood"
		}
		if a != "" {
			resp = append(resp, KeyValue{kv.Key, a})
		}
	}
	if ls.target != nil && ls.target.Alias != "" && !ls.sentMRDSL {
		resp = append(resp, KeyValue{"TargetAlias", ls.target.Alias})
	}
	return resp, nil
}

// respond sends a successful Login Response.
func (ls *loginState) respond(req BHS, tsih uint16, transit bool, kvs []KeyValue) error {
	var h BHS
	h[0] = byte(OpLoginResp)
	h[1] = req[1] & 0x0F
	if transit {
		h[1] |= 0x80
	} else {
		h[1] &^= 0x03
	}
	copy(h[8:14], req[8:14])
	binary.BigEndian.PutUint16(h[14:], tsih)
	h.PutU32(16, req.ITT())
	h.PutU32(24, ls.statSN)
	ls.statSN++
	h.PutU32(28, ls.expCmdSN)
	h.PutU32(32, ls.expCmdSN+uint32(ls.c.srv.queueDepth())-1)
	return ls.c.writeRaw(&h, AppendText(nil, kvs...))
}
