package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/internal/sanfleet"
	"github.com/netbootkit/netboot/iscsi"
)

// The iSCSI names of the pool's served disks: the target of image IMAGE for
// machine MAC is targetPrefix + IMAGE + ":" + MAC (MAC lower-case, hyphenated),
// and only the initiator initiatorPrefix + MAC may log in to it.
const (
	targetPrefix    = "iqn.2026-11.org.netbootkit:pool:"
	initiatorPrefix = "iqn.2026-11.org.netbootkit:pool:client:"
)

// StageDisk is the stage of a machine that has logged in to its served disk.
const StageDisk = "disk"

// ErrNoSAN reports a base image while the pool serves no iSCSI (-iscsi off).
var ErrNoSAN = errors.New("pool: base images need the pool's iSCSI target (-iscsi)")

// SANConfig configures the pool's own iSCSI target, which serves "base" images:
// one shared base file per image, a copy-on-write overlay per machine.
type SANConfig struct {
	// Overlays is the directory of the machines' overlays:
	// Overlays/IMAGE/MAC.cow. It is created if needed; nothing in it is ever
	// deleted by the pool.
	Overlays string
	// Host and Port are where machines reach the target (the host of -url and
	// the port of -iscsi by default).
	Host string
	Port uint16
	// CHAP, when set, is required of every machine (and put in its script).
	CHAP *iscsi.CHAP
	// MaxOverlay caps each overlay file in bytes; 0 is no cap.
	MaxOverlay int64
}

// sanSide is the pool's iSCSI side: the fleet of per-machine overlays and the
// bases it opens on demand.
type sanSide struct {
	cfg    SANConfig
	fleet  *sanfleet.Fleet
	images *Catalog
	store  *Store
	log    *slog.Logger

	mu    sync.Mutex
	bases map[string]*openBase // by image name
}

// openBase is a base file the fleet uses, remembered with what identified it
// when opened so that a replaced file is opened afresh.
type openBase struct {
	base *cow.Base
	path string
	ino  os.FileInfo
}

func newSANSide(cfg SANConfig, images *Catalog, store *Store, log *slog.Logger) (*sanSide, error) {
	if cfg.Overlays == "" {
		return nil, errors.New("overlays directory: required")
	}
	if err := os.MkdirAll(cfg.Overlays, 0o700); err != nil {
		return nil, fmt.Errorf("overlays directory: %w", err)
	}
	if cfg.Host == "" || cfg.Port == 0 {
		return nil, errors.New("iSCSI: the advertised host and port are required")
	}
	if cfg.CHAP != nil {
		if err := cfg.CHAP.Validate(); err != nil {
			return nil, fmt.Errorf("CHAP: %w", err)
		}
	}
	s := &sanSide{cfg: cfg, images: images, store: store, log: log, bases: map[string]*openBase{}}
	s.fleet = &sanfleet.Fleet{
		TargetPrefix: targetPrefix, InitiatorPrefix: initiatorPrefix,
		Dir: cfg.Overlays, CHAP: cfg.CHAP, Logger: log, Base: s.base, Allow: s.allow,
	}
	if cfg.MaxOverlay > 0 {
		s.fleet.Options = &cow.Options{MaxSize: cfg.MaxOverlay}
	}
	return s, nil
}

// base opens (once per file) the base of a "base" image.
func (s *sanSide) base(image string) (*cow.Base, error) {
	img, err := s.images.Get(image)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", iscsi.ErrTargetNotFound, err)
	}
	if img.Base == "" {
		return nil, fmt.Errorf("%w: image %s is not a base image", iscsi.ErrTargetNotFound, image)
	}
	path := filepath.Join(s.images.Root.Name(), image, img.Base)
	st, err := s.images.Root.Stat(image + "/" + img.Base)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", iscsi.ErrTargetNotFound, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ob, ok := s.bases[image]; ok && ob.path == path && os.SameFile(ob.ino, st) && ob.ino.ModTime().Equal(st.ModTime()) && ob.ino.Size() == st.Size() {
		return ob.base, nil
	}
	// Opened through the images root, so a symlink cannot lead out of it.
	f, err := s.images.Root.Open(image + "/" + img.Base)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", iscsi.ErrTargetNotFound, err)
	}
	f.Close()
	b, err := cow.OpenBase(path)
	if err != nil {
		return nil, fmt.Errorf("%w: image %s: %w", iscsi.ErrTargetNotFound, image, err)
	}
	if b.Size() == 0 || b.Size()%512 != 0 {
		b.Close()
		return nil, fmt.Errorf("%w: image %s: base size %d is not a positive multiple of 512", iscsi.ErrTargetNotFound, image, b.Size())
	}
	// A replaced file's old base stays open: overlays opened on it use it
	// until Close.
	if old, ok := s.bases[image]; ok {
		s.bases[image+"\x00"+old.ino.ModTime().String()] = old
	}
	s.bases[image] = &openBase{base: b, path: path, ino: st}
	s.log.Info("base opened", "image", image, "file", path, "size", b.Size())
	return b, nil
}

// allow admits a machine to its disk of image only while the administrator
// has that image assigned to it: a machine that never joined, or one whose
// assignment is another image (or none), gets no disk, so a machine cannot
// open, and fill, overlays of bases it was never given. The fleet asks once,
// when the disk is first opened; sessions already running are not cut off
// by a reassignment.
func (s *sanSide) allow(image string, mac net.HardwareAddr) error {
	m, ok := s.store.Machine(mac.String())
	if !ok {
		return fmt.Errorf("%w: %s has not joined the pool", iscsi.ErrNotAuthorized, mac)
	}
	if m.Image != image {
		return fmt.Errorf("%w: %s is assigned %q, not the disk image %q", iscsi.ErrNotAuthorized, mac, m.Image, image)
	}
	return nil
}

// server returns the iSCSI server: the fleet's targets, and each successful
// login recorded as the machine's stage "disk".
func (s *sanSide) server() *iscsi.Server {
	srv := &iscsi.Server{Logger: s.log, OnLogin: func(e iscsi.LoginEvent) {
		if e.Err != nil || e.Discovery {
			return
		}
		if _, mac, err := s.fleet.ParseTarget(e.TargetName); err == nil {
			if _, err := s.store.Seen(Sighting{MAC: mac.String(), Stage: StageDisk}); err != nil {
				s.log.Warn("recording stage", "mac", mac.String(), "err", err)
			}
		}
	}}
	s.fleet.Hook(srv)
	return srv
}

// target is what a machine's script needs to boot its disk of img.
func (s *sanSide) target(img *Image, mac net.HardwareAddr) *sanTarget {
	return &sanTarget{
		Initiator: s.fleet.InitiatorName(mac),
		RootPath:  s.fleet.RootPath(img.Name, mac, s.cfg.Host, s.cfg.Port),
		CHAP:      s.cfg.CHAP,
	}
}

// overlays lists every overlay by MAC (colon form).
func (s *sanSide) overlays() (map[string][]sanfleet.Overlay, error) {
	all, err := s.fleet.List()
	if err != nil {
		return nil, err
	}
	out := map[string][]sanfleet.Overlay{}
	for _, o := range all {
		out[o.MAC.String()] = append(out[o.MAC.String()], o)
	}
	return out, nil
}

// Close closes the overlays, then the bases.
func (s *sanSide) Close() error {
	err := s.fleet.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, ob := range s.bases {
		ob.base.Close()
		delete(s.bases, k)
	}
	return err
}

// sanTarget is a served disk as a machine's script names it.
type sanTarget struct {
	Initiator string      // initiator-iqn the machine must use
	RootPath  string      // iscsi:host::port::target
	CHAP      *iscsi.CHAP // credentials, or nil
}
