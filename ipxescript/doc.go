// Package ipxescript builds, escapes, parses and validates iPXE scripts,
// and serves one per machine over HTTP.
//
// # The language in five minutes
//
// An iPXE script is a text file whose first line is "#!ipxe". Each
// following line may start with a label (":name") and holds a command list:
// commands joined by the separator tokens "&&" (run if the previous command
// succeeded), "||" (run if it failed) and ";" (always). A token starting
// with "#" starts a comment. A line ending in "\" continues on the next.
// The script stops at the first line whose final status is a failure, so a
// line that may fail needs an "|| …" branch: "iseq ${a} b && goto yes" on
// its own aborts the whole script when a is not b.
//
// Lines are split into tokens on whitespace before anything else happens.
// There is no quoting and no escaping: quotes are ordinary characters and a
// value with a space becomes two arguments. Then each token's ${name}
// references to settings (${netX/mac}, ${uuid}, ${buildarch}, ${platform},
// …) are expanded, and a value that itself contains "${" is expanded again.
// Expansion cannot create new tokens, separators or comments, but an
// expanded value that starts with "-" is read as an option.
//
// # Safety: values from machines and users
//
// The builder (Script and its methods) is the safe way to write scripts.
// Every string parameter of a builder method is treated as untrusted data
// (a hostname, an image name, a kernel argument, a URL) and is refused,
// never altered, if writing it could change the script's structure:
//
//   - NUL, CR, LF, other control characters and DEL: they end lines or
//     corrupt parsing.
//   - "$" anywhere: iPXE has no escape for "${", and expanded values are
//     expanded again, so a lone "$" next to a "{" could still form one.
//   - whitespace inside a value that must stay one token (URLs, names,
//     kernel arguments); free text (Echo, Prompt, menu text) is split into
//     words on spaces instead, and runs of spaces are not kept (Set refuses
//     values whose spacing iPXE would change).
//   - a token starting with "#" (a comment), a token equal to "&&", "||"
//     or ";", and a trailing "\" (a line continuation).
//   - labels, image and menu names outside A–Z a–z 0–9 _ . - or starting
//     with "-".
//
// A positional value starting with "-" is preceded by "--" so it is not
// read as an option, and option values starting with "-" are attached with
// "=". The first refusal is recorded in the Script (Err) as a *ValueError
// matching ErrUnsafe, and WriteTo/String refuse to write the script: a
// script is either safe or not written at all. Independently of how lines
// were made, WriteTo re-checks each one with ValidateLine.
//
// Trusted script text that needs ${…} (written by the programmer, never
// built from input) uses the Expr type: Var("netX/mac"), Cmd, SetExpr,
// EchoExpr, IfEq, IfSet; Lit checks untrusted data into an Expr. For
// messages that must quote untrusted input, Sanitize turns anything into
// safe display text.
//
// # What the helpers know
//
//   - LinuxBoot names every initrd and adds "initrd=<name>" to the kernel
//     command line, which UEFI kernels need to find their initrds.
//   - Retry wraps commands in a loop with a doubling delay, an attempt
//     counter and a give-up label; LocalBoot leaves iPXE so the firmware
//     boots the local disk; Menu writes menu, items, choose and the jump.
//   - Sanboot/Sanhook take --drive, --no-describe, --keep and --filename
//     (UEFI boards that pick the wrong loader need it).
//   - Imgtrust/Imgverify, and LinuxBoot's Verify, for signed images.
//   - IdentityURL and Bootstrap pass the machine identity in the URL query
//     rather than with "params", which Debian's and many vendor iPXE builds
//     lack. Generated scripts use only commands and settings present in
//     Debian's iPXE (2019), except the methods documented otherwise
//     (Params, Param, Imgtrust, Imgverify, Verify, newer sanboot options).
//
// # Parsing and validating
//
// Parse reads a script into the same model (Parse(s.String()) equals s for
// any built script) and reports, with line:col positions, what iPXE would
// refuse: bad magic, a dangling continuation, unknown commands, unknown
// options, missing or forbidden option values, wrong argument counts,
// invalid integers (iPXE uses strtoul base 0: "08" is invalid octal) and
// goto to a missing label. Lint adds warnings for legal scripts that
// probably misbehave.
//
// # Serving scripts per machine
//
// Handler is an http.Handler. The first-stage script (Bootstrap) makes iPXE
// request the handler with its identity in the query; ParseMachine checks
// it and a Renderer (your code: a directory of files, a database, a pool
// manager) returns the machine's Script. Because iPXE never runs the body
// of a non-2xx answer, iPXE clients always get 200 and, on any problem, a
// script that prints the reason on the console and retries; curl and
// browsers get a 4xx/5xx status with the reason. FSRenderer is a ready
// Renderer for a directory of hand-written scripts (per UUID, per MAC,
// default), validated with Parse before they are served.
//
// # Tested against real iPXE
//
// Besides unit and fuzz tests, the package's end-to-end tests (they need
// root, QEMU and dnsmasq; see internal/lab) boot Debian's iPXE (git
// 36a4c85, 2019-01, the oldest build this package targets) in QEMU:
//
//   - BIOS: DHCP hands out the Bootstrap script, iPXE sends its identity
//     (MAC via ${netX/mac:hexhyp}, buildarch, platform, SMBIOS strings via
//     uristring) to the Handler, gets the error script first (not found),
//     retries, then runs a script using Retry, Menu (timeout picks the
//     default), IfEq, Set and literals that look like syntax ("a&&b",
//     "x#y", quotes), all printed back unchanged; a checklist of lines then
//     shows that Parse refuses exactly what that iPXE refuses.
//   - UEFI: OVMF loads snponly.efi, which boots a Debian kernel with
//     LinuxBoot's script; the kernel reaches its initramfs, while a control
//     machine given the same script without initrd= panics with no root.
//
// Facts learned there: this iPXE sends "User-Agent: iPXE/1.0.0+git-…",
// leaves "+", "(", ")" and "," unencoded in uristring values (so the
// Handler reads "+" literally), and QEMU reports an all-zero SMBIOS UUID.
package ipxescript
