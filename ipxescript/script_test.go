package ipxescript

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roundTrip asserts that a built script parses back to an equal model.
func roundTrip(t *testing.T, s *Script) {
	t.Helper()
	require.NoError(t, s.Err())
	text := s.String()
	require.NotEmpty(t, text)
	p, err := ParseString(text)
	require.NoError(t, err, "script:\n%s", text)
	assert.Equal(t, s, p, "Parse(String(s)) equals s")
	assert.Equal(t, text, p.String())
}

// Scripts from the helpers use only what Debian's 2019 iPXE has: Lint has
// nothing to say about them (the documented exceptions aside).
func TestHelpersLintClean(t *testing.T) {
	clean := map[string]*Script{
		"linux": New().LinuxBoot(Linux{Kernel: "http://s/k", Initrds: []string{"http://s/i"}, Args: []string{"quiet"}}),
		"retry": New().Retry(Retry{Label: "r", Attempts: 3, Delay: time.Second, MaxDelay: 4 * time.Second},
			func(s *Script) { s.DHCP() }),
		"retry forever": New().Retry(Retry{Label: "r"}, func(s *Script) { s.Chain(Image{URL: "http://s/x"}) }),
		"menu": New().Menu(Menu{Title: "t", Items: []MenuItem{{Label: "a", Text: "A"}, {Text: "g"}}, Default: "a",
			Timeout: time.Second, Cancel: "a"}).Label("a"),
		"conditions": New().IfEq(Var("platform"), "efi", "a", "b").IfSet(Var("x"), "a", "b").Label("a").Label("b"),
		"san":        New().Sanboot(SAN{URIs: []string{"iscsi:192.0.2.1::::iqn.a:b"}, Drive: 0x80, Keep: true, Filename: `\x.efi`}),
		"bootstrap":  Bootstrap{URL: "http://192.0.2.1/boot.ipxe", DHCP: true}.Script(),
		"local":      New().LocalBoot(),
		"prompt":     New().Prompt(Prompt{Text: "Press", Key: "0x02", Timeout: time.Second}).OrGoto("x").Label("x"),
	}
	for name, s := range clean {
		require.NoError(t, s.Err(), name)
		diags, err := Lint(strings.NewReader(s.String()))
		require.NoError(t, err)
		assert.Empty(t, diags, "%s:\n%s", name, s.String())
	}
	// The documented exceptions do warn.
	for name, s := range map[string]*Script{
		"verify": New().LinuxBoot(Linux{Kernel: "http://s/k", Verify: true}),
		"params": New().Params(""),
		"trust":  New().Imgtrust(Trust{}),
		"uuid":   New().Sanboot(SAN{UUID: "x"}),
	} {
		diags, _ := Lint(strings.NewReader(s.String()))
		assert.NotEmpty(t, diags, name)
	}
}

func TestBuilderGolden(t *testing.T) {
	tests := []struct {
		name  string
		build func(s *Script)
		want  string // lines after "#!ipxe"
	}{
		{"dhcp", func(s *Script) { s.DHCP() }, "dhcp"},
		{"dhcp iface", func(s *Script) { s.DHCP("net1") }, "dhcp net1"},
		{"set", func(s *Script) { s.Set("hostname", "node-1") }, "set hostname node-1"},
		{"set words", func(s *Script) { s.Set("motd", "hello world") }, "set motd hello world"},
		{"set typed", func(s *Script) { s.Set("n:int32", "5") }, "set n:int32 5"},
		{"set delete", func(s *Script) { s.Set("x", "") }, "set x"},
		{"set expr", func(s *Script) { s.SetExpr("m", Var("net0/mac")) }, "set m ${net0/mac}"},
		{"clear", func(s *Script) { s.Clear("x") }, "clear x"},
		{"inc", func(s *Script) { s.Inc("x", 1).Inc("x", 3) }, "inc x\ninc x 3"},
		{"echo", func(s *Script) { s.Echo("  Booting   node-1  ") }, "echo Booting node-1"},
		{"echo empty", func(s *Script) { s.Echo("") }, "echo"},
		{"echo dash", func(s *Script) { s.Echo("-n is literal") }, "echo -- -n is literal"},
		{"echo expr", func(s *Script) { s.EchoExpr("MAC", Var("netX/mac")) }, "echo MAC ${netX/mac}"},
		{"prompt", func(s *Script) {
			s.Prompt(Prompt{Text: "Press Ctrl-B", Key: "0x02", Timeout: 1500 * time.Millisecond}).OrGoto("skip").Label("skip")
		}, "prompt --key 0x02 --timeout 1500 Press Ctrl-B || goto skip\n:skip"},
		{"prompt dash key", func(s *Script) { s.Prompt(Prompt{Key: "-"}) }, "prompt --key=-"},
		{"sleep rounds up", func(s *Script) { s.Sleep(1500 * time.Millisecond) }, "sleep 2"},
		{"exit", func(s *Script) { s.Exit(0).Exit(3) }, "exit\nexit 3"},
		{"local boot", func(s *Script) { s.LocalBoot() }, "# boot from local disk: leave iPXE, the firmware tries the next boot device\nexit"},
		{"kernel", func(s *Script) {
			s.Kernel(Image{URL: "http://10.0.0.1/vmlinuz", Args: []string{"console=ttyS0,115200n8", "quiet"}})
		}, "kernel http://10.0.0.1/vmlinuz console=ttyS0,115200n8 quiet"},
		{"initrd named", func(s *Script) {
			s.Initrd(Image{URL: "http://10.0.0.1/initrd.img", Name: "initrd.img", Timeout: 30 * time.Second})
		}, "initrd --name initrd.img --timeout 30000 http://10.0.0.1/initrd.img"},
		{"imgfetch", func(s *Script) { s.Imgfetch(Image{URL: "tftp://10.0.0.1/x.bin"}) }, "imgfetch tftp://10.0.0.1/x.bin"},
		{"chain", func(s *Script) {
			s.Chain(Image{URL: "http://s/next.ipxe", Replace: true, Autofree: true}).OrGoto("failed").Label("failed")
		}, "chain --autofree --replace http://s/next.ipxe || goto failed\n:failed"},
		{"imgargs", func(s *Script) { s.Imgargs("vmlinuz", "root=/dev/nfs") }, "imgargs vmlinuz root=/dev/nfs"},
		{"boot", func(s *Script) { s.Boot().Boot("vmlinuz") }, "boot\nboot vmlinuz"},
		{"imgfree", func(s *Script) { s.Imgfree() }, "imgfree"},
		{"sanboot", func(s *Script) {
			s.Sanboot(SAN{URIs: []string{"iscsi:192.0.2.1::::iqn.2026-01.org.example:disk"}, Drive: 0x80,
				NoDescribe: false, Keep: true, Filename: `\EFI\BOOT\BOOTX64.EFI`})
		}, `sanboot --drive 0x80 --keep --filename=\EFI\BOOT\BOOTX64.EFI iscsi:192.0.2.1::::iqn.2026-01.org.example:disk`},
		{"sanboot hooked", func(s *Script) { s.Sanboot(SAN{Drive: 0x81}) }, "sanboot --drive 0x81"},
		{"sanhook multipath", func(s *Script) {
			s.Sanhook(SAN{URIs: []string{"iscsi:192.0.2.1::::iqn.a:b", "iscsi:192.0.2.2::::iqn.a:b"}, NoDescribe: true})
		}, "sanhook --no-describe iscsi:192.0.2.1::::iqn.a:b iscsi:192.0.2.2::::iqn.a:b"},
		{"sanunhook", func(s *Script) { s.Sanunhook(0).Sanunhook(0x80) }, "sanunhook\nsanunhook --drive 0x80"},
		{"ifeq", func(s *Script) {
			s.IfEq(Var("platform"), "efi", "uefi", "bios").Label("uefi").Label("bios")
		}, "iseq -- ${platform} efi && goto uefi || goto bios\n:uefi\n:bios"},
		{"ifset", func(s *Script) {
			s.IfSet(Var("hostname"), "named", "anon").Label("named").Label("anon")
		}, "isset -- ${hostname} && goto named || goto anon\n:named\n:anon"},
		{"params", func(s *Script) {
			s.Params("").Params("id").Param("id", "mac", "52:54:00:12:34:56")
		}, "params\nparams --name id\nparam --params id mac 52:54:00:12:34:56"},
		{"imgtrust", func(s *Script) { s.Imgtrust(Trust{}).Imgtrust(Trust{Allow: true, Permanent: true}) },
			"imgtrust\nimgtrust --allow --permanent"},
		{"imgverify", func(s *Script) {
			s.Imgverify(Verify{Image: "vmlinuz", Signature: "http://s/vmlinuz.sig", Signer: "boot.example.org"})
		}, "imgverify --signer=boot.example.org vmlinuz http://s/vmlinuz.sig"},
		{"comment and blank", func(s *Script) { s.Comment("hello").Blank().Comment("") }, "# hello\n\n"},
		{"cmd", func(s *Script) { s.Cmd("cpuid", "--ext", "29").AndGoto("x64").OrGoto("x86").Label("x64").Label("x86") },
			"cpuid --ext 29 && goto x64 || goto x86\n:x64\n:x86"},
		{"or exit and continue", func(s *Script) { s.DHCP().OrExit(1).DHCP().OrContinue() }, "dhcp || exit 1\ndhcp ||"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			tt.build(s)
			require.NoError(t, s.Err())
			assert.Equal(t, "#!ipxe\n"+tt.want+"\n", s.String())
			roundTrip(t, s)
		})
	}
}

func TestLinuxBootUEFIInitrdArgs(t *testing.T) {
	s := New().LinuxBoot(Linux{
		Kernel:  "http://s/fedora/vmlinuz",
		Initrds: []string{"http://s/fedora/initrd.img", "http://s/extra/initrd.img", "http://s/cgi?file=x"},
		Args:    []string{"ip=dhcp", "console=ttyS0"},
	})
	want := `#!ipxe
kernel --name vmlinuz http://s/fedora/vmlinuz initrd=initrd.img initrd=initrd1 initrd=cgi ip=dhcp console=ttyS0
initrd --name initrd.img http://s/fedora/initrd.img
initrd --name initrd1 http://s/extra/initrd.img
initrd --name cgi http://s/cgi?file=x
boot
`
	assert.Equal(t, want, s.String())
	roundTrip(t, s)

	// Every initrd named on the kernel line exists as an image name.
	p, err := ParseString(s.String())
	require.NoError(t, err)
	names := map[string]bool{}
	for _, l := range p.Lines[1:] {
		if l.Commands[0].Name == "initrd" {
			names[l.Commands[0].Args[1]] = true
		}
	}
	for _, a := range p.Lines[0].Commands[0].Args {
		if v, ok := strings.CutPrefix(a, "initrd="); ok {
			assert.True(t, names[v], "initrd=%s has no image", v)
		}
	}

	// Explicit initrd= arguments are not repeated; NoInitrdArgs turns it off.
	s = New().LinuxBoot(Linux{Kernel: "http://s/k", Initrds: []string{"http://s/i"}, Args: []string{"initrd=i"}})
	assert.Contains(t, s.String(), "kernel --name k http://s/k initrd=i\n")
	s = New().LinuxBoot(Linux{Kernel: "http://s/k", Initrds: []string{"http://s/i"}, NoInitrdArgs: true})
	assert.Contains(t, s.String(), "kernel --name k http://s/k\n")
	// A kernel URL without a usable file name still gets a name.
	s = New().LinuxBoot(Linux{Kernel: "http://s/"})
	assert.Contains(t, s.String(), "kernel --name kernel http://s/\n")
}

func TestLinuxBootVerify(t *testing.T) {
	s := New().Imgtrust(Trust{Permanent: true}).LinuxBoot(Linux{
		Kernel: "http://s/vmlinuz", Initrds: []string{"http://s/initrd?v=2"}, Verify: true, Signer: "boot-signer"})
	want := `#!ipxe
imgtrust --permanent
kernel --name vmlinuz http://s/vmlinuz initrd=initrd
imgverify --signer=boot-signer vmlinuz http://s/vmlinuz.sig
initrd --name initrd http://s/initrd?v=2
imgverify --signer=boot-signer initrd http://s/initrd.sig?v=2
boot
`
	assert.Equal(t, want, s.String())
	roundTrip(t, s)
}

func TestRetryLoop(t *testing.T) {
	s := New().Retry(Retry{Label: "fetch", Attempts: 3, Delay: 2 * time.Second, MaxDelay: 10 * time.Second, OnFail: "disk"},
		func(s *Script) {
			s.Kernel(Image{URL: "http://s/vmlinuz"})
			s.Comment("no command: copied as is")
			s.Initrd(Image{URL: "http://s/initrd"})
		}).Boot().Label("disk").LocalBoot()
	want := `#!ipxe
set fetch_try:int32 0
set fetch_wait:int32 2
:fetch
kernel http://s/vmlinuz || goto fetch_fail
# no command: copied as is
initrd http://s/initrd || goto fetch_fail
goto fetch_ok
:fetch_fail
inc fetch_try
iseq ${fetch_try} 3 && goto disk || goto fetch_wait
:fetch_wait
echo fetch: attempt ${fetch_try}/3 failed (error ${errno}) retrying in ${fetch_wait} s
sleep ${fetch_wait} || goto disk
iseq ${fetch_wait} 8 || inc fetch_wait ${fetch_wait}
goto fetch
:fetch_ok
boot
:disk
# boot from local disk: leave iPXE, the firmware tries the next boot device
exit
`
	assert.Equal(t, want, s.String())
	roundTrip(t, s)

	// Constant delay: no doubling line; no OnFail: own give-up label.
	s = New().Retry(Retry{Label: "r", Delay: 5 * time.Second}, func(s *Script) { s.DHCP() })
	assert.NotContains(t, s.String(), "inc r_wait")
	assert.Contains(t, s.String(), ":r_giveup\necho r: giving up\nexit 1\n")
	roundTrip(t, s)

	// Bad parameters are errors.
	assert.Error(t, New().Retry(Retry{}, nil).Err())
	assert.Error(t, New().Retry(Retry{Label: "x", Attempts: -1}, nil).Err())
	assert.ErrorIs(t, New().Retry(Retry{Label: "x"}, func(s *Script) { s.Echo("${x}") }).Err(), ErrUnsafe)
}

func TestMenu(t *testing.T) {
	s := New().Menu(Menu{
		Name: "main", Title: "Boot menu for node-1", Default: "linux", Timeout: 10 * time.Second, Cancel: "shell",
		Items: []MenuItem{
			{Text: "Operating systems"},
			{Label: "linux", Text: "Fedora 44", Key: "f"},
			{Label: "disk", Text: "Local disk", Key: "0x04"},
		},
	}).Label("linux").Exit(0).Label("disk").LocalBoot().Label("shell").Cmd("shell")
	want := `#!ipxe
menu --name main Boot menu for node-1
item --menu main --gap Operating systems
item --menu main --key f linux Fedora 44
item --menu main --key 0x04 disk Local disk
choose --menu main --default linux --timeout 10000 menu_choice && goto ${menu_choice} || goto shell
`
	assert.True(t, strings.HasPrefix(s.String(), want), s.String())
	roundTrip(t, s)

	assert.ErrorIs(t, New().Menu(Menu{Items: []MenuItem{{Label: "a b"}}}).Err(), ErrUnsafe)
	assert.ErrorIs(t, New().Menu(Menu{Items: []MenuItem{{Label: "a", Key: "ab"}}}).Err(), ErrUnsafe)
}

func TestBootstrap(t *testing.T) {
	s := Bootstrap{URL: "http://192.0.2.1:8080/boot.ipxe", DHCP: true}.Script()
	require.NoError(t, s.Err())
	text := s.String()
	assert.Contains(t, text, "\ndhcp || goto netboot_fail\n")
	assert.Contains(t, text, "\nchain --replace --autofree http://192.0.2.1:8080/boot.ipxe?mac=${netX/mac:hexhyp}&uuid=${uuid}&buildarch=${buildarch}&platform=${platform}&manufacturer=${manufacturer:uristring}&product=${product:uristring}&serial=${serial:uristring}&asset=${asset:uristring}&hostname=${hostname:uristring}&ip=${ip} || goto netboot_fail\n")
	assert.NotContains(t, text, "params")
	roundTrip(t, s)
	diags, err := Lint(strings.NewReader(text))
	require.NoError(t, err)
	assert.Empty(t, diags, "the first stage must lint clean (Debian-compatible)")

	u, err := IdentityURL("http://s/boot?site=a")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(u), "http://s/boot?site=a&mac="))

	for _, bad := range []string{"", "/boot.ipxe", "tftp://s/x", "http://s/x#frag", "http://s/$x", "http://s/a b"} {
		assert.Error(t, Bootstrap{URL: bad}.Script().Err(), bad)
	}
}

func TestStickyError(t *testing.T) {
	s := New().Echo("ok").Set("bad name", "x").Echo("later")
	require.Error(t, s.Err())
	assert.Len(t, s.Lines, 1, "calls after an error are no-ops")
	assert.Equal(t, "", s.String())
	n, err := s.WriteTo(&bytes.Buffer{})
	assert.Zero(t, n)
	assert.Equal(t, s.Err(), err)
	_, err = s.MarshalText()
	assert.Error(t, err)

	// Append carries errors and lines.
	a := New().Echo("a")
	a.Append(New().Echo("b"))
	assert.Len(t, a.Lines, 2)
	a.Append(New().Goto("-x"))
	assert.ErrorIs(t, a.Err(), ErrUnsafe)
}

func TestWriteToValidatesHandEditedLines(t *testing.T) {
	tests := []Line{
		{Commands: []Command{{Name: "echo", Args: []string{"a\nreboot"}}}},
		{Commands: []Command{{Name: "echo", Args: []string{"a b"}}}},
		{Commands: []Command{{Name: "echo", Args: []string{"#x"}}}},
		{Commands: []Command{{Name: "echo", Args: []string{"&&"}}}},
		{Commands: []Command{{Name: "echo", Args: []string{`x\`}}}},
		{Commands: []Command{{Name: ":label"}}},
		{Commands: []Command{{Op: OpAnd, Name: "echo"}}},
		{Commands: []Command{{Name: "echo"}, {Name: "echo"}}},
		{Commands: []Command{{Name: "", Args: []string{"x"}}}},
		{Commands: []Command{{}}},
		{Label: "a b"},
		{Label: "a\n"},
		{Comment: "x\nreboot"},
		{Comment: `x\`},
		{Label: `x\`},
	}
	for _, l := range tests {
		s := &Script{Lines: []Line{l}}
		_, err := s.WriteTo(&bytes.Buffer{})
		var ve *ValueError
		assert.True(t, errors.As(err, &ve), "%#v: %v", l, err)
		assert.ErrorIs(t, err, ErrUnsafe)
	}
	// Empty commands after separators are fine.
	s := &Script{Lines: []Line{{Label: "a", Commands: []Command{{}, {Op: OpSeq, Name: "echo"}}}}}
	assert.Equal(t, "#!ipxe\n:a ; echo\n", s.String())
	roundTrip(t, s)
}
