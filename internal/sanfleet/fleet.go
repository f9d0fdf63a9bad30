package sanfleet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/iscsi"
)

// Sentinel errors of the package; test with errors.Is.
var (
	// ErrInUse reports a Reset of a disk a machine is logged in to.
	ErrInUse = errors.New("sanfleet: the machine is logged in to this disk")
	// ErrNoOverlay reports a Reset of a disk that has no overlay yet (the
	// machine never used it): there is nothing to reset.
	ErrNoOverlay = errors.New("sanfleet: no overlay (the machine has not used this disk yet)")
	// ErrBadName reports an image name or MAC that cannot be part of a target
	// name or an overlay file name.
	ErrBadName = errors.New("sanfleet: bad image name or MAC")
)

// Fleet is the iSCSI side of a fleet: one target per (image, MAC), each backed
// by that machine's overlay of the image's base. Set the fields, then hand
// Lookup and Discover to an iscsi.Server (Hook does that and counts sessions).
// A Fleet must not be copied after first use; its fields must not change then.
type Fleet struct {
	// TargetPrefix starts every target name, e.g.
	// "iqn.2026-11.org.netbootkit:sanboot:"; the image (if any) and MAC follow.
	TargetPrefix string
	// InitiatorPrefix starts the initiator name of each machine; its MAC follows.
	InitiatorPrefix string
	// Dir holds the overlays: Dir/IMAGE/MAC.cow, or Dir/MAC.cow for image "".
	Dir string
	// Base returns the shared base of an image; the caller owns it (the fleet
	// never closes it). An error refuses the login (wrap iscsi.ErrTargetNotFound
	// for "no such disk"; other errors are reported as not found too).
	Base func(image string) (*cow.Base, error)
	// Allow, when non-nil, is asked before a machine's first login to a disk;
	// an error refuses the login (wrap iscsi.ErrNotAuthorized).
	Allow func(image string, mac net.HardwareAddr) error
	// CHAP, when non-nil, is required of every initiator.
	CHAP *iscsi.CHAP
	// Options are passed to cow.Open and cow.Create (e.g. a MaxSize quota);
	// nil means cow's defaults. Its Logger defaults to Logger.
	Options *cow.Options
	// Logger receives overlay records; nil is silent.
	Logger *slog.Logger
	// OnOverlay, when non-nil, is called after an overlay is opened or created.
	OnOverlay func(image string, mac net.HardwareAddr, path string, created bool)

	mu       sync.Mutex
	disks    map[key]*disk
	sessions map[key]int // live sessions per disk
	closed   bool
}

// key names one machine's disk of one image.
type key struct {
	image string
	mac   string // MACName form
}

// MACName is the MAC as it appears in file and iSCSI names: lower-case hex
// bytes joined by hyphens, e.g. 52-54-00-12-34-56.
func MACName(mac net.HardwareAddr) string {
	return strings.ReplaceAll(strings.ToLower(mac.String()), ":", "-")
}

// validImage accepts "" and names made of a-z 0-9 . - (valid inside an iSCSI
// name and as a file name, and never "." or "..").
func validImage(image string) error {
	if image == "" {
		return nil
	}
	if len(image) > 64 || image == "." || image == ".." {
		return fmt.Errorf("%w: image %q", ErrBadName, image)
	}
	for _, c := range image {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("%w: image %q (want a-z 0-9 . -)", ErrBadName, image)
		}
	}
	return nil
}

// ValidImage reports whether image can name a fleet disk: "" or at most 64 of
// a-z 0-9 . - (not "." or ".."). The error wraps ErrBadName.
func ValidImage(image string) error { return validImage(image) }

func checkMAC(mac net.HardwareAddr) error {
	if len(mac) != 6 {
		return fmt.Errorf("%w: %q is not an Ethernet MAC", ErrBadName, mac.String())
	}
	return nil
}

// TargetName is the target of the machine's disk of image.
func (f *Fleet) TargetName(image string, mac net.HardwareAddr) string {
	if image == "" {
		return f.TargetPrefix + MACName(mac)
	}
	return f.TargetPrefix + image + ":" + MACName(mac)
}

// InitiatorName is the initiator name the machine must use (its script sets it).
func (f *Fleet) InitiatorName(mac net.HardwareAddr) string {
	return f.InitiatorPrefix + MACName(mac)
}

// OverlayPath is the overlay file of the machine's disk of image.
func (f *Fleet) OverlayPath(image string, mac net.HardwareAddr) string {
	if image == "" {
		return filepath.Join(f.Dir, MACName(mac)+".cow")
	}
	return filepath.Join(f.Dir, image, MACName(mac)+".cow")
}

// ParseTarget reads the image and MAC back from a target name, or fails with an
// error wrapping iscsi.ErrTargetNotFound. iSCSI names compare
// case-insensitively, so the name is lower-cased first.
func (f *Fleet) ParseTarget(name string) (image string, mac net.HardwareAddr, err error) {
	lower := strings.ToLower(name)
	rest, ok := strings.CutPrefix(lower, strings.ToLower(f.TargetPrefix))
	if !ok || len(rest) < 17 {
		return "", nil, fmt.Errorf("%w: %q is not %s[IMAGE:]MAC", iscsi.ErrTargetNotFound, name, f.TargetPrefix)
	}
	m := rest[len(rest)-17:]
	if head := rest[:len(rest)-17]; head != "" {
		img, ok := strings.CutSuffix(head, ":")
		if !ok || img == "" || validImage(img) != nil {
			return "", nil, fmt.Errorf("%w: %q: bad image part", iscsi.ErrTargetNotFound, name)
		}
		image = img
	}
	if strings.Count(m, "-") != 5 {
		return "", nil, fmt.Errorf("%w: %q does not end in a hyphenated MAC", iscsi.ErrTargetNotFound, name)
	}
	mac, err = net.ParseMAC(m)
	if err != nil || len(mac) != 6 {
		return "", nil, fmt.Errorf("%w: %q does not end in a MAC", iscsi.ErrTargetNotFound, name)
	}
	return image, mac, nil
}

// macOfInitiator reads the MAC out of an initiator name of this fleet.
func (f *Fleet) macOfInitiator(initiator string) (net.HardwareAddr, bool) {
	rest, ok := strings.CutPrefix(strings.ToLower(initiator), strings.ToLower(f.InitiatorPrefix))
	if !ok || len(rest) != 17 || strings.Count(rest, "-") != 5 {
		return nil, false
	}
	mac, err := net.ParseMAC(rest)
	return mac, err == nil && len(mac) == 6
}

func (f *Fleet) log() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}

// Lookup is the iscsi.Server's Lookup: the target named, for its machine's
// initiator only. The same *iscsi.Target is returned on every login to a disk
// (reservations and unit attentions live there).
func (f *Fleet) Lookup(_ context.Context, initiator, target string) (*iscsi.Target, error) {
	image, mac, err := f.ParseTarget(target)
	if err != nil {
		return nil, err
	}
	// The Target's ACL says the same; refusing here keeps refused machines
	// out of the map.
	if !strings.EqualFold(initiator, f.InitiatorName(mac)) {
		return nil, fmt.Errorf("%w: %q may not log in to %s", iscsi.ErrNotAuthorized, initiator, f.TargetName(image, mac))
	}
	d, err := f.disk(image, mac)
	if err != nil {
		return nil, err
	}
	return d.target, nil
}

// disk returns (making it at first use) the machine's disk of image.
func (f *Fleet) disk(image string, mac net.HardwareAddr) (*disk, error) {
	k := key{image, MACName(mac)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fmt.Errorf("%w: the fleet is closed", iscsi.ErrTargetNotFound)
	}
	if d, ok := f.disks[k]; ok {
		return d, nil
	}
	if f.Base == nil {
		return nil, fmt.Errorf("%w: fleet has no Base", iscsi.ErrTargetNotFound)
	}
	base, err := f.Base(image)
	if err != nil {
		if !errors.Is(err, iscsi.ErrTargetNotFound) {
			err = fmt.Errorf("%w: image %q: %w", iscsi.ErrTargetNotFound, image, err)
		}
		return nil, err
	}
	if f.Allow != nil {
		if err := f.Allow(image, mac); err != nil {
			return nil, err
		}
	}
	d := &disk{f: f, image: image, mac: mac, base: base}
	alias := "netboot " + mac.String()
	if image != "" {
		alias += " " + image
	}
	d.target = &iscsi.Target{
		Name:       f.TargetName(image, mac),
		Alias:      alias,
		LUNs:       []iscsi.LUN{{Device: d, Serial: strings.ReplaceAll(MACName(mac), "-", "")}},
		Initiators: []string{f.InitiatorName(mac)},
		CHAP:       f.CHAP,
	}
	if f.disks == nil {
		f.disks = map[key]*disk{}
	}
	f.disks[k] = d
	return d, nil
}

// Discover lists, for SendTargets, the targets of the initiator's own MAC that
// the fleet has made (a machine's disks it has logged in to before); an
// initiator of another naming scheme gets nothing. A fleet with a single base
// (image "") always lists that disk.
func (f *Fleet) Discover(_ context.Context, initiator string) []string {
	mac, ok := f.macOfInitiator(initiator)
	if !ok {
		return nil
	}
	m := MACName(mac)
	f.mu.Lock()
	var out []string
	for k := range f.disks {
		if k.mac == m && k.image != "" {
			out = append(out, f.TargetName(k.image, mac))
		}
	}
	f.mu.Unlock()
	slices.Sort(out)
	if f.Base != nil {
		if _, err := f.Base(""); err == nil {
			out = append([]string{f.TargetName("", mac)}, out...)
		}
	}
	return out
}

// Hook sets srv's Lookup and Discover to the fleet's and chains its OnLogin and
// OnLogout hooks (keeping any already set) so the fleet knows which disks are
// in use. Call it before srv serves.
func (f *Fleet) Hook(srv *iscsi.Server) {
	srv.Lookup, srv.Discover = f.Lookup, f.Discover
	prevIn, prevOut := srv.OnLogin, srv.OnLogout
	srv.OnLogin = func(e iscsi.LoginEvent) {
		if e.Err == nil {
			f.count(e, +1)
		}
		if prevIn != nil {
			prevIn(e)
		}
	}
	srv.OnLogout = func(e iscsi.LoginEvent) {
		f.count(e, -1)
		if prevOut != nil {
			prevOut(e)
		}
	}
}

// count adds delta to the live sessions of the event's disk.
func (f *Fleet) count(e iscsi.LoginEvent, delta int) {
	if e.Discovery || e.TargetName == "" {
		return
	}
	image, mac, err := f.ParseTarget(e.TargetName)
	if err != nil {
		return
	}
	k := key{image, MACName(mac)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions == nil {
		f.sessions = map[key]int{}
	}
	f.sessions[k] += delta
	if f.sessions[k] <= 0 {
		delete(f.sessions, k)
	}
}

// Overlay describes one machine's overlay file of one image.
type Overlay struct {
	Image string           // "" in a single-base fleet
	MAC   net.HardwareAddr // the machine
	Path  string           // the file
	Size  int64            // bytes the file takes (its length)
	InUse bool             // the machine is logged in to this disk
}

// Overlays lists the overlay files of the machine with this MAC, of every image
// (by image name), as found in Dir, whether or not the image still exists.
func (f *Fleet) Overlays(mac net.HardwareAddr) ([]Overlay, error) {
	if err := checkMAC(mac); err != nil {
		return nil, err
	}
	var out []Overlay
	add := func(image string) error {
		p := f.OverlayPath(image, mac)
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return nil
		}
		out = append(out, Overlay{Image: image, MAC: mac, Path: p, Size: st.Size(), InUse: f.InUse(image, mac)})
		return nil
	}
	if err := add(""); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(f.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("overlays: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() && validImage(e.Name()) == nil {
			if err := add(e.Name()); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// List returns every overlay file in Dir, of every image and machine, sorted
// by MAC then image. Files whose names are not MAC.cow are ignored.
func (f *Fleet) List() ([]Overlay, error) {
	var out []Overlay
	scan := func(image, dir string) error {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("overlays: %w", err)
		}
		for _, e := range ents {
			if e.IsDir() {
				if image == "" && validImage(e.Name()) == nil {
					if err := scanSub(f, &out, e.Name()); err != nil {
						return err
					}
				}
				continue
			}
			if o, ok := f.overlayEntry(image, dir, e); ok {
				out = append(out, o)
			}
		}
		return nil
	}
	if err := scan("", f.Dir); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Overlay) int {
		if c := strings.Compare(MACName(a.MAC), MACName(b.MAC)); c != 0 {
			return c
		}
		return strings.Compare(a.Image, b.Image)
	})
	return out, nil
}

// scanSub adds the overlays of one image directory.
func scanSub(f *Fleet, out *[]Overlay, image string) error {
	dir := filepath.Join(f.Dir, image)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("overlays: %w", err)
	}
	for _, e := range ents {
		if o, ok := f.overlayEntry(image, dir, e); ok {
			*out = append(*out, o)
		}
	}
	return nil
}

// overlayEntry describes a directory entry that is an overlay file MAC.cow.
func (f *Fleet) overlayEntry(image, dir string, e fs.DirEntry) (Overlay, bool) {
	m, ok := strings.CutSuffix(e.Name(), ".cow")
	if !ok || len(m) != 17 || strings.Count(m, "-") != 5 || !e.Type().IsRegular() {
		return Overlay{}, false
	}
	mac, err := net.ParseMAC(m)
	if err != nil || len(mac) != 6 || MACName(mac) != m {
		return Overlay{}, false
	}
	info, err := e.Info()
	if err != nil {
		return Overlay{}, false
	}
	return Overlay{Image: image, MAC: mac, Path: filepath.Join(dir, e.Name()), Size: info.Size(), InUse: f.InUse(image, mac)}, true
}

// InUse reports whether the machine has a live iSCSI session to its disk of image.
func (f *Fleet) InUse(image string, mac net.HardwareAddr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions[key{image, MACName(mac)}] > 0
}

// Reset throws away the machine's changes to image, so that its next boot sees
// the base again. It fails with ErrInUse while the machine is logged in to that
// disk and with ErrNoOverlay when there is no overlay file.
func (f *Fleet) Reset(image string, mac net.HardwareAddr) error {
	if err := validImage(image); err != nil {
		return err
	}
	if err := checkMAC(mac); err != nil {
		return err
	}
	k := key{image, MACName(mac)}
	path := f.OverlayPath(image, mac)
	f.mu.Lock()
	if f.sessions[k] > 0 {
		f.mu.Unlock()
		return fmt.Errorf("reset %s of %s: %w", image, mac, ErrInUse)
	}
	d := f.disks[k]
	f.mu.Unlock()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reset %s of %s: %w", image, mac, ErrNoOverlay)
	}
	if d != nil {
		// The fleet may hold the file open: reset through that overlay (it
		// waits for I/O in progress).
		if o := d.opened(); o != nil {
			if err := o.Reset(); err != nil {
				return fmt.Errorf("reset %s: %w", path, err)
			}
			f.log().Info("overlay reset", "image", image, "mac", mac.String(), "file", path)
			return nil
		}
	}
	var base *cow.Base
	if d != nil {
		base = d.base
	} else {
		if f.Base == nil {
			return fmt.Errorf("reset %s: fleet has no Base", path)
		}
		b, err := f.Base(image)
		if err != nil {
			return fmt.Errorf("reset %s: base of image %q: %w", path, image, err)
		}
		base = b
	}
	if err := ResetFile(path, base, f.options()); err != nil {
		return err
	}
	f.log().Info("overlay reset", "image", image, "mac", mac.String(), "file", path)
	return nil
}

// ResetFile empties the overlay file at path, made on base, when no process
// holds it (else the error wraps cow.ErrInUse). An overlay made on another base
// is refused with cow.ErrBaseMismatch.
func ResetFile(path string, base *cow.Base, opts *cow.Options) error {
	o, err := cow.Open(path, base, opts)
	if err != nil {
		return fmt.Errorf("reset %s: %w", path, err)
	}
	if err := o.Reset(); err != nil {
		o.Close()
		return fmt.Errorf("reset %s: %w", path, err)
	}
	return o.Close()
}

func (f *Fleet) options() *cow.Options {
	o := cow.Options{}
	if f.Options != nil {
		o = *f.Options
	}
	if o.Logger == nil {
		o.Logger = f.Logger
	}
	return &o
}

// Close syncs and closes every open overlay; later logins are refused.
func (f *Fleet) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	var errs []error
	for k, d := range f.disks {
		errs = append(errs, d.close())
		delete(f.disks, k)
	}
	return errors.Join(errs...)
}
