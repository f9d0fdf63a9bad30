package ibft

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Validate reports, as one joined error of [*Error] values wrapping
// [ErrInvalid], everything that makes the table unusable or surprising for
// a booting OS, beyond what [Table.MarshalBinary] itself refuses: no
// initiator or initiator name, no NIC or target marked [FlagBootSelected]
// (open-iscsi ignores them), a target without a name, address or port, a
// target whose NIC index names no NIC, a CHAP type without the names it
// needs, a prefix longer than the NIC's address, strings holding NUL bytes (C consumers stop there), and iSCSI
// names longer than 223 bytes. It returns nil for a good table.
func (t *Table) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, errValue(field, format, args...))
	}
	if err := t.checkEncodable(); err != nil {
		errs = append(errs, err)
	}
	if t.Initiator == nil {
		add("initiator", "missing; open-iscsi requires /sys/firmware/ibft/initiator")
	} else {
		checkName(add, "initiator name", t.Initiator.Name)
	}
	if len(t.NICs) == 0 {
		add("NICs", "none; the OS cannot tell which interface to bring up")
	}
	if len(t.Targets) == 0 {
		add("targets", "none; there is nothing to log in to")
	}
	boot := false
	for i := range t.NICs {
		n := &t.NICs[i]
		boot = boot || n.Flags&FlagBootSelected != 0
		if n.IP.IsValid() && int(n.PrefixLen) > n.IP.BitLen() {
			add(fmt.Sprintf("NIC %d prefix length", i), "/%d is longer than the %d-bit address %v", n.PrefixLen, n.IP.BitLen(), n.IP)
		}
		if n.MAC == nil {
			add(fmt.Sprintf("NIC %d MAC", i), "missing; open-iscsi finds the interface by MAC")
		}
		if strings.IndexByte(n.Hostname, 0) >= 0 {
			add(fmt.Sprintf("NIC %d hostname", i), "contains a NUL byte")
		}
	}
	if len(t.NICs) > 0 && !boot {
		add("NICs", "none has FlagBootSelected; open-iscsi ignores them")
	}
	boot = false
	for i := range t.Targets {
		tg := &t.Targets[i]
		field := fmt.Sprintf("target %d ", i)
		boot = boot || tg.Flags&FlagBootSelected != 0
		checkName(add, field+"name", tg.Name)
		if !tg.IP.IsValid() {
			add(field+"IP address", "missing")
		}
		if tg.Port == 0 {
			add(field+"port", "0; iSCSI listens on %d", DefaultPort)
		}
		if !t.hasNIC(tg.NIC) {
			add(field+"NIC", "index %d names no NIC of this table", tg.NIC)
		}
		switch tg.CHAPType {
		case CHAPNone:
		case CHAPMutual:
			if tg.ReverseCHAPName == "" || tg.ReverseCHAPSecret == "" {
				add(field+"reverse CHAP", "mutual CHAP without a reverse CHAP name and secret")
			}
			fallthrough
		case CHAPOneWay:
			if tg.CHAPName == "" || tg.CHAPSecret == "" {
				add(field+"CHAP", "%v CHAP without a CHAP name and secret", tg.CHAPType)
			}
		default:
			add(field+"CHAP type", "%d is not 0 (none), 1 (one-way) or 2 (mutual)", tg.CHAPType)
		}
		for _, s := range [...]string{tg.CHAPName, tg.CHAPSecret, tg.ReverseCHAPName, tg.ReverseCHAPSecret} {
			if strings.IndexByte(s, 0) >= 0 {
				add(field+"CHAP", "a CHAP name or secret contains a NUL byte")
			}
		}
	}
	if len(t.Targets) > 0 && !boot {
		add("targets", "none has FlagBootSelected; open-iscsi ignores them")
	}
	return errors.Join(errs...)
}

func checkName(add func(field, format string, args ...any), field, name string) {
	switch {
	case name == "":
		add(field, "empty")
	case len(name) > 223:
		add(field, "%d bytes; iSCSI names are at most 223", len(name))
	case strings.IndexByte(name, 0) >= 0:
		add(field, "contains a NUL byte")
	}
}

func (t *Table) hasNIC(index uint8) bool {
	for i := range t.NICs {
		if t.NICs[i].Index == index {
			return true
		}
	}
	return false
}

// NIC returns the NIC with the given index, or nil.
func (t *Table) NIC(index uint8) *NIC {
	for i := range t.NICs {
		if t.NICs[i].Index == index {
			return &t.NICs[i]
		}
	}
	return nil
}

// BootTarget returns the target to boot from and the NIC to reach it, the
// way open-iscsi's iscsistart chooses them: the first target with
// [FlagBootSelected], and the NIC its NIC field names if present, else the
// first NIC with FlagBootSelected. It returns false when no target is
// boot-selected; nic may be nil.
func (t *Table) BootTarget() (target *Target, nic *NIC, ok bool) {
	for i := range t.Targets {
		if t.Targets[i].Flags&FlagBootSelected != 0 {
			target = &t.Targets[i]
			break
		}
	}
	if target == nil {
		return nil, nil, false
	}
	nic = t.NIC(target.NIC)
	if nic == nil {
		for i := range t.NICs {
			if t.NICs[i].Flags&FlagBootSelected != 0 {
				nic = &t.NICs[i]
				break
			}
		}
	}
	return target, nic, true
}

// RootPath returns the target as an RFC 4173 root path,
// "iscsi:<server>:<protocol>:<port>:<LUN>:<targetname>", in the canonical
// form the rootpath package prints: IPv6 servers in brackets, the protocol
// left empty (TCP), the port only when it is not 3260, the LUN only when it
// is not 0 (hex groups, see [LUN.String]). A target without an address
// gets an empty server field (discovery by name).
func (t *Target) RootPath() string {
	var b strings.Builder
	b.WriteString("iscsi:")
	if t.IP.IsValid() {
		if t.IP.Is6() {
			b.WriteString("[" + t.IP.String() + "]")
		} else {
			b.WriteString(t.IP.String())
		}
	}
	b.WriteString("::")
	if t.Port != DefaultPort && t.Port != 0 {
		b.WriteString(strconv.Itoa(int(t.Port)))
	}
	b.WriteString(":")
	if t.LUN != (LUN{}) {
		b.WriteString(t.LUN.String())
	}
	b.WriteString(":")
	b.WriteString(t.Name)
	return b.String()
}
