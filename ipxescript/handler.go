package ipxescript

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is returned by a Renderer that has no script for a machine.
var ErrNotFound = errors.New("ipxescript: no boot script for this machine")

// ErrIdentity is matched (errors.Is) by every *IdentityError.
var ErrIdentity = errors.New("invalid machine identity")

// IdentityError reports a missing or malformed identity query parameter.
type IdentityError struct {
	Param  string // query parameter, e.g. "mac"
	Value  string // value received ("" when missing)
	Reason string
}

// Error implements error.
func (e *IdentityError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("ipxescript: identity %s: %s", e.Param, e.Reason)
	}
	return fmt.Sprintf("ipxescript: identity %s=%q: %s", e.Param, e.Value, e.Reason)
}

// Unwrap returns ErrIdentity.
func (e *IdentityError) Unwrap() error { return ErrIdentity }

// Machine is the identity of a booting machine, as sent by iPXE in the
// query string (see IdentityURL) and checked by ParseMachine.
type Machine struct {
	MAC          net.HardwareAddr // "mac" (required): the booting NIC
	UUID         string           // "uuid": SMBIOS UUID, lowercase 8-4-4-4-12; "" if unknown
	BuildArch    string           // "buildarch": i386, x86_64, arm32, arm64, riscv64, loong64, …
	Platform     string           // "platform": pcbios, efi, …
	Manufacturer string           // "manufacturer" (SMBIOS)
	Product      string           // "product" (SMBIOS)
	Serial       string           // "serial" (SMBIOS)
	Asset        string           // "asset" (SMBIOS asset tag)
	Hostname     string           // "hostname" (DHCP option 12)
	IP           net.IP           // "ip": the address iPXE got by DHCP
	// Attempt counts the Handler's own retries (query "retry"); 0 on the
	// first request.
	Attempt int
	// Query holds every query parameter as received ("+" kept literally),
	// including ones the Handler does not interpret.
	Query url.Values
	// IPXE reports whether the request came from iPXE (see IsIPXE).
	IPXE bool
	// RemoteAddr is the request's RemoteAddr.
	RemoteAddr string
}

// UEFI reports whether the machine runs iPXE on UEFI firmware.
func (m *Machine) UEFI() bool { return m.Platform == "efi" }

// Renderer returns the script for a machine: implemented by the consumer
// (a directory of per-MAC files, a database, a pool manager). It returns
// ErrNotFound (possibly wrapped) when it has nothing for the machine.
type Renderer interface {
	RenderScript(ctx context.Context, m *Machine) (*Script, error)
}

// RenderFunc adapts a function to Renderer.
type RenderFunc func(ctx context.Context, m *Machine) (*Script, error)

// RenderScript calls f.
func (f RenderFunc) RenderScript(ctx context.Context, m *Machine) (*Script, error) {
	return f(ctx, m)
}

// Handler is an http.Handler that answers each machine with its own
// script. The machine's identity arrives in the query string, filled in by
// iPXE from the first-stage script (Bootstrap, IdentityURL), is checked by
// ParseMachine and handed to Renderer.
//
// iPXE never runs the body of a non-2xx answer: it prints an error code
// and the boot stops. So when the identity is bad or missing, the Renderer
// has nothing for the machine (ErrNotFound) or fails, an iPXE client gets
// 200 OK and a script that prints the reason on the machine's console and
// retries after a delay (doubling up to MaxRetryDelay), while other clients
// (curl, browsers, monitoring) get 400, 404 or 500 with the reason as text.
// Every such answer is logged. A client is iPXE when IsIPXE says so.
type Handler struct {
	// Renderer produces the scripts. Required.
	Renderer Renderer
	// Logger receives one record per refused or failed request; nil is
	// silent.
	Logger *slog.Logger
	// RetryDelay is the first wait of an error script; default 10s.
	RetryDelay time.Duration
	// MaxRetryDelay caps the doubling of RetryDelay; default 5m.
	MaxRetryDelay time.Duration
	// RetryURL is where error scripts chain back to, normally this
	// handler's external URL path such as "/boot.ipxe" (useful behind a
	// proxy that rewrites paths). Default: the request's own path. The
	// received query is re-encoded and a "retry" counter added.
	RetryURL string
	// Served, if set, is called after every answer: for metrics, audit
	// logs, or a pool manager that moves a machine to its next state once
	// it fetched its script (a boot is otherwise stateless).
	Served func(ServeEvent)
}

// ServeEvent describes one answer of a Handler.
type ServeEvent struct {
	Request *http.Request
	// Machine is the parsed identity; nil when it was invalid.
	Machine *Machine
	// IPXE reports whether the client was iPXE (see IsIPXE).
	IPXE bool
	// Status is the HTTP status sent: 200 also for iPXE error scripts.
	Status int
	// Script reports that the Renderer's script was sent; false for error
	// scripts and error statuses.
	Script bool
	// Err is why the request was refused (an *IdentityError, ErrNotFound,
	// a Renderer error); nil when Script is true.
	Err error
	// Duration is the time from the start of ServeHTTP to the answer.
	Duration time.Duration
}

// IsIPXE reports whether r comes from iPXE: its User-Agent starts with
// "iPXE/" (every iPXE build sends one), or the query holds "ipxe=1" (for
// builds or proxies that change the User-Agent; add it to the URL in the
// first-stage script).
func IsIPXE(r *http.Request) bool {
	if strings.HasPrefix(r.UserAgent(), "iPXE/") {
		return true
	}
	return rawQueryValue(r.URL.RawQuery, "ipxe") == "1"
}

// rawQueryValue returns the first raw value of key, or "".
func rawQueryValue(raw, key string) string {
	for _, kv := range strings.Split(raw, "&") {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// parseQuery parses a query string like url.ParseQuery but keeps "+" as a
// plus sign: iPXE's uristring never encodes a space as "+", and older iPXE
// builds do not encode "+" itself.
func parseQuery(raw string) (url.Values, error) {
	v := url.Values{}
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		k, val, _ := strings.Cut(kv, "=")
		k, err := url.PathUnescape(k)
		if err != nil {
			return nil, &IdentityError{Param: "query", Value: Sanitize(kv, 64), Reason: "bad percent-encoding"}
		}
		val, err = url.PathUnescape(val)
		if err != nil {
			return nil, &IdentityError{Param: k, Value: Sanitize(kv, 64), Reason: "bad percent-encoding"}
		}
		v[k] = append(v[k], val)
	}
	return v, nil
}

var (
	reUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	reArch = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)
)

// maxText is the longest accepted SMBIOS/DHCP string value.
const maxText = 1024

// ParseMachine reads a machine's identity from r's query string. "mac" is
// required and may be written as iPXE's hex ("52:54:00:12:34:56"), hexhyp
// ("52-54-…") or hexraw ("525400123456"); "uuid" must be a UUID; "buildarch"
// and "platform" are short lowercase words; "ip" an IPv4 address. The
// descriptive values (manufacturer, product, serial, asset, hostname) are
// passed on as received, any bytes up to 1024 of them: firmware strings can
// be garbage, and a machine must not be refused for that, since its retries
// would send the same. Treat them as untrusted: the builder refuses unsafe
// ones and Sanitize makes them displayable. A parameter
// given twice with different values is refused (it cannot come from one
// iPXE expansion). Empty values count as absent: iPXE expands an unset
// setting to "". The error is an *IdentityError.
func ParseMachine(r *http.Request) (*Machine, error) {
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	m := &Machine{Query: q, IPXE: IsIPXE(r), RemoteAddr: r.RemoteAddr}
	one := func(k string) (string, error) {
		vs := q[k]
		for _, v := range vs[min(1, len(vs)):] {
			if v != vs[0] {
				return "", &IdentityError{Param: k, Value: Sanitize(strings.Join(vs, ","), 80), Reason: "given more than once"}
			}
		}
		if len(vs) == 0 {
			return "", nil
		}
		return vs[0], nil
	}
	mac, err := one("mac")
	if err != nil {
		return nil, err
	}
	if mac == "" {
		return nil, &IdentityError{Param: "mac", Reason: "missing (the first-stage script should send mac=${netX/mac:hexhyp})"}
	}
	if m.MAC, err = parseMAC(mac); err != nil {
		return nil, &IdentityError{Param: "mac", Value: Sanitize(mac, 64), Reason: "not a MAC address"}
	}
	if v, err := one("uuid"); err != nil {
		return nil, err
	} else if v != "" {
		v = strings.ToLower(v)
		if !reUUID.MatchString(v) {
			return nil, &IdentityError{Param: "uuid", Value: Sanitize(v, 64), Reason: "not a UUID"}
		}
		m.UUID = v
	}
	for _, f := range []struct {
		k   string
		dst *string
	}{{"buildarch", &m.BuildArch}, {"platform", &m.Platform}} {
		v, err := one(f.k)
		if err != nil {
			return nil, err
		}
		if v != "" && !reArch.MatchString(v) {
			return nil, &IdentityError{Param: f.k, Value: Sanitize(v, 64), Reason: "not a lowercase word"}
		}
		*f.dst = v
	}
	for _, f := range []struct {
		k   string
		dst *string
	}{{"manufacturer", &m.Manufacturer}, {"product", &m.Product}, {"serial", &m.Serial},
		{"asset", &m.Asset}, {"hostname", &m.Hostname}} {
		v, err := one(f.k)
		if err != nil {
			return nil, err
		}
		if len(v) > maxText {
			return nil, &IdentityError{Param: f.k, Value: Sanitize(v, 64), Reason: fmt.Sprintf("longer than %d bytes", maxText)}
		}
		*f.dst = v
	}
	if v, err := one("ip"); err != nil {
		return nil, err
	} else if v != "" {
		ip := net.ParseIP(v)
		if ip == nil || ip.To4() == nil {
			return nil, &IdentityError{Param: "ip", Value: Sanitize(v, 64), Reason: "not an IPv4 address"}
		}
		m.IP = ip.To4()
	}
	if v, err := one("retry"); err != nil {
		return nil, err
	} else if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			return nil, &IdentityError{Param: "retry", Value: Sanitize(v, 64), Reason: "not a small non-negative integer"}
		}
		m.Attempt = n
	}
	return m, nil
}

func parseMAC(s string) (net.HardwareAddr, error) {
	if len(s) == 12 && !strings.ContainsAny(s, ":-.") {
		var b [6]byte
		for i := range b {
			v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
			if err != nil {
				return nil, err
			}
			b[i] = byte(v)
		}
		return net.HardwareAddr(b[:]), nil
	}
	return net.ParseMAC(s)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ipxe := IsIPXE(r)
	var m *Machine
	done := func(status int, script bool, err error) {
		if h.Served != nil {
			h.Served(ServeEvent{Request: r, Machine: m, IPXE: ipxe, Status: status, Script: script,
				Err: err, Duration: time.Since(start)})
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		done(http.StatusMethodNotAllowed, false, fmt.Errorf("ipxescript: method %s not allowed", r.Method))
		return
	}
	m, err := ParseMachine(r)
	if err != nil {
		h.log(r.Context(), slog.LevelWarn, "bad machine identity", r, nil, err)
		done(h.refuse(w, r, ipxe, nil, http.StatusBadRequest, err.Error(), "bad machine identity: "+err.Error()), false, err)
		return
	}
	if h.Renderer == nil {
		err := errors.New("ipxescript: Handler has no Renderer")
		h.log(r.Context(), slog.LevelError, "no renderer configured", r, m, nil)
		done(h.refuse(w, r, ipxe, m, http.StatusInternalServerError, "server misconfigured", "server misconfigured: no renderer"), false, err)
		return
	}
	s, err := h.Renderer.RenderScript(r.Context(), m)
	if err == nil && s == nil {
		err = errors.New("renderer returned no script")
	}
	var body bytes.Buffer
	if err == nil {
		_, err = s.WriteTo(&body)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		h.log(r.Context(), slog.LevelInfo, "no script for machine", r, m, err)
		msg := "no boot configuration for " + m.MAC.String()
		done(h.refuse(w, r, ipxe, m, http.StatusNotFound, msg, msg), false, err)
		return
	case err != nil:
		h.log(r.Context(), slog.LevelError, "rendering script failed", r, m, err)
		done(h.refuse(w, r, ipxe, m, http.StatusInternalServerError, "server error (see the boot server's log)", "server error: "+err.Error()), false, err)
		return
	}
	writeScript(w, r, http.StatusOK, body.Bytes())
	done(http.StatusOK, true, nil)
}

func writeScript(w http.ResponseWriter, r *http.Request, code int, body []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func (h *Handler) log(ctx context.Context, lvl slog.Level, msg string, r *http.Request, m *Machine, err error) {
	if h.Logger == nil {
		return
	}
	attrs := []slog.Attr{slog.String("remote", r.RemoteAddr), slog.String("query", r.URL.RawQuery),
		slog.Bool("ipxe", IsIPXE(r))}
	if m != nil {
		attrs = append(attrs, slog.String("mac", m.MAC.String()), slog.Int("attempt", m.Attempt))
	}
	if err != nil {
		attrs = append(attrs, slog.Any("err", err))
	}
	h.Logger.LogAttrs(ctx, lvl, msg, attrs...)
}

// refuse answers iPXE with a 200 error script and others with code, and
// returns the status sent.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, ipxe bool, m *Machine, code int, console, text string) int {
	if !ipxe {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, text, code)
		return code
	}
	attempt := 0
	if m != nil {
		attempt = m.Attempt
	} else if n, err := strconv.Atoi(rawQueryValue(r.URL.RawQuery, "retry")); err == nil && n > 0 && n < 1_000_000 {
		attempt = n
	}
	s := h.ErrorScript(r, console, attempt)
	body, err := s.MarshalText()
	if err != nil {
		// Only a bad RetryURL gets here; fail loudly.
		h.log(r.Context(), slog.LevelError, "error script invalid", r, m, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	writeScript(w, r, http.StatusOK, body)
	return http.StatusOK
}

// ErrorScript returns the script the Handler sends to iPXE instead of an
// error status: it prints reason (sanitised) on the console, waits
// RetryDelay doubled per attempt (capped at MaxRetryDelay) and chains back
// to the handler with the same query and retry=attempt+1. Exported so that
// custom handlers can answer the same way.
func (h *Handler) ErrorScript(r *http.Request, reason string, attempt int) *Script {
	delay := h.RetryDelay
	if delay <= 0 {
		delay = 10 * time.Second
	}
	maxDelay := h.MaxRetryDelay
	if maxDelay <= 0 {
		maxDelay = 5 * time.Minute
	}
	for i := 0; i < attempt && delay < maxDelay; i++ {
		delay *= 2
	}
	delay = min(delay, maxDelay)
	s := New()
	s.Comment("netboot: the boot server could not give this machine a script")
	s.Echo("netboot: " + Sanitize(reason, 200))
	s.Echo(fmt.Sprintf("netboot: retrying in %d seconds (attempt %d)", seconds(delay), attempt+1))
	s.Sleep(delay).OrExit(1)
	s.Chain(Image{URL: h.retryURL(r, attempt+1), Replace: true, Autofree: true})
	return s
}

// retryURL is the request path plus the re-encoded query with retry=n.
func (h *Handler) retryURL(r *http.Request, n int) string {
	p := h.RetryURL
	if p == "" {
		p = r.URL.Path
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil && r.RequestURI != "" {
			p = u.Path
		}
		if p == "" {
			p = "/"
		}
		p = escapeStrict(p, true)
	}
	var q []string
	if raw := r.URL.RawQuery; raw != "" {
		for _, kv := range strings.Split(raw, "&") {
			k, v, _ := strings.Cut(kv, "=")
			k, err1 := url.PathUnescape(k)
			v, err2 := url.PathUnescape(v)
			if err1 != nil || err2 != nil || k == "retry" || k == "" {
				continue
			}
			q = append(q, escapeStrict(k, false)+"="+escapeStrict(v, false))
		}
	}
	q = append(q, "retry="+strconv.Itoa(n))
	sep := "?"
	if strings.Contains(p, "?") {
		sep = "&"
	}
	return p + sep + strings.Join(q, "&")
}

// escapeStrict percent-encodes everything except RFC 3986 unreserved
// characters (and "/" in paths), so the result is a safe literal token.
func escapeStrict(s string, isPath bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isNameByte(c) || c == '~' || (isPath && c == '/') {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
