package ipxescript

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// Linux describes a Linux (or other multiboot-free EFI stub) boot: one
// kernel, its initrds and its command line.
type Linux struct {
	Kernel  string   // kernel URL
	Initrds []string // initrd URLs, loaded in this order
	Args    []string // kernel command line, one literal token per element
	// NoInitrdArgs stops LinuxBoot from adding "initrd=<name>" for each
	// initrd. Only for kernels that must not see them.
	NoInitrdArgs bool
	// Verify checks every image with imgverify against a detached signature
	// at URL+".sig" before booting; Signer optionally pins the signing
	// certificate's common name. Needs an iPXE built with imgverify.
	Verify bool
	Signer string
}

// imageName derives a safe iPXE image name from a URL's last path segment.
func imageName(u string) string {
	p := u
	if pu, err := url.Parse(u); err == nil && pu.Path != "" {
		p = pu.Path
	} else if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	base := path.Base(p)
	if checkName("", base) != nil || base == "." || base == ".." {
		return ""
	}
	return base
}

// LinuxBoot appends the commands that boot a Linux kernel:
//
//	kernel --name vmlinuz http://srv/vmlinuz initrd=initrd.img console=ttyS0
//	initrd --name initrd.img http://srv/initrd.img
//	boot
//
// Every initrd gets an image name (its URL's file name when that is a safe,
// unique name, otherwise initrd0, initrd1, …) and, unless NoInitrdArgs is
// set, "initrd=<name>" is added to the kernel command line: the Linux EFI
// stub loads initrds named there, and without it a UEFI machine boots with
// no initrd (matchbox#977/#978). BIOS kernels ignore the extra arguments.
// Arguments that already name an initrd are not repeated.
func (s *Script) LinuxBoot(l Linux) *Script {
	if s.err != nil {
		return s
	}
	kname := imageName(l.Kernel)
	if kname == "" {
		kname = "kernel"
	}
	used := map[string]bool{kname: true}
	names := make([]string, len(l.Initrds))
	for i, u := range l.Initrds {
		n := imageName(u)
		if n == "" || used[n] {
			n = "initrd" + strconv.Itoa(i)
		}
		for used[n] {
			n += "_"
		}
		used[n] = true
		names[i] = n
	}
	var args []string
	if !l.NoInitrdArgs {
		have := map[string]bool{}
		for _, a := range l.Args {
			if v, ok := strings.CutPrefix(a, "initrd="); ok {
				have[v] = true
			}
		}
		for _, n := range names {
			if !have[n] {
				args = append(args, "initrd="+n)
			}
		}
	}
	args = append(args, l.Args...)
	s.Kernel(Image{URL: l.Kernel, Name: kname, Args: args})
	if l.Verify {
		s.verify(kname, l.Kernel, l.Signer)
	}
	for i, u := range l.Initrds {
		s.Initrd(Image{URL: u, Name: names[i]})
		if l.Verify {
			s.verify(names[i], u, l.Signer)
		}
	}
	return s.Boot()
}

func (s *Script) verify(name, u, signer string) {
	sig := u + ".sig"
	if pu, err := url.Parse(u); err == nil && (pu.RawQuery != "" || pu.Fragment != "") {
		pu.Path += ".sig"
		pu.RawPath = ""
		sig = pu.String()
	}
	s.Imgverify(Verify{Image: name, Signature: sig, Signer: signer})
}

// Retry describes a retry loop with back-off around a block of commands.
type Retry struct {
	// Label names the loop; the loop also uses the labels and settings
	// Label+"_fail", Label+"_giveup", Label+"_ok", Label+"_try" and
	// Label+"_wait". Required; unique within a script.
	Label string
	// Attempts is the number of tries before giving up; 0 retries forever.
	Attempts int
	// Delay is the first wait between attempts (whole seconds, at least 1s;
	// default 1s). Each failure doubles it up to MaxDelay.
	Delay time.Duration
	// MaxDelay caps the doubling; at or below Delay the wait is constant.
	MaxDelay time.Duration
	// OnFail is the label to go to after the last attempt failed; "" ends
	// the script with "exit 1".
	OnFail string
}

// Retry appends a loop that runs the commands body adds and, when any of
// them fails, waits, doubles the wait (up to MaxDelay) and tries again:
//
//	set L_try:int32 0
//	set L_wait:int32 1
//	:L
//	kernel … || goto L_fail          (each body line gets "|| goto L_fail")
//	goto L_ok
//	:L_fail
//	inc L_try
//	iseq ${L_try} 5 && goto L_giveup || goto L_wait
//	…
//
// Each attempt prints a line on the console with the attempt number and
// the iPXE error code (${errno}). Lines of body without a command (labels,
// comments) are copied as they are.
func (s *Script) Retry(r Retry, body func(*Script)) *Script {
	if s.err != nil {
		return s
	}
	p := r.Label
	if err := checkName("retry label", p); err != nil {
		return s.fail(err)
	}
	if r.Attempts < 0 {
		return s.fail(fmt.Errorf("ipxescript: retry %s: negative attempts", p))
	}
	if r.OnFail != "" {
		if err := checkName("retry fail label", r.OnFail); err != nil {
			return s.fail(err)
		}
	}
	base := seconds(r.Delay)
	if base < 1 {
		base = 1
	}
	limit := base
	for limit*2 <= seconds(r.MaxDelay) {
		limit *= 2
	}
	inner := New()
	if body != nil {
		body(inner)
	}
	if inner.err != nil {
		return s.fail(inner.err)
	}
	try, wait := p+"_try", p+"_wait"
	giveup := r.OnFail
	if giveup == "" {
		giveup = p + "_giveup"
	}
	s.Set(try+":int32", "0")
	s.Set(wait+":int32", strconv.FormatInt(base, 10))
	s.Label(p)
	for _, l := range inner.Lines {
		s.add(l)
		if len(l.Commands) > 0 {
			s.OrGoto(p + "_fail")
		}
	}
	s.Goto(p + "_ok")
	s.Label(p + "_fail")
	s.Inc(try, 1)
	of := ""
	if r.Attempts > 0 {
		of = "/" + strconv.Itoa(r.Attempts)
		// The loop's own counters are integers: no "--" needed.
		s.Cmd("iseq", Var(try), Expr(strconv.Itoa(r.Attempts))).AndGoto(giveup).OrGoto(p + "_wait")
		s.Label(p + "_wait")
	}
	s.EchoExpr(Expr(p+":"), "attempt", Var(try)+Expr(of), "failed", Expr("(error"), Var("errno")+")",
		"retrying", "in", Var(wait), "s")
	s.Cmd("sleep", Var(wait)).OrGoto(giveup)
	if limit > base {
		s.Cmd("iseq", Var(wait), Expr(strconv.FormatInt(limit, 10))).
			then(OpOr, Command{Name: "inc", Args: []string{wait, "${" + wait + "}"}})
	}
	s.Goto(p)
	if r.OnFail == "" {
		s.Label(giveup)
		s.EchoExpr(Expr(p+":"), "giving", "up")
		s.Exit(1)
	}
	return s.Label(p + "_ok")
}

// Menu describes an interactive menu: "menu", one "item" per entry and
// "choose", followed by a jump to the chosen item's label.
type Menu struct {
	Name    string     // --name (for several menus); "" = the default menu
	Title   string     // free text
	Items   []MenuItem // entries in order
	Default string     // label of the preselected item
	Timeout time.Duration
	// Setting receives the chosen label; default "menu_choice".
	Setting string
	// Cancel is the label to go to when the user presses Esc or the timeout
	// expires without a default; "" ends the script with "exit 1".
	Cancel string
}

// MenuItem is one menu entry.
type MenuItem struct {
	// Label is the script label jumped to when the item is chosen; "" makes
	// the item a non-selectable gap or heading showing Text.
	Label string
	Text  string // free text
	Key   string // shortcut key: one character or a key code such as "0x02"
}

// Menu appends the menu and the jump to the chosen label:
//
//	menu Boot menu
//	item --key d disk Boot from disk
//	choose --default disk --timeout 5000 menu_choice && goto ${menu_choice} || goto cancel
//
// The labels of the items must exist in the script (Parse checks it).
func (s *Script) Menu(m Menu) *Script {
	if s.err != nil {
		return s
	}
	var a []string
	if m.Name != "" {
		if err := checkName("menu name", m.Name); err != nil {
			return s.fail(err)
		}
		a = append(a, "--name", m.Name)
	}
	title, err := splitText("menu title", m.Title)
	if err != nil {
		return s.fail(err)
	}
	s.addCmd("menu", append(a, positional(title)...)...)
	for _, it := range m.Items {
		var ia []string
		if m.Name != "" {
			ia = append(ia, "--menu", m.Name)
		}
		if it.Key != "" {
			if err := checkKey(it.Key); err != nil {
				return s.fail(err)
			}
			if it.Key[0] == '-' {
				ia = append(ia, "--key="+it.Key)
			} else {
				ia = append(ia, "--key", it.Key)
			}
		}
		text, err := splitText("menu item text", it.Text)
		if err != nil {
			return s.fail(err)
		}
		if it.Label == "" {
			ia = append(ia, "--gap")
			s.addCmd("item", append(ia, positional(text)...)...)
			continue
		}
		if err := checkName("menu item label", it.Label); err != nil {
			return s.fail(err)
		}
		s.addCmd("item", append(append(ia, it.Label), text...)...)
	}
	setting := m.Setting
	if setting == "" {
		setting = "menu_choice"
	}
	if err := checkSetting(setting); err != nil {
		return s.fail(err)
	}
	var ca []string
	if m.Name != "" {
		ca = append(ca, "--menu", m.Name)
	}
	if m.Default != "" {
		if err := checkName("menu default", m.Default); err != nil {
			return s.fail(err)
		}
		ca = append(ca, "--default", m.Default)
	}
	if m.Timeout > 0 {
		ca = append(ca, "--timeout", ms(m.Timeout))
	}
	s.addCmd("choose", append(ca, setting)...)
	s.then(OpAnd, Command{Name: "goto", Args: []string{"${" + setting + "}"}})
	if m.Cancel != "" {
		return s.OrGoto(m.Cancel)
	}
	return s.OrExit(1)
}

// Identity query parameters: what Bootstrap sends and Handler reads. The
// string-typed SMBIOS and DHCP values use the uristring type so that
// spaces, "&" and "=" in them cannot break the query; "+" is not escaped by
// older iPXE builds, so the Handler reads "+" literally.
var identityQuery = []struct{ key, expr string }{
	{"mac", "${netX/mac:hexhyp}"},
	{"uuid", "${uuid}"},
	{"buildarch", "${buildarch}"},
	{"platform", "${platform}"},
	{"manufacturer", "${manufacturer:uristring}"},
	{"product", "${product:uristring}"},
	{"serial", "${serial:uristring}"},
	{"asset", "${asset:uristring}"},
	{"hostname", "${hostname:uristring}"},
	{"ip", "${ip}"},
}

// IdentityURL returns base with the machine identity query that iPXE fills
// in at run time appended:
//
//	base?mac=${netX/mac:hexhyp}&uuid=${uuid}&buildarch=${buildarch}&platform=${platform}&…
//
// netX is the network device iPXE opened last, the one it booted from
// (net0 would be wrong on a machine booting from its second port). The
// identity travels in the query string rather than in a "params" form
// because many iPXE builds (BIOS, vendor, Debian's) have no "params"
// command (smee#78). base must be an absolute http(s) URL without a
// fragment; its own query is kept.
func IdentityURL(base string) (Expr, error) {
	if err := checkURL("identity base URL", base); err != nil {
		return "", err
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("ipxescript: identity base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", &ValueError{What: "identity base URL", Value: base, Reason: "is not an absolute http(s) URL"}
	}
	if u.Fragment != "" || strings.Contains(base, "#") {
		return "", &ValueError{What: "identity base URL", Value: base, Reason: "has a fragment (iPXE would not send the query after it)"}
	}
	var q []string
	for _, p := range identityQuery {
		q = append(q, p.key+"="+p.expr)
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	return Expr(base + sep + strings.Join(q, "&")), nil
}

// Bootstrap is the first-stage script that makes a machine identify itself
// to a Handler: served as the DHCP boot file name for iPXE clients, or
// embedded into an iPXE binary.
type Bootstrap struct {
	// URL is the Handler's absolute http(s) URL, e.g.
	// "http://192.0.2.1:8080/boot.ipxe".
	URL string
	// DHCP runs "dhcp" first: needed when the script is embedded in iPXE,
	// not when iPXE loaded it over the network it already configured.
	DHCP bool
	// Retry controls how failures to reach the Handler are retried; the
	// zero value retries forever, waiting 2s, 4s, … up to 60s. Label
	// defaults to "netboot".
	Retry Retry
}

// Script returns the first-stage script:
//
//	#!ipxe
//	…retry loop…
//	chain --replace --autofree http://srv/boot.ipxe?mac=${netX/mac:hexhyp}&… || goto netboot_fail
//
// --replace lets the second stage take the place of this script, and
// --autofree frees it after it runs. Check Err (or the error from WriteTo)
// for an invalid URL.
func (b Bootstrap) Script() *Script {
	s := New()
	u, err := IdentityURL(b.URL)
	if err != nil {
		return s.fail(err)
	}
	r := b.Retry
	if r.Label == "" {
		r.Label = "netboot"
	}
	if r.Delay == 0 && r.MaxDelay == 0 {
		r.Delay, r.MaxDelay = 2*time.Second, 60*time.Second
	}
	return s.Retry(r, func(s *Script) {
		if b.DHCP {
			s.DHCP()
		}
		s.Cmd("chain", "--replace", "--autofree", u)
	})
}
