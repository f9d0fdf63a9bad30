package sanfleet

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/netbootkit/netboot/cow"
	"github.com/netbootkit/netboot/iscsi"
	"github.com/netbootkit/netboot/rootpath"
)

// RootPath is the iSCSI root path (RFC 4173) of the machine's disk of image on
// the target at host:port, as iPXE's sanboot and DHCP option 17 take it. Port
// 3260 is left out, as is customary.
func (f *Fleet) RootPath(image string, mac net.HardwareAddr, host string, port uint16) string {
	if port == 3260 {
		port = 0
	}
	return (&rootpath.ISCSI{Server: host, Port: port, Target: f.TargetName(image, mac)}).String()
}

// disk is one machine's LUN device of one image: its overlay, opened on first use.
type disk struct {
	f      *Fleet
	image  string
	mac    net.HardwareAddr
	base   *cow.Base
	target *iscsi.Target

	ov atomic.Pointer[cow.Overlay] // the open overlay: the lock-free fast path

	mu      sync.Mutex   // serialises opening and closing
	overlay *cow.Overlay // nil until opened
	err     error        // sticky open error or cow.ErrClosed
}

var _ iscsi.Device = (*disk)(nil)

// open opens or creates the machine's overlay at first use.
func (d *disk) open() (*cow.Overlay, error) {
	if o := d.ov.Load(); o != nil {
		return o, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.overlay != nil || d.err != nil {
		return d.overlay, d.err
	}
	path := d.f.OverlayPath(d.image, d.mac)
	opts := d.f.options()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		d.err = fmt.Errorf("overlay of %s: %w", d.mac, err)
		return nil, d.err
	}
	o, err := cow.Open(path, d.base, opts)
	created := false
	if errors.Is(err, fs.ErrNotExist) {
		o, err = cow.Create(path, d.base, opts)
		created = true
	}
	if err != nil {
		// Sticky: an overlay on the wrong base is never served, and a
		// file another process holds stays refused until restart.
		d.err = fmt.Errorf("overlay of %s: %w", d.mac, err)
		d.f.log().Error("overlay", d.attrs("file", path, "err", err)...)
		return nil, d.err
	}
	d.overlay = o
	d.ov.Store(o)
	d.f.log().Info("overlay", d.attrs("file", path, "created", created)...)
	if d.f.OnOverlay != nil {
		d.f.OnOverlay(d.image, d.mac, path, created)
	}
	return o, nil
}

// attrs are log attributes: the MAC, the image unless "", then more.
func (d *disk) attrs(more ...any) []any {
	a := append([]any{"mac", d.mac.String()}, more...)
	if d.image != "" {
		a = append(a, "image", d.image)
	}
	return a
}

// opened returns the overlay if it is open.
func (d *disk) opened() *cow.Overlay {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.overlay
}

// ReadAt implements iscsi.Device.
func (d *disk) ReadAt(p []byte, off int64) (int, error) {
	o, err := d.open()
	if err != nil {
		return 0, err
	}
	return o.ReadAt(p, off)
}

// WriteAt implements iscsi.Device.
func (d *disk) WriteAt(p []byte, off int64) (int, error) {
	o, err := d.open()
	if err != nil {
		return 0, err
	}
	return o.WriteAt(p, off)
}

// Size implements iscsi.Device: an overlay has its base's size.
func (d *disk) Size() int64 { return d.base.Size() }

// Sync implements iscsi.Syncer.
func (d *disk) Sync() error {
	o, err := d.open()
	if err != nil {
		return err
	}
	return o.Sync()
}

// Discard implements iscsi.Discarder.
func (d *disk) Discard(off, n int64) error {
	o, err := d.open()
	if err != nil {
		return err
	}
	return o.Discard(off, n)
}

// close closes the overlay if it was opened; later uses fail with cow.ErrClosed.
func (d *disk) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	o := d.overlay
	d.ov.Store(nil)
	d.overlay, d.err = nil, cow.ErrClosed
	if o != nil {
		return o.Close()
	}
	return nil
}
