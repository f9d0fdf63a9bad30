package cow_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"syscall"

	"github.com/netbootkit/netboot/cow"
)

// A base image shared by every client, one overlay per client.
func Example() {
	dir, _ := os.MkdirTemp("", "cow-example")
	defer os.RemoveAll(dir)

	// In a server: base, err := cow.OpenBase("/srv/images/debian.img")
	image := bytes.Repeat([]byte("base"), 1<<18) // 1 MiB
	base := cow.NewBase(bytes.NewReader(image), int64(len(image)))

	o, err := cow.Create(filepath.Join(dir, "client1.cow"), base, &cow.Options{ChunkSize: 4096})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := o.WriteAt([]byte("CLIENT"), 10); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 20)
	o.ReadAt(buf, 4)
	fmt.Printf("%s\n", buf)

	st := o.Stats()
	fmt.Println("changed chunks:", st.Chunks, "of", st.ChunkSize, "bytes")
	fmt.Println("base untouched:", string(image[8:20]))
	o.Close()
	// Output:
	// basebaCLIENTbasebase
	// changed chunks: 1 of 4096 bytes
	// base untouched: basebasebase
}

// Changes survive a restart: Open finds them in the overlay file.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "cow-example")
	defer os.RemoveAll(dir)
	base := cow.NewBase(bytes.NewReader(make([]byte, 1<<20)), 1<<20)
	path := filepath.Join(dir, "client.cow")

	o, _ := cow.Create(path, base, nil)
	o.WriteAt([]byte("persisted"), 123456)
	o.Sync() // what SYNCHRONIZE CACHE does; Close syncs too
	o.Close()

	// Another image is refused.
	other := cow.NewBase(bytes.NewReader(make([]byte, 2<<20)), 2<<20)
	_, err := cow.Open(path, other, nil)
	fmt.Println(errors.Is(err, cow.ErrBaseMismatch))

	o, err = cow.Open(path, base, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close()
	buf := make([]byte, 9)
	o.ReadAt(buf, 123456)
	fmt.Println(string(buf))
	// Output:
	// true
	// persisted
}

// A full overlay refuses only writes that need a new chunk, with an error
// that is also syscall.ENOSPC; reads go on.
func ExampleOptions_maxSize() {
	dir, _ := os.MkdirTemp("", "cow-example")
	defer os.RemoveAll(dir)
	base := cow.NewBase(bytes.NewReader(make([]byte, 1<<20)), 1<<20)

	// Header + one metadata area + two data chunks.
	o, _ := cow.Create(filepath.Join(dir, "small.cow"), base, &cow.Options{ChunkSize: 4096, MaxSize: 4 * 4096})
	defer o.Close()
	_, err1 := o.WriteAt([]byte("a"), 0)
	_, err2 := o.WriteAt([]byte("b"), 4096)
	_, err3 := o.WriteAt([]byte("c"), 8192)
	fmt.Println(err1, err2, errors.Is(err3, syscall.ENOSPC))
	_, err4 := o.WriteAt([]byte("d"), 1) // chunk 0 is already copied
	fmt.Println(err4)
	// Output:
	// <nil> <nil> true
	// <nil>
}

// Transient overlays (dm's "N") keep nothing: a stateless client starts
// from the base on every boot. Reset does the same for any overlay.
func ExampleCreateTransient() {
	base := cow.NewBase(bytes.NewReader(bytes.Repeat([]byte{'.'}, 8192)), 8192)
	o, err := cow.CreateTransient("", base, &cow.Options{ChunkSize: 4096})
	if err != nil {
		log.Fatal(err)
	}
	defer o.Close()
	o.WriteAt([]byte("scratch"), 0)
	buf := make([]byte, 8)
	o.ReadAt(buf, 0)
	fmt.Printf("%s\n", buf)
	o.Reset()
	o.ReadAt(buf, 0)
	fmt.Printf("%s\n", buf)
	// Output:
	// scratch.
	// ........
}
