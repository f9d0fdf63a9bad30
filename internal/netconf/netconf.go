// Package netconf holds the plumbing every reference server under examples/ needs
// and none of the protocol packages should carry: finding the boot interface and the
// address to advertise, reading an address range flag, explaining why a privileged
// port could not be bound, and logging HTTP requests.
package netconf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"
)

// DefaultRouteIface reads a /proc/net/route table and returns the interface of the
// IPv4 default route.
func DefaultRouteIface(procRoute io.Reader) (string, error) {
	sc := bufio.NewScanner(procRoute)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		if len(f) >= 8 && f[1] == "00000000" && f[7] == "00000000" {
			return f[0], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no IPv4 default route; name the boot interface with -iface")
}

// Resolve finds the boot interface and the IPv4 address to advertise on it. An empty
// iface means the interface of the default route; an empty addr means the
// interface's first IPv4 address. The errors name the flag (-iface, -addr) to use.
func Resolve(iface, addr string) (*net.Interface, netip.Addr, error) {
	if iface == "" {
		f, err := os.Open("/proc/net/route")
		if err != nil {
			return nil, netip.Addr{}, fmt.Errorf("finding the default route: %w", err)
		}
		iface, err = DefaultRouteIface(f)
		f.Close()
		if err != nil {
			return nil, netip.Addr{}, err
		}
	}
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("interface %q: %w (list them with `ip link`)", iface, err)
	}
	if addr != "" {
		a, err := netip.ParseAddr(addr)
		if err != nil || !a.Is4() {
			return nil, netip.Addr{}, fmt.Errorf("-addr %q is not an IPv4 address", addr)
		}
		return ifc, a, nil
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("addresses of %s: %w", iface, err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			return ifc, p.Addr(), nil
		}
	}
	return nil, netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address; give one with -addr", iface)
}

// Subnet returns the IPv4 network of ifc that holds addr, or addr/24 when none does
// (or ifc is nil).
func Subnet(ifc *net.Interface, addr netip.Addr) netip.Prefix {
	if ifc != nil {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Contains(addr) {
				return p.Masked()
			}
		}
	}
	return netip.PrefixFrom(addr, 24).Masked()
}

// ParseRange reads a -range value, FIRST-LAST, into two IPv4 addresses in order.
func ParseRange(s string) (first, last netip.Addr, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return first, last, fmt.Errorf("-range %q: want FIRST-LAST", s)
	}
	if first, err = netip.ParseAddr(strings.TrimSpace(a)); err != nil || !first.Is4() {
		return first, last, fmt.Errorf("-range %q: first address is not IPv4", s)
	}
	if last, err = netip.ParseAddr(strings.TrimSpace(b)); err != nil || !last.Is4() {
		return first, last, fmt.Errorf("-range %q: last address is not IPv4", s)
	}
	if last.Less(first) {
		return first, last, fmt.Errorf("-range %q: last address is before the first", s)
	}
	return first, last, nil
}

// BindError explains the usual reasons a listen on addr failed: a port below 1024
// without the privilege, or a port another server holds. cmd is how to run the
// program as root, e.g. "go run -exec sudo ./examples/minimal".
func BindError(what, addr, cmd string, err error) error {
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%s on %s: %w: ports below 1024 and DHCP need root (%s) or CAP_NET_BIND_SERVICE and CAP_NET_RAW", what, addr, err, cmd)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s on %s: %w: another server holds the port (stop it, or choose another address)", what, addr, err)
	}
	return fmt.Errorf("%s on %s: %w", what, addr, err)
}

// statusWriter records the status and size of an HTTP answer for LogHTTP.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// ReadFrom passes io.Copy through to the connection's own ReadFrom, so a file
// served with http.ServeContent still goes out with sendfile(2): hiding it
// costs two copies of every byte through user space, which in a 1000-machine
// boot storm starved DHCP and TFTP of CPU.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
	}
	w.bytes += n
	return n, err
}

// Unwrap gives http.ResponseController the underlying writer (Flush,
// deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// LogHTTP wraps h so that every request leaves one Info line in log: remote
// address, method, path, status, bytes sent and duration (the script a machine got,
// then each kernel and initrd it fetched).
func LogHTTP(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		log.Info("http", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "bytes", sw.bytes, "duration", time.Since(start).Round(time.Millisecond))
	})
}
