package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrCorrupt reports a state file that exists but cannot be read back as a pool
// state: the server refuses to start rather than begin from an empty pool and
// overwrite the administrator's assignments at the next change.
var ErrCorrupt = errors.New("pool: state file is corrupt")

// ErrUnknownMachine reports an operation on a MAC the pool has never seen.
var ErrUnknownMachine = errors.New("pool: unknown machine")

// ErrFull reports that the pool already holds MaxMachines machines: a new MAC is
// not recorded (a flood of spoofed MACs on the boot network cannot grow the
// state file without bound).
var ErrFull = errors.New("pool: machine limit reached")

// DefaultMaxMachines is the machine limit of a Store whose MaxMachines is 0.
const DefaultMaxMachines = 4096

// stateVersion is the format version written in the state file.
const stateVersion = 1

// Machine is one machine of the pool as the store keeps it.
type Machine struct {
	MAC       string    `json:"mac"`             // lower-case, colon-separated
	Name      string    `json:"name,omitempty"`  // administrator's name for it
	Image     string    `json:"image,omitempty"` // assigned image; "" = waiting
	UUID      string    `json:"uuid,omitempty"`
	Arch      string    `json:"arch,omitempty"` // buildarch or DHCP architecture
	Platform  string    `json:"platform,omitempty"`
	Vendor    string    `json:"vendor,omitempty"` // SMBIOS manufacturer/product or DHCP vendor class
	IP        string    `json:"ip,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Stage     string    `json:"stage,omitempty"` // last boot stage reached, see Stage*
}

// Boot stages recorded in Machine.Stage, in the order a boot reaches them.
const (
	StageDHCP    = "dhcp"    // asked DHCP for a boot file
	StageWaiting = "waiting" // fetched its script: no image assigned, waiting screen
	StageScript  = "script"  // fetched the script of its assigned image
	StageKernel  = "kernel"  // fetched its image's kernel
	StageInitrd  = "initrd"  // fetched one of its image's initrds
)

// Sighting is what one boot request tells about a machine; empty fields leave the
// stored values alone.
type Sighting struct {
	MAC                          string
	UUID, Arch, Platform, Vendor string
	IP                           string
	Stage                        string
}

// state is the on-disk document.
type state struct {
	Version  int                 `json:"version"`
	Machines map[string]*Machine `json:"machines"`
}

// Store keeps the pool's machines in memory and in one JSON file, which every
// change rewrites atomically: a temporary file in the same directory, fsync,
// rename over the old one, fsync of the directory. A crash at any moment leaves
// either the old or the new file, never a mix; a change is acknowledged only
// after it is durable, and a failed write leaves memory as it was.
type Store struct {
	// MaxMachines bounds the machines the pool records; 0 means
	// DefaultMaxMachines. Set it before use.
	MaxMachines int

	path string
	now  func() time.Time

	mu sync.Mutex
	st state
}

// OpenStore reads the state file at path, or starts an empty pool when it does
// not exist. A file that exists but does not parse is an ErrCorrupt error.
// Leftover temporary files of an interrupted write are removed.
func OpenStore(path string) (*Store, error) {
	s := &Store{path: path, now: time.Now, st: state{Version: stateVersion, Machines: map[string]*Machine{}}}
	if olds, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")); len(olds) > 0 {
		for _, o := range olds {
			os.Remove(o)
		}
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pool: reading state: %w", err)
	}
	st, err := decodeState(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w (fix or move it away; the server will not overwrite it)", ErrCorrupt, path, err)
	}
	s.st = st
	return s, nil
}

// decodeState parses and validates a state file's bytes.
func decodeState(data []byte) (state, error) {
	var st state
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return st, err
	}
	if dec.More() {
		return st, errors.New("trailing data after the JSON document")
	}
	if st.Version != stateVersion {
		return st, fmt.Errorf("version %d, want %d", st.Version, stateVersion)
	}
	if st.Machines == nil {
		st.Machines = map[string]*Machine{}
	}
	for k, m := range st.Machines {
		if m == nil {
			return st, fmt.Errorf("machine %q: null", k)
		}
		mac, err := ParseMAC(k)
		if err != nil || mac != k || m.MAC != k {
			return st, fmt.Errorf("machine %q: key and mac must be the same canonical MAC", k)
		}
		if m.Name != "" {
			if err := ValidName(m.Name); err != nil {
				return st, fmt.Errorf("machine %s: %w", k, err)
			}
		}
		if m.Image != "" {
			if err := ValidImageName(m.Image); err != nil {
				return st, fmt.Errorf("machine %s: %w", k, err)
			}
		}
	}
	return st, nil
}

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

// Machines returns copies of all machines, sorted by name then MAC.
func (s *Store) Machines() []Machine {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Machine, 0, len(s.st.Machines))
	for _, m := range s.st.Machines {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Machine) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 && a.Name != "" && b.Name != "" {
			return c
		}
		if (a.Name == "") != (b.Name == "") { // named machines first
			if a.Name != "" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.MAC, b.MAC)
	})
	return out
}

// Machine returns a copy of the machine with that MAC.
func (s *Store) Machine(mac string) (Machine, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.st.Machines[mac]
	if !ok {
		return Machine{}, false
	}
	return *m, true
}

// Seen records a boot request: a new machine joins the pool, a known one gets its
// last-seen time, identity and stage updated. It never changes an assignment or a
// name. It returns the machine as stored.
func (s *Store) Seen(v Sighting) (Machine, error) {
	mac, err := ParseMAC(v.MAC)
	if err != nil {
		return Machine{}, err
	}
	var out Machine
	err = s.update(func(st *state) error {
		now := s.now().UTC().Truncate(time.Second)
		m, ok := st.Machines[mac]
		if !ok {
			limit := s.MaxMachines
			if limit <= 0 {
				limit = DefaultMaxMachines
			}
			if len(st.Machines) >= limit {
				return fmt.Errorf("%w (%d): %s not recorded", ErrFull, limit, mac)
			}
			m = &Machine{MAC: mac, FirstSeen: now}
			st.Machines[mac] = m
		}
		m.LastSeen = now
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&m.UUID, v.UUID)
		set(&m.Arch, v.Arch)
		set(&m.Platform, v.Platform)
		set(&m.Vendor, v.Vendor)
		set(&m.IP, v.IP)
		set(&m.Stage, v.Stage)
		out = *m
		return nil
	})
	return out, err
}

// Assign sets (image != "") or clears (image == "") the image of each machine
// in macs, all or none: an unknown MAC fails the whole change.
func (s *Store) Assign(macs []string, image string) error {
	if image != "" {
		if err := ValidImageName(image); err != nil {
			return err
		}
	}
	return s.update(func(st *state) error {
		for _, mac := range macs {
			m, ok := st.Machines[mac]
			if !ok {
				return fmt.Errorf("%w: %s", ErrUnknownMachine, mac)
			}
			m.Image = image
		}
		return nil
	})
}

// Rename sets a machine's name; "" removes it.
func (s *Store) Rename(mac, name string) error {
	if name != "" {
		if err := ValidName(name); err != nil {
			return err
		}
	}
	return s.update(func(st *state) error {
		m, ok := st.Machines[mac]
		if !ok {
			return fmt.Errorf("%w: %s", ErrUnknownMachine, mac)
		}
		m.Name = name
		return nil
	})
}

// update applies fn to a deep copy of the state, writes it durably and only then
// makes it the current state.
func (s *Store) update(fn func(*state) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := state{Version: stateVersion, Machines: make(map[string]*Machine, len(s.st.Machines)+1)}
	for k, m := range s.st.Machines {
		c := *m
		next.Machines[k] = &c
	}
	if err := fn(&next); err != nil {
		return err
	}
	data, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return fmt.Errorf("pool: encoding state: %w", err)
	}
	if err := writeFileAtomic(s.path, append(data, '\n')); err != nil {
		return err
	}
	s.st = next
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the old or
// the new content: temp file in the same directory, write, fsync, close, rename,
// fsync of the directory (which makes the rename itself durable).
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pool: writing state: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("pool: writing state: %w", err)
	}
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("pool: writing state: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("pool: syncing state: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("pool: writing state: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pool: replacing state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("pool: syncing state directory: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("pool: syncing state directory: %w", err)
	}
	return nil
}
