package ipxescript

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file holds one builder method per iPXE command. Every string
// parameter is untrusted data: it is checked with the rules of CheckLiteral
// (one token), CheckName (labels, image and menu names) or as free text
// (words separated by spaces), and the first refusal is recorded in the
// Script. Parameters of type Expr are trusted script text.

// Cmd appends a command built from trusted tokens: the name and each
// argument are checked only structurally (ValidateLine), so they may contain
// ${…} expansions. Use it for commands without a dedicated method; never
// pass untrusted input (check it first with CheckLiteral).
func (s *Script) Cmd(name string, args ...Expr) *Script {
	a := make([]string, len(args))
	for i, e := range args {
		if err := checkExpr(name+" argument", e); err != nil {
			return s.fail(err)
		}
		a[i] = string(e)
	}
	return s.addCmd(name, a...)
}

// Comment appends a comment line. The text may contain spaces but no
// control characters and must not end in "\".
func (s *Script) Comment(text string) *Script {
	if r := badByte(strings.ReplaceAll(text, " ", "")); r != "" {
		return s.fail(&ValueError{What: "comment", Value: text, Reason: r})
	}
	if text == "" {
		return s.add(Line{})
	}
	return s.add(Line{Comment: text})
}

// Blank appends an empty line.
func (s *Script) Blank() *Script { return s.add(Line{}) }

// Label appends a line holding only the label ":name".
func (s *Script) Label(name string) *Script {
	if err := checkName("label", name); err != nil {
		return s.fail(err)
	}
	return s.add(Line{Label: name})
}

// Goto appends "goto label".
func (s *Script) Goto(label string) *Script {
	if err := checkName("label", label); err != nil {
		return s.fail(err)
	}
	return s.addCmd("goto", label)
}

// then appends c to the last line with separator op.
func (s *Script) then(op Op, c Command) *Script {
	if s.err != nil {
		return s
	}
	if len(s.Lines) == 0 || len(s.Lines[len(s.Lines)-1].Commands) == 0 {
		return s.fail(fmt.Errorf("ipxescript: %s needs a command on the line before", op))
	}
	l := &s.Lines[len(s.Lines)-1]
	c.Op = op
	nl := *l
	nl.Commands = append(append([]Command(nil), l.Commands...), c)
	if err := ValidateLine(nl); err != nil {
		return s.fail(err)
	}
	*l = nl
	return s
}

// OrGoto appends "|| goto label" to the last line: on failure of the line
// so far, continue at label instead of aborting the script.
func (s *Script) OrGoto(label string) *Script {
	if err := checkName("label", label); err != nil {
		return s.fail(err)
	}
	return s.then(OpOr, Command{Name: "goto", Args: []string{label}})
}

// AndGoto appends "&& goto label" to the last line. Follow it with OrGoto
// or OrContinue: a line whose final status is a failure aborts the script.
func (s *Script) AndGoto(label string) *Script {
	if err := checkName("label", label); err != nil {
		return s.fail(err)
	}
	return s.then(OpAnd, Command{Name: "goto", Args: []string{label}})
}

// OrExit appends "|| exit status" to the last line.
func (s *Script) OrExit(status int) *Script {
	if status < 0 {
		return s.fail(&ValueError{What: "exit status", Value: strconv.Itoa(status), Reason: "is negative"})
	}
	return s.then(OpOr, Command{Name: "exit", Args: []string{strconv.Itoa(status)}})
}

// OrContinue appends "||" (an empty command) to the last line, so that a
// failure of the line does not abort the script.
func (s *Script) OrContinue() *Script { return s.then(OpOr, Command{}) }

// DHCP appends "dhcp" for the given interfaces (all if none), e.g. "net0".
func (s *Script) DHCP(ifaces ...string) *Script {
	for _, i := range ifaces {
		if err := checkName("interface", i); err != nil {
			return s.fail(err)
		}
	}
	return s.addCmd("dhcp", ifaces...)
}

// Set appends "set name value". The value is free text: its words are
// literals and must be separated by single spaces (iPXE would not keep other
// spacing, so such values are refused rather than silently changed). An
// empty value deletes the setting. name may carry a scope and a type
// ("net0/ip", "x:int32").
func (s *Script) Set(name, value string) *Script {
	if err := checkSetting(name); err != nil {
		return s.fail(err)
	}
	words, err := splitText("value of "+name, value)
	if err != nil {
		return s.fail(err)
	}
	if strings.Join(words, " ") != value {
		return s.fail(&ValueError{What: "value of " + name, Value: value, Reason: "has leading, trailing or repeated spaces, which iPXE does not keep"})
	}
	return s.addCmd("set", append([]string{name}, words...)...)
}

// SetExpr appends "set name value" where value is trusted script text
// (for example Var("net0/mac")).
func (s *Script) SetExpr(name string, value Expr) *Script {
	if err := checkSetting(name); err != nil {
		return s.fail(err)
	}
	if err := checkExpr("value of "+name, value); err != nil {
		return s.fail(err)
	}
	return s.addCmd("set", name, string(value))
}

// Clear appends "clear name".
func (s *Script) Clear(name string) *Script {
	if err := checkSetting(name); err != nil {
		return s.fail(err)
	}
	return s.addCmd("clear", name)
}

// Inc appends "inc name n" (just "inc name" for n == 1).
func (s *Script) Inc(name string, n uint) *Script {
	if err := checkSetting(name); err != nil {
		return s.fail(err)
	}
	if n == 1 {
		return s.addCmd("inc", name)
	}
	return s.addCmd("inc", name, strconv.FormatUint(uint64(n), 10))
}

// Echo appends "echo text". The text is free text: words are literals,
// runs of spaces collapse to one. For display of arbitrary data, pass it
// through Sanitize first.
func (s *Script) Echo(text string) *Script {
	words, err := splitText("echo text", text)
	if err != nil {
		return s.fail(err)
	}
	return s.addCmd("echo", positional(words)...)
}

// EchoExpr appends "echo" with trusted tokens, e.g.
// EchoExpr("MAC", Var("netX/mac")); "--" is added first when the first
// token may expand to something starting with "-".
func (s *Script) EchoExpr(words ...Expr) *Script {
	a := make([]string, len(words))
	for i, w := range words {
		if err := checkExpr("echo word", w); err != nil {
			return s.fail(err)
		}
		a[i] = string(w)
	}
	return s.addCmd("echo", guard(a)...)
}

// Prompt describes a "prompt" command.
type Prompt struct {
	Text    string        // free text shown to the user
	Key     string        // key to wait for: one character, or "0x02"-style key code; "" = any key
	Timeout time.Duration // give up (and fail) after this long; 0 = wait forever
}

// Prompt appends "prompt [--key k] [--timeout ms] text". The command fails
// on timeout or on a different key, so follow it with OrGoto.
func (s *Script) Prompt(p Prompt) *Script {
	var args []string
	if p.Key != "" {
		if err := checkKey(p.Key); err != nil {
			return s.fail(err)
		}
		if p.Key[0] == '-' {
			args = append(args, "--key="+p.Key) // a detached value may not start with "-"
		} else {
			args = append(args, "--key", p.Key)
		}
	}
	if p.Timeout > 0 {
		args = append(args, "--timeout", ms(p.Timeout))
	}
	words, err := splitText("prompt text", p.Text)
	if err != nil {
		return s.fail(err)
	}
	return s.addCmd("prompt", append(args, positional(words)...)...)
}

// Sleep appends "sleep seconds", rounding d up to whole seconds.
func (s *Script) Sleep(d time.Duration) *Script {
	return s.addCmd("sleep", strconv.FormatInt(seconds(d), 10))
}

// Exit appends "exit" (status 0) or "exit status". A script that exits
// ends; from the first script iPXE runs, that returns control to the
// firmware, which tries its next boot device.
func (s *Script) Exit(status int) *Script {
	if status < 0 {
		return s.fail(&ValueError{What: "exit status", Value: strconv.Itoa(status), Reason: "is negative"})
	}
	if status == 0 {
		return s.addCmd("exit")
	}
	return s.addCmd("exit", strconv.Itoa(status))
}

// LocalBoot appends the "boot from the local disk" fallback: a comment and
// "exit". Leaving iPXE hands control back to the firmware, which boots the
// next device in its boot order (the local disk when the network comes
// first). This is what Tinkerbell smee#304 asks for; it works on BIOS and
// UEFI, unlike "sanboot --drive 0x80", which is BIOS-only.
func (s *Script) LocalBoot() *Script {
	return s.Comment("boot from local disk: leave iPXE, the firmware tries the next boot device").Exit(0)
}

// Image describes an image fetched by kernel, initrd, imgfetch or chain.
type Image struct {
	URL      string        // absolute URL, or relative to the script's own URL
	Name     string        // --name; "" lets iPXE derive it from the URL
	Args     []string      // image command line, one literal token each
	Timeout  time.Duration // --timeout; 0 = iPXE default
	Autofree bool          // --autofree: free the image after it runs (chain)
	Replace  bool          // --replace: do not return to this script (chain only)
}

func (img Image) args(cmd string) ([]string, error) {
	var a []string
	if img.Name != "" {
		if err := checkName("image name", img.Name); err != nil {
			return nil, err
		}
		a = append(a, "--name", img.Name)
	}
	if img.Timeout > 0 {
		a = append(a, "--timeout", ms(img.Timeout))
	}
	if img.Autofree {
		a = append(a, "--autofree")
	}
	if img.Replace {
		if cmd != "chain" {
			return nil, fmt.Errorf("ipxescript: %s: --replace is for chain only", cmd)
		}
		a = append(a, "--replace")
	}
	if err := checkURL(cmd+" URL", img.URL); err != nil {
		return nil, err
	}
	a = append(a, img.URL)
	for _, arg := range img.Args {
		if err := checkLit(cmd+" argument", arg); err != nil {
			return nil, err
		}
		a = append(a, arg)
	}
	return a, nil
}

func (s *Script) image(cmd string, img Image) *Script {
	a, err := img.args(cmd)
	if err != nil {
		return s.fail(err)
	}
	return s.addCmd(cmd, a...)
}

// Kernel appends "kernel [options] url [args…]": fetch and select an
// image (a Linux kernel, an EFI binary, …) with its command line. For Linux
// with initrds prefer LinuxBoot, which names the initrds for UEFI.
func (s *Script) Kernel(img Image) *Script { return s.image("kernel", img) }

// Initrd appends "initrd [options] url [args…]": fetch an image without
// selecting it.
func (s *Script) Initrd(img Image) *Script { return s.image("initrd", img) }

// Imgfetch appends "imgfetch [options] url [args…]".
func (s *Script) Imgfetch(img Image) *Script { return s.image("imgfetch", img) }

// Chain appends "chain [options] url [args…]": fetch and run an image (a
// script, an EFI binary, another iPXE). It fails if the image cannot be
// fetched or, for scripts, if the script exits with a non-zero status.
func (s *Script) Chain(img Image) *Script { return s.image("chain", img) }

// Imgargs appends "imgargs image [args…]", replacing an image's command line.
func (s *Script) Imgargs(image string, args ...string) *Script {
	if err := checkName("image name", image); err != nil {
		return s.fail(err)
	}
	for _, a := range args {
		if err := checkLit("imgargs argument", a); err != nil {
			return s.fail(err)
		}
	}
	return s.addCmd("imgargs", append([]string{image}, args...)...)
}

// Boot appends "boot" (run the selected image) or "boot image".
func (s *Script) Boot(image ...string) *Script {
	if len(image) > 1 {
		return s.fail(fmt.Errorf("ipxescript: boot takes at most one image, got %d", len(image)))
	}
	for _, i := range image {
		if err := checkName("image name", i); err != nil {
			return s.fail(err)
		}
	}
	return s.addCmd("boot", image...)
}

// Imgfree appends "imgfree [image…]" (all images if none).
func (s *Script) Imgfree(images ...string) *Script {
	for _, i := range images {
		if err := checkName("image name", i); err != nil {
			return s.fail(err)
		}
	}
	return s.addCmd("imgfree", images...)
}

// SAN describes a sanboot or sanhook command.
type SAN struct {
	// URIs are the SAN root paths ("iscsi:…", "aoe:…", "http://…"); more
	// than one gives multipath. sanboot with none boots an already hooked
	// drive.
	URIs []string
	// Drive is the BIOS drive number (e.g. 0x80, 0x81); 0 = iPXE's default.
	Drive uint
	// NoDescribe skips describing the disk to the OS (iBFT/aBFT).
	NoDescribe bool
	// Keep leaves the drive hooked after a failed or returning boot; needed
	// to install an OS onto the SAN disk.
	Keep bool
	// Filename is the EFI loader to start from the disk (--filename), e.g.
	// `\EFI\BOOT\BOOTX64.EFI`; without it some UEFI boards pick the wrong
	// loader or hang (ipxe#996, ipxe#1430).
	Filename string
	// Extra, Label and UUID select the boot filesystem (--extra, --label,
	// --uuid); iPXE 2024 and later only.
	Extra, Label, UUID string
}

func (san SAN) args(cmd string) ([]string, error) {
	var a []string
	if san.Drive != 0 {
		a = append(a, "--drive", fmt.Sprintf("%#x", san.Drive))
	}
	if san.NoDescribe {
		a = append(a, "--no-describe")
	}
	if cmd == "sanboot" {
		if san.Keep {
			a = append(a, "--keep")
		}
		for _, o := range []struct{ opt, v string }{
			{"--filename", san.Filename}, {"--extra", san.Extra}, {"--label", san.Label}, {"--uuid", san.UUID},
		} {
			if o.v == "" {
				continue
			}
			if err := checkLit("sanboot "+o.opt, o.v); err != nil {
				return nil, err
			}
			// A value starting with "-" must be attached with "=".
			a = append(a, o.opt+"="+o.v)
		}
	} else if san.Keep || san.Filename != "" || san.Extra != "" || san.Label != "" || san.UUID != "" {
		return nil, fmt.Errorf("ipxescript: %s takes no --keep/--filename/--extra/--label/--uuid", cmd)
	}
	if len(san.URIs) == 0 && cmd != "sanboot" {
		return nil, fmt.Errorf("ipxescript: %s needs at least one root path", cmd)
	}
	for _, u := range san.URIs {
		if err := checkURL(cmd+" root path", u); err != nil {
			return nil, err
		}
		a = append(a, u)
	}
	return a, nil
}

// Sanboot appends "sanboot [options] [root-path…]": boot from a SAN disk.
func (s *Script) Sanboot(san SAN) *Script {
	a, err := san.args("sanboot")
	if err != nil {
		return s.fail(err)
	}
	return s.addCmd("sanboot", a...)
}

// Sanhook appends "sanhook [options] root-path…": attach a SAN disk without
// booting it (for installers and multi-disk setups).
func (s *Script) Sanhook(san SAN) *Script {
	a, err := san.args("sanhook")
	if err != nil {
		return s.fail(err)
	}
	return s.addCmd("sanhook", a...)
}

// Sanunhook appends "sanunhook [--drive n]".
func (s *Script) Sanunhook(drive uint) *Script {
	if drive != 0 {
		return s.addCmd("sanunhook", "--drive", fmt.Sprintf("%#x", drive))
	}
	return s.addCmd("sanunhook")
}

// IfSet appends "isset -- value && goto then || goto otherwise": value is
// usually a Var. Both branches are always written, so the line never
// aborts the script, and "--" keeps an expanded value starting with "-"
// from being read as an option.
func (s *Script) IfSet(value Expr, then, otherwise string) *Script {
	if err := checkExpr("isset value", value); err != nil {
		return s.fail(err)
	}
	return s.addCmd("isset", guard([]string{string(value)})...).AndGoto(then).OrGoto(otherwise)
}

// IfEq appends "iseq -- a b && goto then || goto otherwise" ("--" as for
// IfSet).
func (s *Script) IfEq(a, b Expr, then, otherwise string) *Script {
	if err := checkExpr("iseq value", a); err != nil {
		return s.fail(err)
	}
	if err := checkExpr("iseq value", b); err != nil {
		return s.fail(err)
	}
	return s.addCmd("iseq", guard([]string{string(a), string(b)})...).AndGoto(then).OrGoto(otherwise)
}

// Params appends "params [--name name]": start a form parameter list for
// a later "chain http://…##params". Not in BIOS builds nor in Debian's
// iPXE; prefer query strings (see IdentityURL).
func (s *Script) Params(name string) *Script {
	if name == "" {
		return s.addCmd("params")
	}
	if err := checkName("params name", name); err != nil {
		return s.fail(err)
	}
	return s.addCmd("params", "--name", name)
}

// Param appends "param [--params list] key value". Same availability
// caveat as Params.
func (s *Script) Param(list, key, value string) *Script {
	var a []string
	if list != "" {
		if err := checkName("params name", list); err != nil {
			return s.fail(err)
		}
		a = append(a, "--params", list)
	}
	if err := checkName("param key", key); err != nil {
		return s.fail(err)
	}
	words, err := splitText("param value", value)
	if err != nil {
		return s.fail(err)
	}
	return s.addCmd("param", append(append(a, key), words...)...)
}

// Trust describes an "imgtrust" command.
type Trust struct {
	Allow     bool // --allow: allow untrusted images again
	Permanent bool // --permanent: the policy can no longer be changed
}

// Imgtrust appends "imgtrust [--allow] [--permanent]": from now on only
// images verified with imgverify may run. Not in default builds (Debian's
// iPXE lacks it).
func (s *Script) Imgtrust(t Trust) *Script {
	var a []string
	if t.Allow {
		a = append(a, "--allow")
	}
	if t.Permanent {
		a = append(a, "--permanent")
	}
	return s.addCmd("imgtrust", a...)
}

// Verify describes an "imgverify" command.
type Verify struct {
	Image     string // image name or URL
	Signature string // detached signature: image name or URL
	Signer    string // --signer: required certificate common name; "" = any trusted
	Keep      bool   // --keep: keep the signature image
	Timeout   time.Duration
}

// Imgverify appends "imgverify [options] image signature". It fails when
// the signature does not verify; do not boot after a failure.
func (s *Script) Imgverify(v Verify) *Script {
	var a []string
	if v.Signer != "" {
		if err := checkLit("imgverify signer", v.Signer); err != nil {
			return s.fail(err)
		}
		a = append(a, "--signer="+v.Signer)
	}
	if v.Keep {
		a = append(a, "--keep")
	}
	if v.Timeout > 0 {
		a = append(a, "--timeout", ms(v.Timeout))
	}
	if err := checkURL("imgverify image", v.Image); err != nil {
		return s.fail(err)
	}
	if err := checkURL("imgverify signature", v.Signature); err != nil {
		return s.fail(err)
	}
	return s.addCmd("imgverify", append(a, v.Image, v.Signature)...)
}

// positional prefixes "--" when the first positional word starts with
// "-", so that iPXE does not read it as an option.
func positional(words []string) []string {
	if len(words) > 0 && words[0][0] == '-' {
		return append([]string{"--"}, words...)
	}
	return words
}

// guard prefixes "--" to positional Expr arguments when the first one
// starts with "-" or contains an expansion: iPXE expands before parsing
// options, so a setting whose value starts with "-" (a DHCP hostname of
// "--help", say) would otherwise be read as an option.
func guard(args []string) []string {
	if len(args) > 0 && (args[0][0] == '-' || strings.Contains(args[0], "$")) {
		return append([]string{"--"}, args...)
	}
	return args
}

// ms formats d as whole milliseconds (rounded up) for --timeout options.
func ms(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}

// seconds rounds d up to whole seconds (at least 0).
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

func checkKey(k string) error {
	if err := checkLit("prompt key", k); err != nil {
		return err
	}
	if len(k) == 1 {
		return nil
	}
	if !validInteger(k) {
		return &ValueError{What: "prompt key", Value: k, Reason: "is neither one character nor an integer"}
	}
	return nil
}
