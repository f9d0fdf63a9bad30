package iscsi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Sentinel errors. Lookup functions return ErrTargetNotFound or
// ErrNotAuthorized (possibly wrapped) to choose the login status class.
var (
	// ErrTargetNotFound makes a login fail with status 0x0203 (target not found).
	ErrTargetNotFound = errors.New("iscsi: target not found")
	// ErrNotAuthorized makes a login fail with status 0x0202 (initiator not authorized).
	ErrNotAuthorized = errors.New("iscsi: initiator not authorized")
	// ErrAuthFailed reports a CHAP failure (status 0x0201).
	ErrAuthFailed = errors.New("iscsi: authentication failed")
	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("iscsi: server closed")
	// ErrBadSecret is returned by Validate for CHAP secrets outside 12–16 bytes.
	ErrBadSecret = errors.New("iscsi: CHAP secret must be 12 to 16 bytes")
)

// CHAP holds the credentials of CHAP authentication (RFC 1994 with MD5, as
// RFC 7143 section 12.1.3 profiles it).
type CHAP struct {
	// User and Secret are what the initiator must prove it knows.
	User, Secret string
	// MutualUser and MutualSecret, when set, are the target's own credentials
	// for mutual CHAP: the target answers the initiator's challenge with them.
	MutualUser, MutualSecret string
}

// Validate checks the secrets' lengths (Windows requires 12–16 bytes).
func (c *CHAP) Validate() error {
	if c == nil {
		return nil
	}
	if c.User == "" || len(c.Secret) < 12 || len(c.Secret) > 16 {
		return fmt.Errorf("%w (user %q)", ErrBadSecret, c.User)
	}
	if c.MutualSecret != "" || c.MutualUser != "" {
		if c.MutualUser == "" || len(c.MutualSecret) < 12 || len(c.MutualSecret) > 16 {
			return fmt.Errorf("%w (mutual user %q)", ErrBadSecret, c.MutualUser)
		}
		if c.MutualSecret == c.Secret {
			return fmt.Errorf("iscsi: mutual CHAP secret must differ from the initiator's secret")
		}
	}
	return nil
}

// LUN is one logical unit of a target.
type LUN struct {
	// Device serves the blocks.
	Device Device
	// BlockSize is the logical block size in bytes (512 when zero).
	BlockSize int
	// ReadOnly write-protects the LUN even if the device accepts writes.
	ReadOnly bool
	// Serial is the unit serial number (VPD 0x80); it also seeds the NAA
	// identifier. Derived from the target name and LUN number when empty.
	Serial string
}

// Target is an iSCSI target: a name and its logical units. LUN numbers are
// indices into LUNs. Reservations, unit attentions and mode page settings are
// kept per *Target, so return the same pointer from a lookup for the same disk.
type Target struct {
	// Name is the target's iSCSI qualified name (iqn.…).
	Name string
	// Alias is an optional human-readable TargetAlias.
	Alias string
	// LUNs are the logical units, numbered from 0.
	LUNs []LUN
	// Initiators, when non-empty, lists the initiator names allowed to log in.
	Initiators []string
	// CHAP, when non-nil, requires CHAP authentication.
	CHAP *CHAP
}

// allows reports whether the ACL admits initiator.
func (t *Target) allows(initiator string) bool {
	if len(t.Initiators) == 0 {
		return true
	}
	for _, n := range t.Initiators {
		if n == initiator {
			return true
		}
	}
	return false
}

// LoginEvent describes a finished login attempt (Err == nil on success) or a logout.
type LoginEvent struct {
	InitiatorName string
	TargetName    string // empty for discovery sessions
	ISID          [6]byte
	TSIH          uint16
	RemoteAddr    net.Addr
	Discovery     bool
	Err           error // login failure reason; nil on success
}

// IOEvent describes one completed SCSI command.
type IOEvent struct {
	InitiatorName string
	TargetName    string
	LUN           uint64
	Opcode        byte // CDB operation code
	Bytes         int  // data moved (read or written)
	Status        byte // SCSI status
	Duration      time.Duration
}

// Server is an iSCSI target server. Its zero value serves nothing; set
// Targets and/or Lookup. A Server must not be copied after first use.
type Server struct {
	// Targets are served to every initiator their ACL admits.
	Targets []*Target
	// Lookup, when non-nil, resolves targets not in Targets, per initiator:
	// it may return a different disk to each machine. Return an error wrapping
	// ErrTargetNotFound or ErrNotAuthorized to pick the login failure status.
	Lookup func(ctx context.Context, initiatorName, targetName string) (*Target, error)
	// Discover, when non-nil, adds target names to SendTargets replies for an
	// initiator (for targets only Lookup knows).
	Discover func(ctx context.Context, initiatorName string) []string
	// Logger receives login, logout and error records; nil is silent.
	Logger *slog.Logger
	// QueueDepth is the command window per session (default 128).
	QueueDepth int
	// NOPInterval is how long a connection may be idle before the target
	// pings the initiator with a NOP-In (default 30s; negative disables).
	NOPInterval time.Duration
	// LoginTimeout bounds the whole login phase (default 15s).
	LoginTimeout time.Duration
	// OnLogin is called after every login attempt.
	OnLogin func(LoginEvent)
	// OnLogout is called when a session ends.
	OnLogout func(LoginEvent)
	// OnIO is called after every SCSI command.
	OnIO func(IOEvent)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	sessions  map[string]*conn // initiator name + ISID + target → live session
	states    map[*Target]*targetState
	nextTSIH  uint16
	closed    bool
	wg        sync.WaitGroup
	pool      bufPool   // data buffers
	tasks     sync.Pool // *task
	outs      sync.Pool // *outPDU
}

// targetState is the runtime side of a *Target shared by its sessions.
type targetState struct {
	name  string
	t     *Target
	units []*logicalUnit
	refs  int

	mu      sync.Mutex
	nexuses map[string]int
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(discardHandler{})
	}
	return s.Logger
}

type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }

func (s *Server) queueDepth() int {
	if s.QueueDepth <= 0 {
		return 128
	}
	return min(s.QueueDepth, 4096)
}

// ListenAndServe listens on TCP addr (":3260" when empty) and serves.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = ":3260"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("iscsi: %w", err)
	}
	return s.Serve(l)
}

// Serve accepts connections on l until Shutdown or Close. It always returns a
// non-nil error; after Shutdown or Close it is ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	for _, t := range s.Targets {
		if err := t.CHAP.Validate(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("iscsi: accept: %w", err)
		}
		delay = 0
		c := s.newConn(nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		if s.conns == nil {
			s.conns = map[*conn]struct{}{}
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting, asks every session to log out (Async Message
// "request logout"), and waits for the sessions to end. When ctx is done
// first it closes the remaining connections and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.requestLogout()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// Like net/http: close what is left and report the deadline without
		// waiting for commands stuck in a device.
		s.closeConns()
		return ctx.Err()
	}
}

// Close closes listeners and connections immediately.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	s.closeConns()
	s.wg.Wait()
	return nil
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.close()
	}
}

// findTarget resolves a target for an initiator, applying the ACL.
func (s *Server) findTarget(ctx context.Context, initiator, name string) (*Target, error) {
	for _, t := range s.Targets {
		if t.Name == name {
			if !t.allows(initiator) {
				return nil, ErrNotAuthorized
			}
			return t, nil
		}
	}
	if s.Lookup != nil {
		t, err := s.Lookup(ctx, initiator, name)
		if err != nil {
			return nil, err
		}
		if t == nil {
			return nil, ErrTargetNotFound
		}
		if !t.allows(initiator) {
			return nil, ErrNotAuthorized
		}
		if err := t.CHAP.Validate(); err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, ErrTargetNotFound
}

// visibleTargets lists the target names SendTargets shows to initiator.
func (s *Server) visibleTargets(ctx context.Context, initiator string) []string {
	var names []string
	for _, t := range s.Targets {
		if t.allows(initiator) {
			names = append(names, t.Name)
		}
	}
	if s.Discover != nil {
		names = append(names, s.Discover(ctx, initiator)...)
	}
	return names
}

// acquireState returns the shared runtime state of t, creating it on first use.
func (s *Server) acquireState(t *Target, nexus string) (*targetState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.states == nil {
		s.states = map[*Target]*targetState{}
	}
	ts := s.states[t]
	if ts == nil {
		ts = &targetState{name: t.Name, t: t, nexuses: map[string]int{}}
		for i, l := range t.LUNs {
			u, err := newLogicalUnit(t.Name, uint64(i), l)
			if err != nil {
				return nil, err
			}
			ts.units = append(ts.units, u)
		}
		s.states[t] = ts
	}
	ts.refs++
	ts.mu.Lock()
	ts.nexuses[nexus]++
	ts.mu.Unlock()
	return ts, nil
}

func (s *Server) releaseState(ts *targetState, nexus string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts.mu.Lock()
	if ts.nexuses[nexus]--; ts.nexuses[nexus] <= 0 {
		delete(ts.nexuses, nexus)
	}
	ts.mu.Unlock()
	ts.refs--
	if ts.refs > 0 {
		return
	}
	static := false
	for _, t := range s.Targets {
		static = static || t == ts.t
	}
	if !static {
		delete(s.states, ts.t)
	}
}

// setUA establishes a unit attention on u (all LUs when u is nil) for every
// nexus of the target except the one given.
func (ts *targetState) setUA(u *logicalUnit, except string, sc senseCode) {
	ts.mu.Lock()
	nexuses := make([]string, 0, len(ts.nexuses))
	for n := range ts.nexuses {
		if n != except {
			nexuses = append(nexuses, n)
		}
	}
	ts.mu.Unlock()
	for _, x := range ts.units {
		if u != nil && x != u {
			continue
		}
		x.mu.Lock()
		for _, n := range nexuses {
			x.ua[n] = sc
		}
		x.mu.Unlock()
	}
}

func (s *Server) allocTSIH() uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextTSIH++
	if s.nextTSIH == 0 {
		s.nextTSIH = 1
	}
	return s.nextTSIH
}

// registerSession installs c as the live session for key, returning the
// session it replaces (reinstatement), if any.
func (s *Server) registerSession(key string, c *conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		s.sessions = map[string]*conn{}
	}
	old := s.sessions[key]
	s.sessions[key] = c
	return old
}

func (s *Server) lookupSession(key string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[key]
}

func (s *Server) unregisterSession(key string, c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[key] == c {
		delete(s.sessions, key)
	}
}
