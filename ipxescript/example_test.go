package ipxescript_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing/fstest"
	"time"

	"github.com/netbootkit/netboot/ipxescript"
)

// Build a Linux boot script. The initrd gets a name and the kernel line
// gets the matching initrd= argument, which UEFI kernels need.
func Example() {
	s := ipxescript.New().
		Echo("Booting node-1").
		LinuxBoot(ipxescript.Linux{
			Kernel:  "http://192.0.2.1/fedora/vmlinuz",
			Initrds: []string{"http://192.0.2.1/fedora/initrd.img"},
			Args:    []string{"ip=dhcp", "console=ttyS0,115200n8"},
		})
	if _, err := s.WriteTo(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// #!ipxe
	// echo Booting node-1
	// kernel --name vmlinuz http://192.0.2.1/fedora/vmlinuz initrd=initrd.img ip=dhcp console=ttyS0,115200n8
	// initrd --name initrd.img http://192.0.2.1/fedora/initrd.img
	// boot
}

// Values from machines or users can never change the script: anything
// that would add a line, a command, a comment or a ${…} expansion is
// refused, and the script is not written at all.
func Example_hostileInput() {
	hostname := "x\nchain http://evil/"
	s := ipxescript.New().Set("hostname", hostname)
	fmt.Println(errors.Is(s.Err(), ipxescript.ErrUnsafe))
	fmt.Println(s.Err())
	fmt.Printf("%q\n", s.String())

	s = ipxescript.New().Kernel(ipxescript.Image{URL: "http://s/k", Args: []string{"root=${evil}"}})
	fmt.Println(s.Err())

	// For display only, Sanitize makes anything printable and inert.
	fmt.Println(ipxescript.Sanitize("bad ${x} #1 \\", 0))
	// Output:
	// true
	// ipxescript: value of hostname "x\nchain http://evil/": contains a newline
	// ""
	// ipxescript: kernel argument "root=${evil}": contains "$" (iPXE would expand ${…}; there is no escape)
	// bad ?{x} ?#1 ?
}

// A retry loop with back-off around the downloads, falling back to the
// local disk after three failed attempts.
func ExampleScript_Retry() {
	s := ipxescript.New().
		Retry(ipxescript.Retry{Label: "dl", Attempts: 3, Delay: 2 * time.Second, MaxDelay: 8 * time.Second, OnFail: "disk"},
			func(s *ipxescript.Script) {
				s.Kernel(ipxescript.Image{URL: "http://192.0.2.1/vmlinuz"})
			}).
		Boot().
		Label("disk").
		LocalBoot()
	fmt.Print(s)
	// Output:
	// #!ipxe
	// set dl_try:int32 0
	// set dl_wait:int32 2
	// :dl
	// kernel http://192.0.2.1/vmlinuz || goto dl_fail
	// goto dl_ok
	// :dl_fail
	// inc dl_try
	// iseq ${dl_try} 3 && goto disk || goto dl_wait
	// :dl_wait
	// echo dl: attempt ${dl_try}/3 failed (error ${errno}) retrying in ${dl_wait} s
	// sleep ${dl_wait} || goto disk
	// iseq ${dl_wait} 8 || inc dl_wait ${dl_wait}
	// goto dl
	// :dl_ok
	// boot
	// :disk
	// # boot from local disk: leave iPXE, the firmware tries the next boot device
	// exit
}

func ExampleScript_Menu() {
	s := ipxescript.New().
		Menu(ipxescript.Menu{
			Title:   "node-1",
			Default: "install",
			Timeout: 5 * time.Second,
			Items: []ipxescript.MenuItem{
				{Label: "install", Text: "Install Fedora", Key: "i"},
				{Label: "disk", Text: "Boot from disk", Key: "d"},
			},
		}).
		Label("install").Chain(ipxescript.Image{URL: "http://192.0.2.1/install.ipxe"}).
		Label("disk").LocalBoot()
	fmt.Print(s)
	// Output:
	// #!ipxe
	// menu node-1
	// item --key i install Install Fedora
	// item --key d disk Boot from disk
	// choose --default install --timeout 5000 menu_choice && goto ${menu_choice} || exit 1
	// :install
	// chain http://192.0.2.1/install.ipxe
	// :disk
	// # boot from local disk: leave iPXE, the firmware tries the next boot device
	// exit
}

// Boot Windows or Linux from iSCSI on UEFI: name the loader explicitly and
// keep the disk hooked (needed while installing onto it).
func ExampleScript_Sanboot() {
	s := ipxescript.New().Sanboot(ipxescript.SAN{
		URIs:     []string{"iscsi:192.0.2.1::::iqn.2026-01.org.example:node-1"},
		Keep:     true,
		Filename: `\EFI\BOOT\BOOTX64.EFI`,
	}).OrGoto("failed").
		Label("failed").Echo("sanboot failed").Exit(1)
	fmt.Print(s)
	// Output:
	// #!ipxe
	// sanboot --keep --filename=\EFI\BOOT\BOOTX64.EFI iscsi:192.0.2.1::::iqn.2026-01.org.example:node-1 || goto failed
	// :failed
	// echo sanboot failed
	// exit 1
}

// The first-stage script: served as the DHCP boot file name to iPXE (or
// embedded in it), it sends the machine's identity to the Handler.
func ExampleBootstrap() {
	s := ipxescript.Bootstrap{URL: "http://192.0.2.1:8080/boot.ipxe"}.Script()
	for _, l := range s.Lines {
		if c := l.Commands; len(c) > 0 && c[0].Name == "chain" {
			fmt.Println(strings.ReplaceAll(l.String(), "&", "\n  &"))
		}
	}
	// Output:
	// chain --replace --autofree http://192.0.2.1:8080/boot.ipxe?mac=${netX/mac:hexhyp}
	//   &uuid=${uuid}
	//   &buildarch=${buildarch}
	//   &platform=${platform}
	//   &manufacturer=${manufacturer:uristring}
	//   &product=${product:uristring}
	//   &serial=${serial:uristring}
	//   &asset=${asset:uristring}
	//   &hostname=${hostname:uristring}
	//   &ip=${ip} || goto netboot_fail
}

func ExampleParse() {
	_, err := ipxescript.Parse(strings.NewReader(`#!ipxe
dhcp
chain --bogus http://192.0.2.1/boot.ipxe
goto nowhere
sleep 08
`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, ipxescript.ErrMissingLabel))
	// Output:
	// 3:7: chain: unknown option --bogus
	// 4:6: goto: no label "nowhere" in the script
	// 5:7: sleep: invalid integer "08"
	// true
}

func ExampleLint() {
	diags, _ := ipxescript.Lint(strings.NewReader(`#!ipxe
isset ${next-server} && goto tftp
params
:tftp
echo "done"
`))
	for _, d := range diags {
		fmt.Println(d.Error())
	}
	// Output:
	// 2:1: warning: isset … without "||": when the condition is false the line fails and the script stops
	// 3:1: warning: "params" is missing from BIOS builds, Debian's iPXE and many vendor builds; pass values in the URL query instead
	// 5:6: warning: quotes are literal characters in iPXE (there is no quoting): "done"
}

// Serve one script per machine. iPXE always gets a script it can run; on a
// problem it prints the reason on the console and retries.
func ExampleHandler() {
	h := &ipxescript.Handler{
		Renderer: ipxescript.RenderFunc(func(ctx context.Context, m *ipxescript.Machine) (*ipxescript.Script, error) {
			if m.MAC.String() != "52:54:00:12:34:56" {
				return nil, ipxescript.ErrNotFound
			}
			return ipxescript.New().Echo("Hello " + m.MAC.String() + " (" + m.BuildArch + ")").
				Chain(ipxescript.Image{URL: "http://192.0.2.1/" + m.BuildArch + "/ipxe.efi"}), nil
		}),
		RetryDelay: 30 * time.Second,
	}
	for _, target := range []string{
		"/boot.ipxe?mac=52-54-00-12-34-56&buildarch=arm64",
		"/boot.ipxe?mac=52-54-00-00-00-01&buildarch=x86_64",
	} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("User-Agent", "iPXE/1.21.1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		fmt.Printf("%d\n%s", rec.Code, body)
	}
	// Output:
	// 200
	// #!ipxe
	// echo Hello 52:54:00:12:34:56 (arm64)
	// chain http://192.0.2.1/arm64/ipxe.efi
	// 200
	// #!ipxe
	// # netboot: the boot server could not give this machine a script
	// echo netboot: no boot configuration for 52:54:00:00:00:01
	// echo netboot: retrying in 30 seconds (attempt 1)
	// sleep 30 || exit 1
	// chain --autofree --replace /boot.ipxe?mac=52-54-00-00-00-01&buildarch=x86_64&retry=1
}

// Serve hand-written scripts from a directory: per machine, then
// default.ipxe, then a built-in default. Files are validated before they
// are served.
func ExampleFSRenderer() {
	files := fstest.MapFS{
		"52-54-00-12-34-56.ipxe": {Data: []byte("#!ipxe\nsanboot iscsi:192.0.2.1::::iqn.2026-01.org.example:node-1\n")},
		"default.ipxe":           {Data: []byte("#!ipxe\nchain http://192.0.2.1/menu.ipxe\n")},
	}
	r := &ipxescript.FSRenderer{FS: files, Default: ipxescript.New().LocalBoot()}
	for _, mac := range []string{"52:54:00:12:34:56", "52:54:00:00:00:01"} {
		hw, _ := net.ParseMAC(mac)
		s, err := r.RenderScript(context.Background(), &ipxescript.Machine{MAC: hw})
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Print(s.Lines[0].String(), "\n")
	}
	// Output:
	// sanboot iscsi:192.0.2.1::::iqn.2026-01.org.example:node-1
	// chain http://192.0.2.1/menu.ipxe
}
