// Command netloadclient is the client side of internal/bench/netload's
// storms: it starts N simulated boot clients at once against one server and
// prints one JSON line with the time until the last one finished, the bytes
// received and the failures (errors, short reads, sha256 mismatches). The
// benchmark runs it inside the client network namespace, so its CPU and
// memory are not counted as the server's.
//
//	netloadclient tftp -addr 10.99.0.1:69 -blksize 1468 -clients 200 -file 8m.bin=SHA256
//	netloadclient http -clients 200 -file http://10.99.0.1/kernel=SHA256 -file http://10.99.0.1/initrd=SHA256
//
// Each TFTP client is pin/tftp's client (one socket per transfer, lock-step,
// retransmitting after -timeout); each HTTP client has its own connection
// (its own http.Transport) and fetches the files in order, like iPXE
// fetching a kernel then an initrd.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pin/tftp/v3"
)

// Result is the line netloadclient prints.
type Result struct {
	Clients  int     `json:"clients"`
	Seconds  float64 `json:"seconds"`
	Bytes    int64   `json:"bytes"`
	Failures int     `json:"failures"`
	// FirstError is the first failure's text, for the report.
	FirstError string `json:"first_error,omitempty"`
}

type fileFlag []struct{ name, sum string }

func (f *fileFlag) String() string { return fmt.Sprint(*f) }
func (f *fileFlag) Set(s string) error {
	name, sum, ok := strings.Cut(s, "=")
	if !ok || len(sum) != 64 {
		return errors.New("want NAME=SHA256HEX")
	}
	*f = append(*f, struct{ name, sum string }{name, sum})
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: netloadclient tftp|http [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	clients := fs.Int("clients", 200, "clients started at once")
	var files fileFlag
	fs.Var(&files, "file", "NAME=SHA256 to fetch (repeatable; fetched in order by every client)")
	addr := fs.String("addr", "", "TFTP server host:port")
	blksize := fs.Int("blksize", 1468, "TFTP block size requested")
	timeout := fs.Duration("timeout", 5*time.Second, "TFTP retransmission timeout")
	limit := fs.Duration("limit", 10*time.Minute, "give up after this long")
	_ = fs.Parse(os.Args[2:])
	if len(files) == 0 || *clients < 1 {
		fmt.Fprintln(os.Stderr, "netloadclient: need -file and -clients ≥ 1")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *limit)
	defer cancel()
	var fetch func(ctx context.Context, name string, w io.Writer) error
	switch os.Args[1] {
	case "tftp":
		fetch = func(ctx context.Context, name string, w io.Writer) error {
			c, err := tftp.NewClient(*addr)
			if err != nil {
				return err
			}
			c.SetBlockSize(*blksize)
			c.SetTimeout(*timeout)
			c.SetRetries(5)
			wt, err := c.Receive(name, "octet")
			if err != nil {
				return err
			}
			_, err = wt.WriteTo(w)
			return err
		}
	case "http":
		fetch = func(ctx context.Context, url string, w io.Writer) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := clientFromCtx(ctx).Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", url, resp.Status)
			}
			_, err = io.Copy(w, resp.Body)
			return err
		}
	default:
		fmt.Fprintln(os.Stderr, "netloadclient: unknown mode", os.Args[1])
		os.Exit(2)
	}
	res := storm(ctx, *clients, files, fetch, os.Args[1] == "http")
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

type clientKey struct{}

func clientFromCtx(ctx context.Context) *http.Client { return ctx.Value(clientKey{}).(*http.Client) }

// storm starts every client at once (they wait on one barrier) and returns
// when the last one is done.
func storm(ctx context.Context, n int, files fileFlag, fetch func(context.Context, string, io.Writer) error, httpClients bool) Result {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		res   = Result{Clients: n}
		start = make(chan struct{})
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		res.Failures++
		if res.FirstError == "" {
			res.FirstError = err.Error()
		}
	}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx := ctx
			if httpClients {
				tr := &http.Transport{DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext, DisableCompression: true, MaxIdleConnsPerHost: 1}
				defer tr.CloseIdleConnections()
				cctx = context.WithValue(ctx, clientKey{}, &http.Client{Transport: tr})
			}
			<-start
			for _, f := range files {
				h := sha256.New()
				cw := &countWriter{w: h}
				err := fetch(cctx, f.name, cw)
				mu.Lock()
				res.Bytes += cw.n
				mu.Unlock()
				if err == nil && hex.EncodeToString(h.Sum(nil)) != f.sum {
					err = fmt.Errorf("%s: sha256 mismatch after %d bytes", f.name, cw.n)
				}
				if err != nil {
					fail(err)
					return // a machine whose kernel failed does not fetch the initrd
				}
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	res.Seconds = time.Since(t0).Seconds()
	return res
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}
