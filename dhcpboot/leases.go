package dhcpboot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Lease is an address handed to a machine by Server.
type Lease struct {
	MAC    net.HardwareAddr
	IP     netip.Addr
	Expiry time.Time
}

// lease is the in-memory record. mac is the raw hardware address as a
// string (a map key); an empty mac marks a declined address.
type lease struct {
	mac    string
	ip     uint32
	expiry int64 // unix seconds
}

// leaseTable indexes leases by MAC and by IP, tracks outstanding offers,
// and journals every change to a file (see leaseFile).
type leaseTable struct {
	byMAC   map[string]*lease
	byIP    map[uint32]*lease
	offers  map[uint32]offer // ip → offer
	offerOf map[string]uint32
	file    *leaseFile
}

type offer struct {
	mac   string
	until int64
}

func newLeaseTable() *leaseTable {
	return &leaseTable{
		byMAC:   map[string]*lease{},
		byIP:    map[uint32]*lease{},
		offers:  map[uint32]offer{},
		offerOf: map[string]uint32{},
	}
}

// set records that ip belongs to mac until expiry (mac "" = declined).
func (t *leaseTable) set(mac string, ip uint32, expiry int64) *lease {
	if old, ok := t.byIP[ip]; ok && old.mac != mac && old.mac != "" {
		if t.byMAC[old.mac] == old {
			delete(t.byMAC, old.mac)
		}
	}
	if mac != "" {
		if old, ok := t.byMAC[mac]; ok && old.ip != ip {
			if t.byIP[old.ip] == old {
				delete(t.byIP, old.ip)
			}
		}
	}
	l := &lease{mac: mac, ip: ip, expiry: expiry}
	t.byIP[ip] = l
	if mac != "" {
		t.byMAC[mac] = l
	}
	if o, ok := t.offers[ip]; ok {
		delete(t.offerOf, o.mac)
		delete(t.offers, ip)
	}
	if mac != "" {
		if oip, ok := t.offerOf[mac]; ok {
			delete(t.offers, oip)
			delete(t.offerOf, mac)
		}
	}
	return l
}

// offer reserves ip for mac until the given time. Expired offers are
// pruned once the table grows large (clients that DISCOVER and never
// REQUEST must not grow memory without bound).
func (t *leaseTable) offer(mac string, ip uint32, until int64, now int64) {
	if oip, ok := t.offerOf[mac]; ok {
		delete(t.offers, oip)
	}
	if o, ok := t.offers[ip]; ok && o.mac != mac {
		delete(t.offerOf, o.mac)
	}
	t.offers[ip] = offer{mac: mac, until: until}
	t.offerOf[mac] = ip
	if len(t.offers) > 4096 && len(t.offers) > 2*len(t.byIP) {
		for oip, o := range t.offers {
			if o.until <= now {
				delete(t.offers, oip)
				delete(t.offerOf, o.mac)
			}
		}
	}
}

func (t *leaseTable) dropOffer(mac string) {
	if oip, ok := t.offerOf[mac]; ok {
		delete(t.offers, oip)
		delete(t.offerOf, mac)
	}
}

// usableBy reports whether ip may be given to mac at time now: no live
// lease or decline by anyone else, no live offer to anyone else.
func (t *leaseTable) usableBy(mac string, ip uint32, now int64) bool {
	if l, ok := t.byIP[ip]; ok && l.mac != mac && l.expiry > now {
		return false
	}
	if o, ok := t.offers[ip]; ok && o.mac != mac && o.until > now {
		return false
	}
	return true
}

// Journal records, one per line:
//
//	L <mac hex> <ip> <expiry unix>   lease (or renewal)
//	D <ip> <until unix>              address declined
//
// A release is an L record with the expiry set to the release time. The
// file is rewritten (compacted) atomically: temp file, fsync, rename, fsync
// of the directory. Appends are fsynced before the reply that depends on
// them is sent. A torn last line (crash mid-write) is ignored on load; its
// reply was never sent.
type leaseFile struct {
	path    string
	f       *os.File
	buf     bytes.Buffer
	records int
}

func ip4(u uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b)
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func appendRecord(b *bytes.Buffer, l *lease) {
	if l.mac == "" {
		fmt.Fprintf(b, "D %s %d\n", ip4(l.ip), l.expiry)
		return
	}
	fmt.Fprintf(b, "L %x %s %d\n", l.mac, ip4(l.ip), l.expiry)
}

// openLeaseFile loads path into t (creating the file if missing) and opens
// it for appending, after compacting it.
func openLeaseFile(path string, t *leaseTable) (*leaseFile, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("dhcpboot: read lease file: %w", err)
	}
	for len(data) > 0 {
		line, rest, ok := bytes.Cut(data, []byte("\n"))
		data = rest
		if !ok {
			break // torn tail
		}
		f := strings.Fields(string(line))
		switch {
		case len(f) == 4 && f[0] == "L":
			mac, err1 := hexDecode(f[1])
			ip, err2 := netip.ParseAddr(f[2])
			exp, err3 := strconv.ParseInt(f[3], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil || !ip.Is4() || len(mac) == 0 {
				continue
			}
			t.set(string(mac), u32(ip), exp)
		case len(f) == 3 && f[0] == "D":
			ip, err2 := netip.ParseAddr(f[1])
			until, err3 := strconv.ParseInt(f[2], 10, 64)
			if err2 != nil || err3 != nil || !ip.Is4() {
				continue
			}
			t.set("", u32(ip), until)
		}
	}
	lf := &leaseFile{path: path}
	if err := lf.compact(t); err != nil {
		return nil, err
	}
	return lf, nil
}

func hexDecode(s string) ([]byte, error) {
	if len(s)%2 != 0 || len(s) > 40 {
		return nil, errors.New("bad hex")
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		out[i] = byte(v)
	}
	return out, nil
}

// compact atomically replaces the file with one record per live entry.
func (lf *leaseFile) compact(t *leaseTable) error {
	var b bytes.Buffer
	for _, l := range t.byIP {
		appendRecord(&b, l)
	}
	dir := filepath.Dir(lf.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(lf.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("dhcpboot: lease file: %w", err)
	}
	_, err = tmp.Write(b.Bytes())
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), lf.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("dhcpboot: lease file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	if lf.f != nil {
		lf.f.Close()
	}
	f, err := os.OpenFile(lf.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("dhcpboot: lease file: %w", err)
	}
	lf.f = f
	lf.records = len(t.byIP)
	return nil
}

// add queues a record; commit writes and fsyncs the queued records.
func (lf *leaseFile) add(l *lease) {
	appendRecord(&lf.buf, l)
	lf.records++
}

func (lf *leaseFile) commit(t *leaseTable) error {
	if lf.buf.Len() == 0 {
		return nil
	}
	_, err := lf.f.Write(lf.buf.Bytes())
	lf.buf.Reset()
	if err == nil {
		err = lf.f.Sync()
	}
	if err != nil {
		return fmt.Errorf("dhcpboot: lease file: %w", err)
	}
	if lf.records > 2*len(t.byIP)+4096 {
		return lf.compact(t)
	}
	return nil
}

func (lf *leaseFile) close() error {
	if lf.f == nil {
		return nil
	}
	err := lf.f.Close()
	lf.f = nil
	return err
}
