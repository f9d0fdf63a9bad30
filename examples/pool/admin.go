package main

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/netbootkit/netboot/internal/sanfleet"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Session and login limits.
const (
	sessionCookie   = "pool_session"
	sessionLifetime = 12 * time.Hour
	maxSessions     = 64
	loginWindow     = time.Minute
	maxLoginFails   = 10 // per loginWindow, all clients together
)

// session is one logged-in browser.
type session struct {
	csrf    string
	expires time.Time
}

// adminSide serves the administrator's pages under /admin/ and /login. Every
// page needs a session; every change is a POST carrying the session's CSRF
// token, from the same origin.
type adminSide struct {
	store    *Store
	images   *Catalog
	boot     *bootSide
	san      *sanSide // nil when the pool serves no disks
	password [32]byte // SHA-256 of the password: compared in constant time
	log      *slog.Logger
	now      func() time.Time
	tmpl     *template.Template

	mu       sync.Mutex
	sessions map[string]*session
	fails    []time.Time
}

func newAdminSide(store *Store, images *Catalog, boot *bootSide, password string, log *slog.Logger) (*adminSide, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05")
		},
	}).ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &adminSide{
		store: store, images: images, boot: boot, log: log, now: time.Now, tmpl: t,
		password: sha256.Sum256([]byte(password)),
		sessions: map[string]*session{},
	}, nil
}

func (a *adminSide) register(mux *http.ServeMux) {
	static := http.FileServerFS(assets)
	mux.Handle("GET /static/", static)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /login", a.loginPage)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("POST /logout", a.authed(a.logout))
	mux.HandleFunc("GET /admin/{$}", a.authed(a.machinesPage))
	mux.HandleFunc("GET /admin/images", a.authed(a.imagesPage))
	mux.HandleFunc("POST /admin/assign", a.authed(a.assign))
	mux.HandleFunc("POST /admin/rename", a.authed(a.rename))
	mux.HandleFunc("POST /admin/reset", a.authed(a.reset))
}

// securityHeaders wraps every answer of the admin side.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sameOrigin refuses cross-site POSTs: browsers send Sec-Fetch-Site and/or
// Origin on form posts; when present they must name this site.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// current returns the request's live session.
func (a *adminSide) current(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[c.Value]
	if !ok {
		return nil
	}
	if a.now().After(s.expires) {
		delete(a.sessions, c.Value)
		return nil
	}
	return s
}

// authed requires a session, and for POSTs the same origin and the CSRF token.
func (a *adminSide) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := a.current(r)
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if !sameOrigin(r) {
				http.Error(w, "cross-site request refused", http.StatusForbidden)
				return
			}
			if err := r.ParseForm(); err != nil {
				http.Error(w, "bad form", http.StatusBadRequest)
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf)) != 1 {
				http.Error(w, "missing or wrong CSRF token: reload the page", http.StatusForbidden)
				return
			}
		}
		h(w, r, s)
	}
}

func (a *adminSide) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := a.tmpl.ExecuteTemplate(w, name, data); err != nil {
		a.log.Error("template", "name", name, "err", err)
	}
}

func (a *adminSide) loginPage(w http.ResponseWriter, r *http.Request) {
	if a.current(r) != nil {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return
	}
	a.render(w, http.StatusOK, "login.html", map[string]any{})
}

func (a *adminSide) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if !sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	now := a.now()
	a.mu.Lock()
	a.fails = slices.DeleteFunc(a.fails, func(t time.Time) bool { return now.Sub(t) > loginWindow })
	limited := len(a.fails) >= maxLoginFails
	a.mu.Unlock()
	if limited {
		a.render(w, http.StatusTooManyRequests, "login.html", map[string]any{"Error": "Too many failed logins: wait a minute."})
		return
	}
	got := sha256.Sum256([]byte(r.PostForm.Get("password")))
	if subtle.ConstantTimeCompare(got[:], a.password[:]) != 1 {
		a.mu.Lock()
		a.fails = append(a.fails, now)
		a.mu.Unlock()
		a.log.Warn("login failed", "remote", r.RemoteAddr)
		a.render(w, http.StatusUnauthorized, "login.html", map[string]any{"Error": "Wrong password."})
		return
	}
	id := randomToken()
	a.mu.Lock()
	for k, s := range a.sessions { // expire, then bound the table
		if now.After(s.expires) {
			delete(a.sessions, k)
		}
	}
	for k := range a.sessions {
		if len(a.sessions) < maxSessions {
			break
		}
		delete(a.sessions, k)
	}
	a.sessions[id] = &session{csrf: randomToken(), expires: now.Add(sessionLifetime)}
	a.mu.Unlock()
	a.log.Info("login", "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(sessionLifetime / time.Second),
	})
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
}

func (a *adminSide) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// notices are the only messages a redirect may ask the page to show.
var notices = map[string]string{
	"assigned":   "Image assigned: the machines boot it at their next boot.",
	"unassigned": "Assignment removed: the machines wait at their next boot.",
	"renamed":    "Machine renamed.",
	"reset":      "Disk reset: the machine sees its base image again at its next boot.",
}

// machineView is a row of the machines page: the machine and its served disks.
type machineView struct {
	Machine
	Disks []diskView
}

// diskView is one overlay of a machine.
type diskView struct {
	Image    string
	Size     string // human-readable file size
	Bytes    int64
	InUse    bool
	Removed  bool // its image no longer exists (the overlay is kept)
	Assigned bool // the machine's current image
}

// humanSize prints n bytes in binary units.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func (a *adminSide) machinesPage(w http.ResponseWriter, r *http.Request, s *session) {
	done := r.URL.Query().Get("done")
	if _, ok := notices[done]; !ok {
		done = ""
	}
	a.machines(w, http.StatusOK, s, done, "")
}

// machines renders the machines page; done names a notice of the notices map.
func (a *adminSide) machines(w http.ResponseWriter, status int, s *session, done, errMsg string) {
	res, err := a.images.Load()
	if err != nil {
		errMsg = err.Error()
	}
	known := map[string]bool{}
	for _, img := range res.Images {
		known[img.Name] = true
	}
	var disks map[string][]sanfleet.Overlay
	if a.san != nil {
		if disks, err = a.san.overlays(); err != nil {
			errMsg = err.Error()
		}
	}
	var rows []machineView
	for _, m := range a.store.Machines() {
		v := machineView{Machine: m}
		for _, o := range disks[m.MAC] {
			v.Disks = append(v.Disks, diskView{Image: o.Image, Size: humanSize(o.Size), Bytes: o.Size, InUse: o.InUse,
				Removed: !known[o.Image], Assigned: o.Image == m.Image})
		}
		rows = append(rows, v)
	}
	a.render(w, status, "machines.html", map[string]any{
		"CSRF": s.csrf, "Machines": rows, "Images": res.Images, "SAN": a.san != nil, "Wait": a.boot.wait.String(),
		"Notice": notices[done], "Done": done, "Error": errMsg, "Page": "machines",
	})
}

type imageView struct {
	*Image
	Script string
	Kind   string
}

func (a *adminSide) imagesPage(w http.ResponseWriter, r *http.Request, s *session) {
	res, err := a.images.Load()
	errMsg := ""
	if err != nil {
		errMsg = err.Error()
	}
	var views []imageView
	for _, img := range res.Images {
		var st *sanTarget
		if img.Base != "" && a.san != nil {
			st = a.san.target(img, net.HardwareAddr{0x52, 0x54, 0x00, 0x00, 0x00, 0x01})
		}
		sc, err := img.script(a.boot.base, "", a.boot.again, st, false)
		v := imageView{Image: img, Kind: img.Kind()}
		if img.Base != "" && a.san == nil {
			err = ErrNoSAN
		}
		if err != nil {
			v.Script = "error: " + err.Error()
		} else {
			v.Script = sc.String()
		}
		views = append(views, v)
	}
	a.render(w, http.StatusOK, "images.html", map[string]any{
		"CSRF": s.csrf, "Images": views, "Invalid": res.Errors, "Error": errMsg, "Page": "images",
		"Bootstrap": a.boot.base + "/bootstrap.ipxe",
	})
}

// assign handles the machines page's form: action=assign with an image, or
// action=unassign, for every checked MAC.
func (a *adminSide) assign(w http.ResponseWriter, r *http.Request, s *session) {
	var macs []string
	for _, v := range r.PostForm["mac"] {
		mac, err := ParseMAC(v)
		if err != nil {
			a.machines(w, http.StatusBadRequest, s, "", err.Error())
			return
		}
		macs = append(macs, mac)
	}
	if len(macs) == 0 {
		a.machines(w, http.StatusBadRequest, s, "", "Select at least one machine.")
		return
	}
	image, done := "", "unassigned"
	switch r.PostForm.Get("action") {
	case "assign":
		image, done = r.PostForm.Get("image"), "assigned"
		if _, err := a.images.Get(image); err != nil {
			a.machines(w, http.StatusBadRequest, s, "", "Cannot assign: "+err.Error())
			return
		}
	case "unassign":
	default:
		a.machines(w, http.StatusBadRequest, s, "", "Unknown action.")
		return
	}
	if err := a.store.Assign(macs, image); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, ErrUnknownMachine) || errors.Is(err, ErrInvalid) {
			status = http.StatusBadRequest
		}
		a.machines(w, status, s, "", err.Error())
		return
	}
	a.log.Info("assign", "macs", macs, "image", image, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/admin/?done="+done, http.StatusSeeOther)
}

// reset throws away one machine's changes to one served disk. It is refused
// while the machine is logged in to that disk.
func (a *adminSide) reset(w http.ResponseWriter, r *http.Request, s *session) {
	if a.san == nil {
		a.machines(w, http.StatusBadRequest, s, "", "This pool serves no disks (-iscsi off).")
		return
	}
	mac, err := ParseMAC(r.PostForm.Get("mac"))
	if err != nil {
		a.machines(w, http.StatusBadRequest, s, "", err.Error())
		return
	}
	image := r.PostForm.Get("image")
	if err := ValidImageName(image); err != nil {
		a.machines(w, http.StatusBadRequest, s, "", err.Error())
		return
	}
	hw, _ := net.ParseMAC(mac)
	err = a.san.fleet.Reset(image, hw)
	if err != nil && !errors.Is(err, sanfleet.ErrInUse) && !errors.Is(err, sanfleet.ErrNoOverlay) {
		if img, gerr := a.images.Get(image); gerr != nil || img.Base == "" {
			// Resetting needs the base the overlay was made on.
			a.machines(w, http.StatusBadRequest, s, "", "Not reset: image "+image+" is no longer a base image; its overlay file "+
				a.san.fleet.OverlayPath(image, hw)+" is kept. Delete that file to throw the disk away.")
			return
		}
	}
	switch {
	case errors.Is(err, sanfleet.ErrInUse):
		a.machines(w, http.StatusConflict, s, "", "Not reset: machine "+mac+" is logged in to its "+image+" disk. Power it off (or let it reboot into another image) first.")
		return
	case errors.Is(err, sanfleet.ErrNoOverlay), errors.Is(err, sanfleet.ErrBadName):
		a.machines(w, http.StatusBadRequest, s, "", "Not reset: "+err.Error())
		return
	case err != nil:
		a.machines(w, http.StatusInternalServerError, s, "", "Not reset: "+err.Error())
		return
	}
	a.log.Info("reset", "mac", mac, "image", image, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/admin/?done=reset", http.StatusSeeOther)
}

func (a *adminSide) rename(w http.ResponseWriter, r *http.Request, s *session) {
	mac, err := ParseMAC(r.PostForm.Get("mac"))
	if err == nil {
		err = a.store.Rename(mac, r.PostForm.Get("name"))
	}
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, ErrUnknownMachine) || errors.Is(err, ErrInvalid) {
			status = http.StatusBadRequest
		}
		a.machines(w, status, s, "", err.Error())
		return
	}
	a.log.Info("rename", "mac", mac, "name", r.PostForm.Get("name"), "remote", r.RemoteAddr)
	http.Redirect(w, r, "/admin/?done=renamed", http.StatusSeeOther)
}
