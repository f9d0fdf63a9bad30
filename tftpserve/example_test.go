package tftpserve_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/netip"
	"testing/fstest"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/netbootkit/netboot/tftpserve"
)

// Serve a directory of boot files. OpenDir confines every request to the
// directory, symbolic links included.
func ExampleOpenDir() {
	dir, err := tftpserve.OpenDir("/var/lib/tftpboot")
	if err != nil {
		log.Print(err)
		return
	}
	defer dir.Close()
	srv := &tftpserve.Server{Handler: dir, MaxTransfers: 500}
	go srv.ListenAndServe(":69")
	defer srv.Shutdown(context.Background())
}

// A ServeMux serving iPXE binaries by name and a generated script per
// machine, fetched here with pin/tftp's client.
func ExampleServeMux() {
	binaries := fstest.MapFS{"undionly.kpxe": {Data: []byte("...kpxe...")}}
	mux := tftpserve.NewServeMux()
	mux.Handle("undionly.kpxe", tftpserve.FileServer(binaries))
	mux.HandleMAC(tftpserve.HandlerFunc(func(ctx context.Context, req *tftpserve.Request) (tftpserve.Content, error) {
		if req.Name != "boot.ipxe" {
			return tftpserve.Content{}, fs.ErrNotExist
		}
		return tftpserve.String("#!ipxe\nchain http://192.0.2.1/boot?mac=" + req.MAC.String() + "\n"), nil
	}))

	conn, err := tftpserve.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &tftpserve.Server{Handler: mux}
	go srv.Serve(conn)
	defer srv.Shutdown(context.Background())

	c, _ := tftp.NewClient(conn.LocalAddr().String())
	wt, err := c.Receive("52-54-00-12-34-56/boot.ipxe", "octet")
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	wt.WriteTo(&buf)
	fmt.Print(buf.String())
	// Output:
	// #!ipxe
	// chain http://192.0.2.1/boot?mac=52:54:00:12:34:56
}

// CleanName shows what a request name becomes, or why it is refused.
func ExampleCleanName() {
	for _, raw := range []string{`\boot\x64\wdsnbp.com`, "/pxelinux.cfg//default", "../etc/passwd", "%2e%2e/etc/passwd"} {
		name, err := tftpserve.CleanName(raw)
		fmt.Printf("%q -> %q %v\n", raw, name, err)
	}
	// Output:
	// "\\boot\\x64\\wdsnbp.com" -> "boot/x64/wdsnbp.com" <nil>
	// "/pxelinux.cfg//default" -> "pxelinux.cfg/default" <nil>
	// "../etc/passwd" -> "" tftpserve: unsafe file name: "../etc/passwd" has a ".." element
	// "%2e%2e/etc/passwd" -> "" tftpserve: unsafe file name: "%2e%2e/etc/passwd" decodes to a refused name
}

// PXELinux answers the PXELINUX config lookup: a menu per known machine,
// the default menu for the others.
func ExamplePXELinux() {
	menus := map[string]string{"52:54:00:12:34:56": "DEFAULT rescue\n"}
	h := &tftpserve.PXELinux{
		Config: func(ctx context.Context, req *tftpserve.Request, l tftpserve.PXELinuxLookup) (tftpserve.Content, error) {
			if l.Kind == tftpserve.PXELinuxMAC {
				if m, ok := menus[l.MAC.String()]; ok {
					return tftpserve.String(m), nil
				}
			}
			return tftpserve.Content{}, fs.ErrNotExist // the client tries its next name
		},
		Files: fstest.MapFS{"pxelinux.cfg/default": {Data: []byte("DEFAULT local\n")}},
	}
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	for _, name := range tftpserve.PXELinuxConfigNames("", "", mac, netip.MustParseAddr("192.0.2.10")) {
		c, err := h.ServeTFTP(context.Background(), &tftpserve.Request{Name: name})
		if err != nil {
			continue
		}
		var buf bytes.Buffer
		buf.ReadFrom(c.Body)
		fmt.Printf("%s: %s", name, buf.String())
		break
	}
	// Output:
	// pxelinux.cfg/01-52-54-00-12-34-56: DEFAULT rescue
}

// Hooks receive one record per transfer, for metrics or audit logs.
func ExampleServer_hooks() {
	done := make(chan tftpserve.Transfer, 1)
	srv := &tftpserve.Server{
		Root:          fstest.MapFS{"ipxe.efi": {Data: make([]byte, 3000)}},
		OnTransferEnd: func(t tftpserve.Transfer) { done <- t },
	}
	conn, _ := tftpserve.ListenPacket("udp", "127.0.0.1:0")
	go srv.Serve(conn)
	defer srv.Shutdown(context.Background())

	c, _ := tftp.NewClient(conn.LocalAddr().String())
	c.SetBlockSize(1468)
	wt, _ := c.Receive("ipxe.efi", "octet")
	wt.WriteTo(new(bytes.Buffer))
	select {
	case t := <-done:
		fmt.Println(t.Name, t.Bytes, t.BlockSize, t.Err)
	case <-time.After(10 * time.Second):
		fmt.Println("timeout")
	}
	// Output:
	// ipxe.efi 3000 1468 <nil>
}
