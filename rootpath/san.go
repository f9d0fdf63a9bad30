package rootpath

import (
	"encoding/hex"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// AoE is an ATA over Ethernet root path, "aoe:e<shelf>.<slot>" (iPXE
// net/aoe.c). The shelf is the 16-bit AoE major address, the slot the
// 8-bit minor address; 65535 and 255 are the AoE broadcast values.
type AoE struct {
	Shelf uint16
	Slot  uint8
}

func parseAoE(input, rest string) (*AoE, error) {
	if strings.HasPrefix(rest, "//") {
		return nil, newErr(input, FieldRootPath, input, reason(ErrSyntax, "aoe: is an opaque URI: write aoe:e<shelf>.<slot> without //"))
	}
	if !strings.HasPrefix(rest, "e") {
		return nil, newErr(input, FieldShelf, rest, reason(ErrSyntax, "want aoe:e<shelf>.<slot> (the literal 'e' is missing)"))
	}
	shelf, slot, ok := strings.Cut(rest[1:], ".")
	if !ok {
		return nil, newErr(input, FieldSlot, "", reason(ErrMissing, "want aoe:e<shelf>.<slot>"))
	}
	if !isDigits(shelf) {
		return nil, newErr(input, FieldShelf, shelf, reason(ErrSyntax, "the shelf is a decimal number"))
	}
	sh, err := strconv.ParseUint(shelf, 10, 16)
	if err != nil {
		return nil, newErr(input, FieldShelf, shelf, reason(ErrRange, "the shelf (AoE major) is 0–65535"))
	}
	if !isDigits(slot) {
		return nil, newErr(input, FieldSlot, slot, reason(ErrSyntax, "the slot is a decimal number with nothing after it"))
	}
	sl, err := strconv.ParseUint(slot, 10, 8)
	if err != nil {
		return nil, newErr(input, FieldSlot, slot, reason(ErrRange, "the slot (AoE minor) is 0–255"))
	}
	return &AoE{Shelf: uint16(sh), Slot: uint8(sl)}, nil
}

// String returns "aoe:e<shelf>.<slot>" in decimal without leading zeros.
func (v *AoE) String() string {
	return "aoe:e" + strconv.Itoa(int(v.Shelf)) + "." + strconv.Itoa(int(v.Slot))
}

// HTTP is an HTTP or HTTPS URL used as a block device: iPXE reads it with
// Range requests (the server must honour them) and presents it as a disk.
type HTTP struct {
	URL *url.URL
}

func parseHTTP(input string) (*HTTP, error) {
	u, err := url.Parse(input)
	if err != nil {
		return nil, newErr(input, FieldURL, input, reason(ErrSyntax, "%v", unwrapURLError(err)))
	}
	if u.Opaque != "" || !strings.HasPrefix(input[len(u.Scheme)+1:], "//") {
		return nil, newErr(input, FieldURL, input, reason(ErrSyntax, "want %s://host[:port]/path", u.Scheme))
	}
	if u.Host == "" {
		return nil, newErr(input, FieldServer, "", reason(ErrMissing, "the URL has no host"))
	}
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") || strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return nil, newErr(input, FieldServer, host, reason(ErrSyntax, "not an IPv6 address inside [ ]"))
		}
		if a.Zone() != "" {
			return nil, newErr(input, FieldServer, host, reason(ErrUnsupported, "IPv6 zones do not carry over to the booting host"))
		}
	} else if _, err := parseHostname(host); err != nil {
		return nil, newErr(input, FieldServer, host, err)
	}
	if strings.HasSuffix(u.Host, ":") {
		return nil, newErr(input, FieldPort, "", reason(ErrSyntax, "':' without a port number"))
	}
	if p := u.Port(); p != "" {
		if _, err := parsePort(p); err != nil {
			return nil, newErr(input, FieldPort, p, err)
		}
	}
	if u.Fragment != "" || u.RawFragment != "" || strings.Contains(input, "#") {
		return nil, newErr(input, FieldURL, input, reason(ErrSyntax, "a fragment (#…) is never sent to the server"))
	}
	return &HTTP{URL: u}, nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// String returns the URL as [url.URL.String] prints it.
func (v *HTTP) String() string {
	if v.URL == nil {
		return ""
	}
	return v.URL.String()
}

// WWN is a Fibre Channel world wide name (8 bytes), written
// "xx:xx:xx:xx:xx:xx:xx:xx".
type WWN [8]byte

// String returns the WWN as eight lowercase hex pairs joined by ":".
func (w WWN) String() string {
	var b strings.Builder
	for i, c := range w {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(hex.EncodeToString([]byte{c}))
	}
	return b.String()
}

// ParseWWN reads "xx:xx:xx:xx:xx:xx:xx:xx" (exactly 23 characters, hex
// in either case).
func ParseWWN(s string) (WWN, error) {
	w, err := parseWWN(s)
	if err != nil {
		return WWN{}, newErr(s, FieldWWN, s, err)
	}
	return w, nil
}

func parseWWN(s string) (WWN, error) {
	var w WWN
	if len(s) != 23 {
		return w, reason(ErrSyntax, "a WWN is 8 hex pairs joined by ':' (23 characters), got %d", len(s))
	}
	for i := range w {
		p := s[3*i : 3*i+2]
		if i < 7 && s[3*i+2] != ':' {
			return w, reason(ErrSyntax, "a WWN is 8 hex pairs joined by ':'")
		}
		hi, ok1 := hexDigit(p[0])
		lo, ok2 := hexDigit(p[1])
		if !ok1 || !ok2 {
			return w, reason(ErrSyntax, "%q is not a hex pair", p)
		}
		w[i] = hi<<4 | lo
	}
	return w, nil
}

// FCP is a Fibre Channel Protocol SAN path (iPXE net/fcp.c):
// "fcp:<wwn>:<LUN>" or "fcp://<wwn>/<LUN>", the WWN being the target port
// name. FCoE is the transport underneath, not a scheme.
type FCP struct {
	WWN WWN
	LUN LUN
}

func parseFCP(input, rest string) (*FCP, error) {
	var wwn, lun string
	if r, ok := strings.CutPrefix(rest, "//"); ok {
		var found bool
		wwn, lun, found = strings.Cut(r, "/")
		if !found {
			return nil, newErr(input, FieldLUN, "", reason(ErrMissing, "want fcp://<wwn>/<LUN>"))
		}
	} else {
		if len(rest) < 24 || rest[23] != ':' {
			return nil, newErr(input, FieldRootPath, input, reason(ErrSyntax, "want fcp:<wwn>:<LUN> with a 23-character WWN"))
		}
		wwn, lun = rest[:23], rest[24:]
	}
	w, err := parseWWN(wwn)
	if err != nil {
		return nil, newErr(input, FieldWWN, wwn, err)
	}
	l, err := parseLUN(lun)
	if err != nil {
		return nil, newErr(input, FieldLUN, lun, err)
	}
	return &FCP{WWN: w, LUN: l}, nil
}

// String returns "fcp:<wwn>:<LUN>" (the LUN as [LUN.String], "0" for LUN 0).
func (v *FCP) String() string { return "fcp:" + v.WWN.String() + ":" + v.LUN.String() }

// DefaultPKey is the InfiniBand default partition key, used when the pkey
// field of an ib_srp: path is empty.
const DefaultPKey = 0xffff

// IBSRP is an SCSI RDMA Protocol over InfiniBand SAN path (iPXE
// net/infiniband/ib_srp.c), nine ":"-separated fields:
//
//	ib_srp:<sgid>:<initiator_id_ext>:<initiator_hca_guid>:<dgid>:<pkey>:<service_id>:<LUN>:<target_id_ext>:<target_ioc_guid>
//
// Byte strings are hex without separators at their exact length (GIDs 32
// digits, the others 16). The first three may be empty: iPXE then uses the
// local HCA's GID, zero, and the GUID half of the source GID; here an empty
// field is the zero value and a zero value prints as an empty field. An
// empty pkey is 0xffff.
type IBSRP struct {
	SGID             [16]byte
	InitiatorIDExt   [8]byte
	InitiatorHCAGUID [8]byte
	DGID             [16]byte
	PKey             uint16
	ServiceID        [8]byte
	LUN              LUN
	TargetIDExt      [8]byte
	TargetIOCGUID    [8]byte
}

func parseIBSRP(input, rest string) (*IBSRP, error) {
	f := strings.SplitN(rest, ":", 9)
	if len(f) < 9 {
		return nil, newErr(input, FieldRootPath, input, reason(ErrMissing, "an ib_srp: path has 9 fields, got %d", len(f)))
	}
	v := &IBSRP{}
	byteFields := []struct {
		dst      []byte
		text     string
		field    Field
		optional bool
	}{
		{v.SGID[:], f[0], FieldSGID, true},
		{v.InitiatorIDExt[:], f[1], FieldInitiatorIDExt, true},
		{v.InitiatorHCAGUID[:], f[2], FieldInitiatorGUID, true},
		{v.DGID[:], f[3], FieldDGID, false},
		{v.ServiceID[:], f[5], FieldServiceID, false},
		{v.TargetIDExt[:], f[7], FieldTargetIDExt, false},
		{v.TargetIOCGUID[:], f[8], FieldTargetIOCGUID, false},
	}
	for _, b := range byteFields {
		if b.text == "" {
			if b.optional {
				continue
			}
			return nil, newErr(input, b.field, "", reason(ErrEmpty, "required"))
		}
		if len(b.text) != 2*len(b.dst) || !isHex(b.text) {
			return nil, newErr(input, b.field, b.text, reason(ErrSyntax, "want exactly %d hex digits", 2*len(b.dst)))
		}
		_, _ = hex.Decode(b.dst, []byte(b.text))
	}
	v.PKey = DefaultPKey
	if f[4] != "" {
		if len(f[4]) > 4 || !isHex(f[4]) {
			return nil, newErr(input, FieldPKey, f[4], reason(ErrSyntax, "want 1–4 hex digits"))
		}
		n, _ := strconv.ParseUint(f[4], 16, 16)
		v.PKey = uint16(n)
	}
	l, err := parseLUN(f[6])
	if err != nil {
		return nil, newErr(input, FieldLUN, f[6], err)
	}
	v.LUN = l
	return v, nil
}

// String returns the canonical ib_srp: form: lowercase hex, zero optional
// fields empty, the pkey always written, the LUN as [LUN.String].
func (v *IBSRP) String() string {
	opt := func(b []byte) string {
		for _, c := range b {
			if c != 0 {
				return hex.EncodeToString(b)
			}
		}
		return ""
	}
	return strings.Join([]string{
		"ib_srp:" + opt(v.SGID[:]),
		opt(v.InitiatorIDExt[:]),
		opt(v.InitiatorHCAGUID[:]),
		hex.EncodeToString(v.DGID[:]),
		strconv.FormatUint(uint64(v.PKey), 16),
		hex.EncodeToString(v.ServiceID[:]),
		v.LUN.String(),
		hex.EncodeToString(v.TargetIDExt[:]),
		hex.EncodeToString(v.TargetIOCGUID[:]),
	}, ":")
}
