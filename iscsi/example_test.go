package iscsi_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/netbootkit/netboot/iscsi"
)

// Serve a file as LUN 0 of one target.
func ExampleServer() {
	dir, _ := os.MkdirTemp("", "iscsi-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "disk.img")
	os.WriteFile(path, make([]byte, 1<<20), 0o600)

	dev, err := iscsi.OpenFile(path, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer dev.Close()
	srv := &iscsi.Server{Targets: []*iscsi.Target{{
		Name: "iqn.2026-01.org.example:disk",
		LUNs: []iscsi.LUN{{Device: dev}},
	}}}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()

	srv.Shutdown(context.Background())
	fmt.Println(errors.Is(<-done, iscsi.ErrServerClosed))
	// Output: true
}

// Give each machine its own disk behind one target name.
func ExampleServer_lookup() {
	disks := map[string]*iscsi.Target{} // initiator name → that machine's target
	srv := &iscsi.Server{
		Lookup: func(ctx context.Context, initiator, target string) (*iscsi.Target, error) {
			t, ok := disks[initiator]
			if !ok || target != "iqn.2026-01.org.example:root" {
				return nil, iscsi.ErrTargetNotFound
			}
			return t, nil
		},
	}
	_ = srv
	fmt.Println(len(disks))
	// Output: 0
}

// CHAP secrets must be 12 to 16 bytes, as Windows initiators require.
func ExampleCHAP_Validate() {
	fmt.Println((&iscsi.CHAP{User: "host1", Secret: "short"}).Validate() != nil)
	fmt.Println((&iscsi.CHAP{User: "host1", Secret: "twelve+bytes"}).Validate())
	// Output:
	// true
	// <nil>
}

// Decode the block range of a READ(10) command.
func ExampleParseCDB() {
	c, _ := iscsi.ParseCDB([]byte{0x28, 0x08, 0, 0, 0x10, 0, 0, 0, 8, 0})
	fmt.Println(c.LBA, c.Length, c.FUA())
	// Output: 4096 8 true
}

// Encode and decode login text.
func ExampleParseText() {
	b := iscsi.AppendText(nil, iscsi.KeyValue{Key: "InitiatorName", Value: "iqn.2026-01.org.example:host1"},
		iscsi.KeyValue{Key: "AuthMethod", Value: "CHAP,None"})
	kvs, _ := iscsi.ParseText(b)
	for _, kv := range kvs {
		fmt.Printf("%s=%s\n", kv.Key, kv.Value)
	}
	// Output:
	// InitiatorName=iqn.2026-01.org.example:host1
	// AuthMethod=CHAP,None
}
