package tftpserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strings"
)

// Sentinel errors. Handlers may return them (wrapped or not); the server
// maps them to the message of the TFTP ERROR packet it sends. Test for
// them with [errors.Is].
var (
	// ErrUnsafeName reports a file name refused by [CleanName].
	ErrUnsafeName = errors.New("tftpserve: unsafe file name")
	// ErrBusy reports a request that waited longer than
	// [Server.QueueTimeout] for a free transfer slot.
	ErrBusy = errors.New("tftpserve: too many transfers")
	// ErrWriteRefused reports a write request (WRQ) to a server that
	// has no [Server.WriteHandler].
	ErrWriteRefused = errors.New("tftpserve: write requests are not accepted")
	// ErrServerClosed is returned by Serve and ListenAndServe after
	// Shutdown or Close, and ends queued and aborted transfers.
	ErrServerClosed = errors.New("tftpserve: server closed")
	// ErrNoHandler is returned by Serve when neither Handler nor Root
	// is set.
	ErrNoHandler = errors.New("tftpserve: no Handler and no Root")
	// ErrClientAborted is wrapped in Transfer.Err when the client ended
	// a transfer with an ERROR packet. UEFI firmware (EDK2) does so on
	// purpose: it asks for tsize, reads the OACK, answers ERROR 8 and
	// asks again. It is logged at Info level, not as a failure.
	// (pin/tftp answers that ERROR with an ERROR of its own.)
	ErrClientAborted = errors.New("tftpserve: client ended the transfer")
	// ErrConfig is returned by Serve for contradictory settings.
	ErrConfig = errors.New("tftpserve: invalid configuration")
	// errDuplicate ends a retransmitted request while the original
	// is still queued or running.
	errDuplicate = errors.New("tftpserve: duplicate request")
	// errRead replaces read errors of a Body so that no internal text
	// (paths, errno strings) reaches the client.
	errRead = errors.New("read error")
)

// Request is a TFTP read or write request as a [Handler] sees it.
type Request struct {
	// Name is the cleaned file name (see [CleanName]): valid for
	// [io/fs], relative, never escaping. A [ServeMux] route may have
	// stripped a prefix from it.
	Name string
	// RawName is the name exactly as the client sent it.
	RawName string
	// RemoteAddr is the client's address and port (its transfer ID).
	RemoteAddr netip.AddrPort
	// LocalAddr is the server address the request was sent to, when
	// the operating system reports it (the zero Addr otherwise).
	LocalAddr netip.Addr
	// MAC is the client's hardware address when a route learnt it from
	// the name (a [ServeMux] MAC route, or a PXELINUX "01-<mac>" name);
	// nil otherwise. TFTP itself never carries it.
	MAC net.HardwareAddr
}

// Content is what a [Handler] serves: a body and its exact size.
type Content struct {
	// Body is read to io.EOF. If it also implements io.Closer, the
	// server closes it when the transfer ends.
	Body io.Reader
	// Size is the exact number of bytes Body yields. It answers the
	// tsize option (RFC 2349), which UEFI and iPXE clients use to size
	// their buffers. Use -1 when unknown: the server then seeks Body if
	// it is an io.Seeker, and otherwise leaves tsize unanswered.
	Size int64
}

// Bytes returns Content serving b. It is the simplest way to serve
// generated files such as per-machine configs.
func Bytes(b []byte) Content { return Content{Body: bytes.NewReader(b), Size: int64(len(b))} }

// String returns Content serving s.
func String(s string) Content { return Content{Body: strings.NewReader(s), Size: int64(len(s))} }

// A Handler answers read requests. ServeTFTP runs before anything is sent
// to the client, so an error becomes a plain TFTP ERROR packet and never
// follows an OACK (PXELINUX and some UEFI firmware break on that).
//
// Return an error wrapping [fs.ErrNotExist] for a missing file,
// [fs.ErrPermission] or [ErrUnsafeName] for a refusal; any other error is
// logged and reported to the client as "cannot read file", so internal
// details never go on the wire. ctx is cancelled when the server is
// closed.
type Handler interface {
	ServeTFTP(ctx context.Context, req *Request) (Content, error)
}

// HandlerFunc adapts a function to a [Handler].
type HandlerFunc func(ctx context.Context, req *Request) (Content, error)

// ServeTFTP calls f(ctx, req).
func (f HandlerFunc) ServeTFTP(ctx context.Context, req *Request) (Content, error) {
	return f(ctx, req)
}

// A WriteHandler accepts write requests (WRQ). Servers without one refuse
// every write. ReceiveTFTP must call data.WriteTo to receive the file;
// data may be asserted to github.com/pin/tftp/v3.IncomingTransfer to
// learn the announced size.
type WriteHandler interface {
	ReceiveTFTP(ctx context.Context, req *Request, data io.WriterTo) error
}

// FileServer returns a Handler serving regular files from fsys under
// their cleaned names. Directories and special files (FIFOs, devices)
// are refused as not found, so a FIFO in the tree cannot stall a
// transfer slot.
//
// FileServer cannot stop symbolic links of an [os.DirFS] from pointing
// outside its directory; for a directory on disk use [OpenDir].
func FileServer(fsys fs.FS) Handler { return fileServer{fsys} }

type fileServer struct{ fsys fs.FS }

func (h fileServer) ServeTFTP(_ context.Context, req *Request) (Content, error) {
	fi, err := fs.Stat(h.fsys, req.Name)
	if err != nil {
		return Content{}, err
	}
	if !fi.Mode().IsRegular() {
		return Content{}, fmt.Errorf("%s: not a regular file: %w", req.Name, fs.ErrNotExist)
	}
	f, err := h.fsys.Open(req.Name)
	if err != nil {
		return Content{}, err
	}
	return Content{Body: f, Size: fi.Size()}, nil
}

// Dir serves a directory on disk through an [os.Root]: names are
// cleaned with [CleanName], and symbolic links are followed only while
// they stay inside the directory, so an absolute link such as Debian's
// /usr/lib/ipxe/ipxe.efi -> /boot/ipxe.efi is refused; serve such files
// with [File]. Create a Dir with [OpenDir]; it holds a directory
// descriptor until Close.
type Dir struct {
	root *os.Root
}

// OpenDir opens dir for serving.
func OpenDir(dir string) (*Dir, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("tftpserve: open root: %w", err)
	}
	return &Dir{root: r}, nil
}

// FS returns the directory as an [fs.FS] confined like Dir itself.
func (d *Dir) FS() fs.FS { return d.root.FS() }

// Close releases the directory.
func (d *Dir) Close() error { return d.root.Close() }

// ServeTFTP serves req.Name from the directory. Only regular files are
// served; the file is opened without blocking, so a FIFO cannot stall.
func (d *Dir) ServeTFTP(_ context.Context, req *Request) (Content, error) {
	f, err := d.root.OpenFile(req.Name, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			// A symbolic link leaving the root, a link loop, ...
			err = fmt.Errorf("%w: %w", fs.ErrPermission, err)
		}
		return Content{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return Content{}, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return Content{}, fmt.Errorf("%s: not a regular file: %w", req.Name, fs.ErrNotExist)
	}
	return Content{Body: f, Size: fi.Size()}, nil
}

// clientMessage is the text of the ERROR packet for err. It never
// contains err's own text, which may hold paths or errno strings.
func clientMessage(err error) string {
	switch {
	case errors.Is(err, ErrUnsafeName):
		return "access violation: file name refused"
	case errors.Is(err, ErrWriteRefused):
		return "access violation: write requests are not accepted"
	case errors.Is(err, fs.ErrPermission):
		return "access violation"
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrInvalid):
		return "file not found"
	case errors.Is(err, ErrBusy):
		return "server busy, try again later"
	case errors.Is(err, ErrServerClosed), errors.Is(err, context.Canceled):
		return "server shutting down"
	case errors.Is(err, errDuplicate):
		return "duplicate request"
	default:
		return "cannot read file"
	}
}

// RFCErrorCode returns the TFTP error code (RFC 1350, RFC 2347) that
// describes err: 1 file not found, 2 access violation, 0 otherwise. The
// server logs it, but pin/tftp v3.2.0 puts code 1 in every ERROR packet
// it sends; clients see the difference only in the message text.
func RFCErrorCode(err error) uint16 {
	switch {
	case errors.Is(err, ErrUnsafeName), errors.Is(err, ErrWriteRefused), errors.Is(err, fs.ErrPermission):
		return 2
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrInvalid):
		return 1
	default:
		return 0
	}
}

// File returns a Handler that serves the file at path, whatever the
// request name: use it with a [ServeMux] exact route for a file the
// operator chose, such as
//
//	mux.Handle("ipxe.efi", tftpserve.File("/usr/lib/ipxe/ipxe.efi"))
//
// Symbolic links in path are followed (on Debian that file links to
// /boot/ipxe.efi, which [OpenDir] on /usr/lib/ipxe would refuse). The
// file is opened per request, so a replaced file is picked up; only
// regular files are served.
func File(path string) Handler {
	return HandlerFunc(func(_ context.Context, req *Request) (Content, error) {
		f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
		if err != nil {
			return Content{}, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return Content{}, err
		}
		if !fi.Mode().IsRegular() {
			f.Close()
			return Content{}, fmt.Errorf("%s: not a regular file: %w", req.Name, fs.ErrNotExist)
		}
		return Content{Body: f, Size: fi.Size()}, nil
	})
}
