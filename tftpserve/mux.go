package tftpserve

import (
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"sort"
	"strings"
	"sync"
)

// ServeMux routes read requests by their cleaned name. Routes, tried in
// this order:
//
//  1. exact names ("undionly.kpxe");
//  2. prefixes: a pattern ending in "/" ("ipxe/") matches every name
//     under it, the longest pattern first;
//  3. the MAC route (HandleMAC): names whose first element is a MAC
//     address, as in "52-54-00-12-34-56/boot.ipxe";
//  4. the pattern "/", which matches everything else.
//
// Names nothing matches get an error wrapping [fs.ErrNotExist]. Prefix
// handlers see the full name; wrap them in [StripPrefix] to see the rest.
type ServeMux struct {
	mu       sync.RWMutex
	exact    map[string]Handler
	prefixes []muxPrefix // longest first
	mac      Handler
	fallback Handler
}

type muxPrefix struct {
	prefix string
	h      Handler
}

// NewServeMux returns an empty ServeMux.
func NewServeMux() *ServeMux { return &ServeMux{exact: make(map[string]Handler)} }

// Handle registers h for pattern: a file name, a prefix ending in "/",
// or "/" for everything. Patterns are cleaned like request names, so
// "/ipxe.efi" and "ipxe.efi" are the same pattern. Handle panics on an
// invalid or duplicate pattern, like net/http: that is a programming
// error, not bad input.
func (m *ServeMux) Handle(pattern string, h Handler) {
	if h == nil {
		panic("tftpserve: nil handler for " + pattern)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exact == nil {
		m.exact = make(map[string]Handler)
	}
	if pattern == "/" {
		if m.fallback != nil {
			panic("tftpserve: duplicate pattern /")
		}
		m.fallback = h
		return
	}
	name, err := CleanName(pattern)
	if err != nil {
		panic(fmt.Sprintf("tftpserve: invalid pattern %q: %v", pattern, err))
	}
	if strings.HasSuffix(pattern, "/") {
		p := name + "/"
		for _, e := range m.prefixes {
			if e.prefix == p {
				panic("tftpserve: duplicate pattern " + pattern)
			}
		}
		m.prefixes = append(m.prefixes, muxPrefix{p, h})
		sort.SliceStable(m.prefixes, func(i, j int) bool { return len(m.prefixes[i].prefix) > len(m.prefixes[j].prefix) })
		return
	}
	if _, dup := m.exact[name]; dup {
		panic("tftpserve: duplicate pattern " + pattern)
	}
	m.exact[name] = h
}

// HandleFunc registers f for pattern; see Handle.
func (m *ServeMux) HandleFunc(pattern string, f func(ctx context.Context, req *Request) (Content, error)) {
	m.Handle(pattern, HandlerFunc(f))
}

// HandleMAC registers h for names whose first element is a MAC address
// (see [ParseMAC]): h sees Request.MAC set and Request.Name without that
// element, so one per-machine directory layout or generator serves every
// machine. This is the layout Tinkerbell's smee uses for per-machine
// iPXE files.
func (m *ServeMux) HandleMAC(h Handler) {
	if h == nil {
		panic("tftpserve: nil MAC handler")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mac != nil {
		panic("tftpserve: duplicate MAC handler")
	}
	m.mac = h
}

// Handler returns the handler for a cleaned name and the request it
// should see, or nil.
func (m *ServeMux) handler(req *Request) (Handler, *Request) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if h, ok := m.exact[req.Name]; ok {
		return h, req
	}
	for _, p := range m.prefixes {
		if strings.HasPrefix(req.Name, p.prefix) {
			return p.h, req
		}
	}
	if m.mac != nil {
		if first, rest, ok := strings.Cut(req.Name, "/"); ok {
			if mac, err := ParseMAC(first); err == nil {
				r := *req
				r.MAC, r.Name = mac, rest
				return m.mac, &r
			}
		}
	}
	return m.fallback, req
}

// ServeTFTP dispatches req to the matching handler.
func (m *ServeMux) ServeTFTP(ctx context.Context, req *Request) (Content, error) {
	h, r := m.handler(req)
	if h == nil {
		return Content{}, fmt.Errorf("tftpserve: no route for %q: %w", req.Name, fs.ErrNotExist)
	}
	return h.ServeTFTP(ctx, r)
}

// StripPrefix returns a Handler that removes prefix from Request.Name
// before calling h, and reports names without the prefix (or with
// nothing after it) as not found.
func StripPrefix(prefix string, h Handler) Handler {
	return HandlerFunc(func(ctx context.Context, req *Request) (Content, error) {
		rest, ok := strings.CutPrefix(req.Name, prefix)
		rest = strings.TrimPrefix(rest, "/")
		if !ok || rest == "" {
			return Content{}, fmt.Errorf("tftpserve: %q is not under %q: %w", req.Name, prefix, fs.ErrNotExist)
		}
		r := *req
		r.Name = rest
		return h.ServeTFTP(ctx, &r)
	})
}

// ParseMAC parses a 6-byte MAC address in the forms boot files use:
// "52:54:00:12:34:56", "52-54-00-12-34-56", "5254.0012.3456",
// "525400123456", and PXELINUX's "01-52-54-00-12-34-56" (hardware type
// 1, Ethernet, in front).
func ParseMAC(s string) (net.HardwareAddr, error) {
	if len(s) == 20 && strings.HasPrefix(s, "01-") {
		s = s[3:]
	}
	if len(s) == 12 {
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("tftpserve: invalid MAC %q", s)
		}
		return net.HardwareAddr(b), nil
	}
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("tftpserve: invalid MAC %q", s)
	}
	return mac, nil
}
