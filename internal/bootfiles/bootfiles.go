// Package bootfiles is the file-serving side the reference servers under examples/
// share: the iPXE binaries over TFTP (and HTTP, for UEFI HTTP Boot), the first-stage
// script at /bootstrap.ipxe, each machine's script at /boot.ipxe through an
// ipxescript.Renderer, and the files of the admin's directory over both protocols.
package bootfiles

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/netbootkit/netboot/internal/netconf"
	"github.com/netbootkit/netboot/ipxescript"
	"github.com/netbootkit/netboot/tftpserve"
)

// NBPs returns the iPXE binaries dhcpboot's Chainload policy hands out, by name.
func NBPs() []string { return []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"} }

// CheckIPXE looks for the NBPs in ipxe (the -ipxe directory, named dir in messages):
// it warns about each missing one and fails when none is there.
func CheckIPXE(ipxe fs.FS, dir string, log *slog.Logger) error {
	found := 0
	for _, n := range NBPs() {
		if _, err := fs.Stat(ipxe, n); err == nil {
			found++
		} else {
			log.Warn("iPXE binary missing: clients that need it will fail", "file", dir+"/"+n)
		}
	}
	if found == 0 {
		return fmt.Errorf("-ipxe %s holds none of %v (install Debian's ipxe package)", dir, NBPs())
	}
	return nil
}

// Site describes what a reference server serves.
type Site struct {
	// IPXE holds the iPXE binaries. Use os.DirFS, not an os.Root: Debian's
	// /usr/lib/ipxe/ipxe.efi is a symbolic link to /boot/ipxe.efi. Only the NBPs
	// are served from it.
	IPXE fs.FS
	// Dir is the admin's directory (kernels, initrds, images), served whole over
	// HTTP and TFTP; nil serves nothing more. Use an os.Root's FS so nothing
	// escapes it.
	Dir fs.FS
	// URL is the server's external HTTP base, "http://host[:port]".
	URL string
	// Scripts renders each machine's script at /boot.ipxe.
	Scripts ipxescript.Renderer
	// Log gets one line per HTTP request and per refused script request.
	Log *slog.Logger
}

// TFTP serves the NBPs under their own names and everything else from Dir.
func (s *Site) TFTP() tftpserve.Handler {
	mux := tftpserve.NewServeMux()
	nbp := tftpserve.FileServer(s.IPXE)
	for _, n := range NBPs() {
		mux.Handle(n, nbp)
	}
	if s.Dir != nil {
		mux.Handle("/", tftpserve.FileServer(s.Dir))
	}
	return mux
}

// BootstrapURL is the short URL iPXE gets from DHCP: a DHCP option holds at most
// 255 bytes, and the identity URL /bootstrap.ipxe chains to is longer.
func (s *Site) BootstrapURL() string { return s.URL + "/bootstrap.ipxe" }

// HTTP serves /bootstrap.ipxe, /boot.ipxe (Scripts), /ipxe/<NBP> and Dir, logging
// every request.
func (s *Site) HTTP() (http.Handler, error) {
	if s.Scripts == nil {
		return nil, errors.New("bootfiles: no Scripts renderer")
	}
	boot := ipxescript.Bootstrap{URL: s.URL + "/boot.ipxe"}.Script()
	if err := boot.Err(); err != nil {
		return nil, err
	}
	bootText := boot.String()
	mux := http.NewServeMux()
	mux.HandleFunc("/bootstrap.ipxe", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, bootText)
	})
	mux.Handle("/boot.ipxe", &ipxescript.Handler{Renderer: s.Scripts, Logger: s.Log})
	nbp := http.StripPrefix("/ipxe/", FileServer(s.IPXE))
	for _, n := range NBPs() {
		mux.Handle("/ipxe/"+n, nbp)
	}
	if s.Dir != nil {
		mux.Handle("/", FileServer(s.Dir))
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no -dir configured: this server has only /bootstrap.ipxe, /boot.ipxe and /ipxe/", http.StatusNotFound)
		})
	}
	return netconf.LogHTTP(s.Log, mux), nil
}

// FileServer is http.FileServer(http.FS(fsys)) that serves regular files itself
// with http.ServeContent on the file fsys opened. When that is an *os.File (as
// from os.DirFS or an os.Root's FS), the bytes go out with sendfile(2):
// http.FS hides the *os.File behind a wrapper, so every byte of a kernel or
// initrd was copied through user space twice, and in a 1000-machine boot storm
// that CPU starved DHCP and TFTP. Everything else (directories, the
// index.html and trailing-slash redirects, errors) is left to http.FileServer,
// so answers are the same.
func FileServer(fsys fs.FS) http.Handler {
	return &fileServer{fsys: fsys, fallback: http.FileServer(http.FS(fsys))}
}

type fileServer struct {
	fsys     fs.FS
	fallback http.Handler
}

func (s *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || p == "" || p[len(p)-1] == '/' ||
		strings.HasSuffix(p, "/index.html") {
		s.fallback.ServeHTTP(w, r)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+p), "/")
	f, err := s.fsys.Open(name)
	if err != nil {
		s.fallback.ServeHTTP(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	rs, seekable := f.(io.ReadSeeker)
	if err != nil || !st.Mode().IsRegular() || !seekable {
		s.fallback.ServeHTTP(w, r)
		return
	}
	http.ServeContent(w, r, st.Name(), st.ModTime(), rs)
}
