package ipxescript

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
)

// FSRenderer is a Renderer for hand-written scripts kept as files, the
// layout of a small lab: for a machine it serves the first file that
// exists among
//
//	<uuid>.ipxe               (lowercase, when the machine has a UUID that is not all zeros)
//	<mac as hex>.ipxe         (52:54:00:12:34:56.ipxe, the classic per-MAC name)
//	<mac as hexhyp>.ipxe      (52-54-00-12-34-56.ipxe, for file systems without ':')
//	<mac as hexraw>.ipxe      (525400123456.ipxe)
//	default.ipxe
//
// and otherwise Default, or ErrNotFound when Default is nil. As PXELINUX does,
// the UUID (the machine) comes before the MAC (one of its cards). Every file is
// read with Parse before it is served, so a broken script (an unknown
// command, a goto to a missing label, a typo in an option) is refused with
// its line:col in the Handler's log instead of reaching the machine. Note
// that Parse knows upstream iPXE's commands; files for builds with custom
// commands need a Renderer of their own.
type FSRenderer struct {
	// FS holds the scripts, e.g. os.DirFS("/srv/ipxe") or an embed.FS.
	FS fs.FS
	// Default is served when no file matches; nil means ErrNotFound. It is
	// shared by all requests and must not be modified while serving.
	Default *Script
	// Logger, if set, gets one Info record per script served from a file
	// (the machine's MAC and the file name); nil is silent.
	Logger *slog.Logger
}

// Names returns the file names FSRenderer tries for m, in order.
func (r *FSRenderer) Names(m *Machine) []string {
	var n []string
	if m.UUID != "" && strings.Trim(m.UUID, "0-") != "" {
		n = append(n, strings.ToLower(m.UUID)+".ipxe")
	}
	if len(m.MAC) > 0 {
		raw := hex.EncodeToString(m.MAC)
		n = append(n, m.MAC.String()+".ipxe", strings.ReplaceAll(m.MAC.String(), ":", "-")+".ipxe", raw+".ipxe")
	}
	return append(n, "default.ipxe")
}

// RenderScript implements Renderer.
func (r *FSRenderer) RenderScript(ctx context.Context, m *Machine) (*Script, error) {
	if r.FS != nil {
		for _, name := range r.Names(m) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			data, err := fs.ReadFile(r.FS, name)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("ipxescript: %s: %w", name, err)
			}
			s, err := Parse(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("ipxescript: %s: %w", name, err)
			}
			if r.Logger != nil {
				r.Logger.InfoContext(ctx, "ipxescript: script from file", "mac", m.MAC.String(), "file", name)
			}
			return s, nil
		}
	}
	if r.Default != nil {
		return r.Default, nil
	}
	return nil, ErrNotFound
}
