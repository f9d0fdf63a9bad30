package ipxescript

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func seedScripts() []string {
	s := []string{
		"#!ipxe\n",
		"#!gpxe\r\necho hi\r\n",
		"#!ipxe\n:a echo x || goto a ; echo y && exit 0x1\n# c\n",
		"#!ipxe\necho a \\\nb\n",
		"#!ipxe\nchain --autofree --replace=1 http://s/x\n",
		"#!ipxe\nkernel -qa -nfoo http://s/k a=b ${x}\nsleep 08\n",
		"#!ipxe\nisset ${x} && goto y\n:y\n:y\n",
		"#!ipxe\nprompt --key 0x02 --timeout 2000 Press && shell ||\n",
		"#!ipxe\n\t:x\v\f;\n",
		"#!ipxe \\",
		"#!ipxe\necho ${a${b}} ${c:bogus} ${d\n",
	}
	b := Bootstrap{URL: "http://192.0.2.1/boot.ipxe", DHCP: true}.Script()
	s = append(s, b.String())
	m := New().Menu(Menu{Title: "t", Items: []MenuItem{{Label: "a", Text: "A", Key: "a"}, {Text: "gap"}}, Timeout: time.Second}).
		Label("a").LinuxBoot(Linux{Kernel: "http://s/k", Initrds: []string{"http://s/i"}, Verify: true}).
		Sanboot(SAN{URIs: []string{"iscsi:1.2.3.4::::iqn.x:y"}, Keep: true, Filename: `\EFI\x.efi`})
	s = append(s, m.String())
	return s
}

// FuzzParse: Parse never panics, and whatever it accepts writes back and
// parses to the same model.
func FuzzParse(f *testing.F) {
	for _, s := range seedScripts() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := Lint(strings.NewReader(string(data))); err != nil {
			t.Fatal(err)
		}
		s, err := Parse(strings.NewReader(string(data)))
		if err != nil {
			if s != nil {
				t.Fatal("script returned with an error")
			}
			return
		}
		text, err := s.MarshalText()
		if err != nil {
			t.Fatalf("parsed script does not write: %v\n%q", err, data)
		}
		s2, err := Parse(strings.NewReader(string(text)))
		if err != nil {
			t.Fatalf("written script does not parse: %v\n%q\n%q", err, data, text)
		}
		if !reflect.DeepEqual(s.Lines, s2.Lines) {
			t.Fatalf("round trip changed the model\nin:  %q\nout: %q\n%#v\n%#v", data, text, s.Lines, s2.Lines)
		}
	})
}

// FuzzEscape: a value the builder accepts arrives in iPXE exactly as given
// and cannot add commands, lines, labels, comments or expansions; Sanitize
// always yields acceptable text.
func FuzzEscape(f *testing.F) {
	for _, v := range append(append([]string{}, hostileTokens...), "ok", "a b", "-n x", "a&&b", "x#y", "é", ":x") {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		only := func(s *Script) Command {
			t.Helper()
			p, err := Parse(strings.NewReader(s.String()))
			if err != nil {
				t.Fatalf("accepted %q but the script does not parse: %v\n%s", v, err, s.String())
			}
			if len(p.Lines) != 1 || len(p.Lines[0].Commands) != 1 || p.Lines[0].Label != "" || p.Lines[0].Comment != "" {
				t.Fatalf("value %q changed the script structure: %#v", v, p.Lines)
			}
			c := p.Lines[0].Commands[0]
			for _, a := range c.Args {
				if strings.Contains(a, "$") {
					t.Fatalf("value %q produced an expansion", v)
				}
			}
			return c
		}
		if CheckLiteral(v) == nil {
			c := only(New().Kernel(Image{URL: "http://s/k", Args: []string{v}}))
			if len(c.Args) != 2 || c.Args[1] != v {
				t.Fatalf("literal %q arrived as %q", v, c.Args)
			}
		}
		if s := New().Echo(v); s.Err() == nil {
			c := only(s)
			words := strings.Fields(strings.Join(c.Args, " "))
			if len(c.Args) > 0 && c.Args[0] == "--" {
				words = words[1:]
			}
			if strings.Join(words, " ") != strings.Join(strings.Fields(v), " ") {
				t.Fatalf("echo %q arrived as %q", v, c.Args)
			}
		}
		if s := New().Set("x", v); s.Err() == nil {
			c := only(s)
			if strings.Join(c.Args[1:], " ") != v {
				t.Fatalf("set value %q arrived as %q", v, c.Args[1:])
			}
		}
		if s := New().Label(v); s.Err() == nil {
			p, err := Parse(strings.NewReader(s.String()))
			if err != nil || len(p.Lines) != 1 || p.Lines[0].Label != v || len(p.Lines[0].Commands) != 0 {
				t.Fatalf("label %q: %v %#v", v, err, p)
			}
		}
		if s := New().Comment(v); s.Err() == nil {
			p, err := Parse(strings.NewReader(s.String()))
			if err != nil || len(p.Lines) != 1 || p.Lines[0].Comment != v || len(p.Lines[0].Commands) != 0 {
				t.Fatalf("comment %q: %v %#v", v, err, p)
			}
		}
		san := Sanitize(v, 80)
		if len(san) > 80 {
			t.Fatalf("Sanitize(%q) too long", v)
		}
		if s := New().Echo(san); s.Err() != nil {
			t.Fatalf("Sanitize(%q) = %q refused: %v", v, san, s.Err())
		}
		if Sanitize(san, 0) != san {
			t.Fatalf("Sanitize not idempotent on %q", v)
		}
	})
}

// FuzzHandler: any request path and query gives iPXE a script that parses,
// runs only echo/sleep/exit/chain, and has no expansions.
func FuzzHandler(f *testing.F) {
	f.Add("/boot.ipxe", "mac=52-54-00-12-34-56&uuid=&buildarch=x86_64&platform=efi")
	f.Add("/b", "mac=%24%7Bx%7D%0A&serial=a+b&retry=3")
	f.Add("/", "%zz")
	f.Add("/x%20y", "mac=52:54:00:12:34:56&mac=52:54:00:12:34:56&hostname=%23%20%26%26")
	h := &Handler{Renderer: RenderFunc(func(_ context.Context, m *Machine) (*Script, error) {
		return New().Echo(Sanitize(m.Hostname+" "+m.Serial, 0)).Kernel(Image{URL: "http://s/k"}), nil
	})}
	f.Fuzz(func(t *testing.T, path, query string) {
		u := &url.URL{Path: "/" + strings.TrimLeft(path, "/"), RawQuery: query}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL = u
		req.RequestURI = u.RequestURI()
		req.Header.Set("User-Agent", "iPXE/1.0.0")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d for %q", rec.Code, u)
		}
		s, err := ParseString(rec.Body.String())
		if err != nil {
			t.Fatalf("%v\n%s", err, rec.Body.String())
		}
		for _, l := range s.Lines {
			for _, c := range l.Commands {
				switch c.Name {
				case "echo", "sleep", "exit", "chain", "kernel", "":
				default:
					t.Fatalf("unexpected command %q", c.Name)
				}
				for _, a := range c.Args {
					if strings.Contains(a, "$") {
						t.Fatalf("expansion in %q", a)
					}
				}
			}
		}
	})
}
