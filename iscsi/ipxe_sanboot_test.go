package iscsi

// End to end with iPXE in QEMU (internal/lab): SeaBIOS's e1000 iPXE ROM
// fetches a script over HTTP and runs `sanboot iscsi:…` against this
// package's target with mutual CHAP; the disk's boot sector prints a marker
// on the serial port. QEMU user networking (restrict=on) forwards the
// guest's 10.0.2.100:80 and :3260 to loopback servers, so no root is needed.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/netbootkit/netboot/internal/lab"
)

// bootSector is a 512-byte MBR that writes "SANBOOT-OK from LBA0" to COM1
// (port 0x3F8) and halts. Loaded at 0x7C00; the message starts at 0x7C11.
func bootSector() []byte {
	code := []byte{
		0xBA, 0xF8, 0x03, // mov dx, 0x3f8
		0xBE, 0x11, 0x7C, // mov si, msg
		0xAC,       // loop: lodsb
		0x84, 0xC0, // test al, al
		0x74, 0x03, // jz done
		0xEE,       // out dx, al
		0xEB, 0xF8, // jmp loop
		0xF4,       // done: hlt
		0xEB, 0xFD, // jmp done
	}
	b := make([]byte, 512)
	copy(b, code)
	copy(b[len(code):], "\r\nSANBOOT-OK from LBA0\r\n\x00")
	b[510], b[511] = 0x55, 0xAA
	return b
}

func TestIPXESanboot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU")
	}
	lab.Require(t, "qemu-system-x86_64", lab.IPXEROMDir)
	const (
		iqn       = "iqn.2026-01.org.netboot:sanboot"
		initiator = "iqn.2026-01.org.netboot:ipxe-client"
	)
	img := filepath.Join(t.TempDir(), "boot.img")
	// At least a few 255×63 cylinders: BIOS INT 13h reads by CHS, and a disk
	// smaller than one cylinder has none (iPXE then fails the MBR read).
	require.NoError(t, os.WriteFile(img, bootSector(), 0o600))
	require.NoError(t, os.Truncate(img, 64<<20))
	dev, err := OpenFile(img, true)
	require.NoError(t, err)
	defer dev.Close()

	var mu sync.Mutex
	var logins []LoginEvent
	var reads atomic.Int64
	srv := &Server{
		Targets: []*Target{{Name: iqn, LUNs: []LUN{{Device: dev}}, Initiators: []string{initiator},
			CHAP: &CHAP{User: "ipxeuser", Secret: "ipxesecret12", MutualUser: "tgtuser", MutualSecret: "targetsecret34"}}},
		OnLogin: func(e LoginEvent) {
			mu.Lock()
			logins = append(logins, e)
			mu.Unlock()
		},
		OnIO: func(e IOEvent) {
			if e.Opcode == opRead10 || e.Opcode == opRead16 {
				reads.Add(int64(e.Bytes))
			}
		},
	}
	iscsiAddr := startServer(t, srv)
	_, iscsiPort, _ := net.SplitHostPort(iscsiAddr)

	script := strings.Join([]string{
		"#!ipxe",
		"set initiator-iqn " + initiator,
		"set username ipxeuser",
		"set password ipxesecret12",
		"set reverse-username tgtuser",
		"set reverse-password targetsecret34",
		"sanboot iscsi:10.0.2.100::3260:0:" + iqn + " || goto failed",
		":failed",
		"echo sanboot-failed",
		"poweroff",
	}, "\n") + "\n"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := &http.Server{ReadHeaderTimeout: 30 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(script))
	})}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	httpPort := l.Addr().(*net.TCPAddr).Port

	netdev := fmt.Sprintf("user,id=sannet,restrict=on,hostname=client,bootfile=http://10.0.2.100/boot.ipxe,"+
		"guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:%d,guestfwd=tcp:10.0.2.100:3260-tcp:127.0.0.1:%s", httpPort, iscsiPort)
	vm := lab.Boot(t, lab.Machine{
		Name: "iscsi-sanboot",
		Args: []string{"-netdev", netdev, "-device", "e1000,netdev=sannet,mac=52:54:00:12:34:56,bootindex=1"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m, err := vm.WaitForRegexp(ctx, regexp.MustCompile(`SANBOOT-OK from LBA0|sanboot-failed`))
	require.NoError(t, err, "serial:\n%s", vm.Output())
	require.Equal(t, "SANBOOT-OK from LBA0", m[0], "iPXE sanboot failed:\n%s", vm.Output())

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, logins)
	assert.Equal(t, initiator, logins[len(logins)-1].InitiatorName)
	assert.NoError(t, logins[len(logins)-1].Err)
	assert.GreaterOrEqual(t, reads.Load(), int64(512), "iPXE read the boot sector")
}
