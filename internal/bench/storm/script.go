package storm

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrScript is wrapped by every refusal of a fetched iPXE script: not a
// script, a command the simulated client does not run, or a script that
// ends without booting.
var ErrScript = errors.New("storm: iPXE script")

// step is what the simulated iPXE does for one script line.
type step struct {
	// Op is "chain", "fetch" (kernel, initrd, imgfetch, module) or "boot".
	Op string
	// URL for chain and fetch, with iPXE settings already expanded.
	URL string
}

// maxScript bounds a fetched script: iPXE scripts are a few KiB, and the
// client must not buffer whatever a broken server sends.
const maxScript = 64 << 10

// plan reads an iPXE script the way the client runs it and returns its
// steps, up to and including the first chain or boot. vars are iPXE's
// settings (net0/mac, uuid, …) for ${name} and ${name:type} expansion;
// relative URLs are resolved against base.
//
// Only what boot scripts use is understood: chain (which replaces the
// script, so nothing after it runs), kernel/initrd/imgfetch/module, boot,
// and the bookkeeping commands (set, echo, inc, sleep, iseq, isset, goto,
// labels, comments), which are skipped. A failing command's "|| …" branch is
// not taken: the client counts the failure instead of retrying, so a
// failure shows in the result rather than as a slower boot. exit, shell,
// or anything else is refused with ErrScript.
func plan(script string, base *url.URL, vars map[string]string) ([]step, error) {
	if len(script) > maxScript {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrScript, len(script), maxScript)
	}
	sc := bufio.NewScanner(strings.NewReader(script))
	sc.Buffer(make([]byte, 0, 4096), maxScript+1)
	var steps []step
	first := true
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if first {
			first = false
			if !strings.HasPrefix(line, "#!ipxe") && !strings.HasPrefix(line, "#!gpxe") {
				return nil, fmt.Errorf("%w: no #!ipxe magic", ErrScript)
			}
			continue
		}
		if line == "" || line[0] == '#' || line[0] == ':' {
			continue
		}
		// Only the command before "||" / "&&" runs in the happy path.
		if i := strings.Index(line, "||"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if i := strings.Index(line, "&&"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		cmd, args := f[0], f[1:]
		switch cmd {
		case "set", "echo", "inc", "sleep", "iseq", "isset", "goto", "prompt", "params", "param", "imgargs":
			// Bookkeeping: no network traffic. A goto in the happy path
			// only jumps over failure branches in the scripts served here.
			continue
		case "chain", "kernel", "initrd", "imgfetch", "module", "imgexec":
			u, err := urlArg(args, base, vars)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %s: %w", ErrScript, n, cmd, err)
			}
			op := "fetch"
			if cmd == "chain" || cmd == "imgexec" {
				op = "chain"
			}
			steps = append(steps, step{Op: op, URL: u})
			if op == "chain" {
				return steps, nil
			}
		case "boot":
			return append(steps, step{Op: "boot"}), nil
		default:
			return nil, fmt.Errorf("%w: line %d: command %q is not run by the simulated client", ErrScript, n, cmd)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrScript, err)
	}
	return nil, fmt.Errorf("%w: ends without chain or boot", ErrScript)
}

// urlArg returns the first non-option argument of a command, expanded and
// resolved: iPXE's "kernel --name k http://…/vmlinuz console=ttyS0".
func urlArg(args []string, base *url.URL, vars map[string]string) (string, error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "--") {
			if !strings.Contains(a, "=") && (a == "--name" || a == "--timeout") && i+1 < len(args) {
				i++ // option with a separate value
			}
			continue
		}
		if strings.HasPrefix(a, "-") && len(a) == 2 {
			if a == "-n" || a == "-t" {
				i++
			}
			continue
		}
		u, err := url.Parse(expand(a, vars))
		if err != nil {
			return "", err
		}
		if base != nil {
			u = base.ResolveReference(u)
		}
		if u.Scheme != "http" {
			return "", fmt.Errorf("URL %q: only http is fetched", u.Redacted())
		}
		return u.String(), nil
	}
	return "", errors.New("no URL")
}

// expand replaces iPXE settings: ${name} and ${name:type}. The uristring
// type is percent-encoded, hexhyp prints a MAC with hyphens; netX is net0.
// Unknown settings expand to the empty string, as in iPXE.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		name, typ, _ := strings.Cut(s[i+2:i+j], ":")
		name = strings.Replace(name, "netX/", "net0/", 1)
		v := vars[name]
		switch typ {
		case "uristring":
			v = url.QueryEscape(v)
		case "hexhyp":
			v = strings.ReplaceAll(v, ":", "-")
		}
		b.WriteString(v)
		s = s[i+j+1:]
	}
}
