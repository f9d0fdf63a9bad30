package ipxescript

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ipxeUA = "iPXE/1.0.0+ (g36a4c85)"

// fleet is a test Renderer: one known machine.
func fleet(t *testing.T, seen *[]*Machine) Renderer {
	return RenderFunc(func(ctx context.Context, m *Machine) (*Script, error) {
		require.NotNil(t, ctx)
		*seen = append(*seen, m)
		switch m.MAC.String() {
		case "52:54:00:12:34:56":
			arch := "x86_64"
			if m.BuildArch != "" {
				arch = m.BuildArch
			}
			return New().Echo("Hello " + m.Hostname).LinuxBoot(Linux{
				Kernel:  "http://192.0.2.1/" + arch + "/vmlinuz",
				Initrds: []string{"http://192.0.2.1/" + arch + "/initrd.img"},
				Args:    []string{"hostname=" + m.Hostname},
			}), nil
		case "52:54:00:00:00:02":
			return nil, fmt.Errorf("db down: %w", errors.New("connection refused"))
		case "52:54:00:00:00:03":
			return New().Echo("${evil}"), nil // a renderer bug: must not reach the machine
		case "52:54:00:00:00:04":
			return nil, nil
		}
		return nil, fmt.Errorf("lookup %s: %w", m.MAC, ErrNotFound)
	})
}

func get(t *testing.T, h http.Handler, target, ua string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(body)
}

func TestHandlerServesMachineScript(t *testing.T) {
	var seen []*Machine
	h := &Handler{Renderer: fleet(t, &seen)}
	q := "/boot.ipxe?mac=52-54-00-12-34-56&uuid=4C4C4544-0032-3410-8036-B4C04F4E4D32&buildarch=arm64&platform=efi" +
		"&manufacturer=Dell%20Inc.&product=PowerEdge%20R640&serial=AB+C%26D&asset=&hostname=node-1&ip=192.0.2.10&custom=x"
	res, body := get(t, h, q, ipxeUA)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/plain; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	assert.Contains(t, body, "kernel --name vmlinuz http://192.0.2.1/arm64/vmlinuz initrd=initrd.img hostname=node-1\n")
	_, err := ParseString(body)
	require.NoError(t, err)

	require.Len(t, seen, 1)
	m := seen[0]
	assert.Equal(t, net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}, m.MAC)
	assert.Equal(t, "4c4c4544-0032-3410-8036-b4c04f4e4d32", m.UUID)
	assert.Equal(t, "arm64", m.BuildArch)
	assert.True(t, m.UEFI())
	assert.Equal(t, "Dell Inc.", m.Manufacturer)
	assert.Equal(t, "PowerEdge R640", m.Product)
	assert.Equal(t, "AB+C&D", m.Serial, `"+" is literal: old iPXE does not encode it`)
	assert.Equal(t, "", m.Asset)
	assert.Equal(t, "node-1", m.Hostname)
	assert.Equal(t, net.IPv4(192, 0, 2, 10).To4(), m.IP)
	assert.Equal(t, []string{"x"}, m.Query["custom"])
	assert.True(t, m.IPXE)

	// HEAD: headers only.
	req := httptest.NewRequest(http.MethodHead, q, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Empty(t, rec.Body.String())
	assert.NotEmpty(t, rec.Header().Get("Content-Length"))

	res, _ = get(t, h, q, "curl/8.0")
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

// Garbage in descriptive SMBIOS/DHCP strings does not block the boot: the
// values reach the Renderer as sent, and only the builder decides.
func TestHandlerPassesDescriptiveStringsAsSent(t *testing.T) {
	var got *Machine
	h := &Handler{Renderer: RenderFunc(func(_ context.Context, m *Machine) (*Script, error) {
		got = m
		s := New().Echo("product: " + Sanitize(m.Product, 0))
		return s, s.Err()
	})}
	res, body := get(t, h, "/b?mac=52:54:00:12:34:56&product=x%0Areboot%00%FF%24%7Bx%7D", ipxeUA)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "x\nreboot\x00\xff${x}", got.Product)
	assert.Equal(t, "#!ipxe\necho product: x reboot???{x}\n", body)

	// A renderer that passes the raw value to the builder gets an error,
	// and the machine an error script, not the injected command.
	h.Renderer = RenderFunc(func(_ context.Context, m *Machine) (*Script, error) {
		s := New().Set("product", m.Product)
		return s, s.Err()
	})
	res, body = get(t, h, "/b?mac=52:54:00:12:34:56&product=x%0Areboot", ipxeUA)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.NotContains(t, body, "\nreboot")
	assert.Contains(t, body, "server error")
}

func TestHandlerMACFormats(t *testing.T) {
	for _, mac := range []string{"52:54:00:12:34:56", "52-54-00-12-34-56", "525400123456", "5254.0012.3456", "52%3A54%3A00%3A12%3A34%3A56"} {
		var seen []*Machine
		h := &Handler{Renderer: fleet(t, &seen)}
		res, _ := get(t, h, "/?mac="+mac, "curl/8")
		assert.Equal(t, http.StatusOK, res.StatusCode, mac)
	}
}

func TestHandlerRefusals(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		status int    // for non-iPXE clients
		reason string // shown to both
	}{
		{"missing mac", "/boot.ipxe", http.StatusBadRequest, "mac: missing"},
		{"empty mac (unset setting)", "/boot.ipxe?mac=", http.StatusBadRequest, "mac: missing"},
		{"bad mac", "/boot.ipxe?mac=zz:zz", http.StatusBadRequest, "not a MAC address"},
		{"two macs", "/boot.ipxe?mac=52:54:00:12:34:56&mac=52:54:00:12:34:57", http.StatusBadRequest, "more than once"},
		{"bad uuid", "/boot.ipxe?mac=52:54:00:12:34:56&uuid=xyz", http.StatusBadRequest, "not a UUID"},
		{"bad arch", "/boot.ipxe?mac=52:54:00:12:34:56&buildarch=x86%2064", http.StatusBadRequest, "not a lowercase word"},
		{"bad platform", "/boot.ipxe?mac=52:54:00:12:34:56&platform=EFI", http.StatusBadRequest, "not a lowercase word"},
		{"too long", "/boot.ipxe?mac=52:54:00:12:34:56&serial=" + strings.Repeat("x", 1100), http.StatusBadRequest, "longer than"},
		{"bad ip", "/boot.ipxe?mac=52:54:00:12:34:56&ip=::1", http.StatusBadRequest, "IPv4"},
		{"bad escape", "/boot.ipxe?mac=52:54:00:12:34:56&serial=%zz", http.StatusBadRequest, "percent-encoding"},
		{"bad retry", "/boot.ipxe?mac=52:54:00:12:34:56&retry=-1", http.StatusBadRequest, "retry"},
		{"unknown machine", "/boot.ipxe?mac=52:54:00:99:99:99", http.StatusNotFound, "no boot configuration for 52:54:00:99:99:99"},
		{"renderer error", "/boot.ipxe?mac=52:54:00:00:00:02", http.StatusInternalServerError, "server error"},
		{"unsafe script from renderer", "/boot.ipxe?mac=52:54:00:00:00:03", http.StatusInternalServerError, "server error"},
		{"nil script", "/boot.ipxe?mac=52:54:00:00:00:04", http.StatusInternalServerError, "server error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []*Machine
			var logs bytes.Buffer
			h := &Handler{Renderer: fleet(t, &seen), Logger: slog.New(slog.NewTextHandler(&logs, nil))}

			res, body := get(t, h, tt.query, "curl/8.5")
			assert.Equal(t, tt.status, res.StatusCode)
			assert.Contains(t, body, tt.reason)
			assert.NotContains(t, body, "#!ipxe")

			logs.Reset()
			res, body = get(t, h, tt.query, ipxeUA)
			require.Equal(t, http.StatusOK, res.StatusCode, "iPXE must always get a script it runs")
			assert.Contains(t, body, "echo netboot: ")
			assert.Contains(t, body, tt.reason[:min(len(tt.reason), 12)])
			assert.NotEmpty(t, logs.String(), "every refusal is logged")
			s, err := ParseString(body)
			require.NoError(t, err, body)
			diags, _ := Lint(strings.NewReader(body))
			assert.Empty(t, diags)
			// It sleeps, then chains back (never a silent hang).
			last := s.Lines[len(s.Lines)-1].Commands[0]
			assert.Equal(t, "chain", last.Name)
			assert.Equal(t, []string{"--autofree", "--replace"}, last.Args[:2])
			assert.True(t, strings.HasPrefix(last.Args[2], "/boot.ipxe?"), last.Args[2])
			assert.True(t, strings.HasSuffix(last.Args[2], "retry=1"), last.Args[2])
			assert.Contains(t, body, "\nsleep 10 || exit 1\n")
		})
	}
}

func TestHandlerErrorScriptIsSafeWithHostileQuery(t *testing.T) {
	h := &Handler{Renderer: RenderFunc(func(context.Context, *Machine) (*Script, error) { return nil, ErrNotFound })}
	for _, q := range []string{
		"/boot.ipxe?mac=%24%7Bx%7D%0Areboot",
		"/boot.ipxe?mac=52:54:00:12:34:56&hostname=%23x%20%26%26%20reboot&x=${y}",
		"/b%20oot%24.ipxe?mac=%5C",
		"/boot.ipxe?mac=52:54:00:12:34:56&uuid=" + strings.Repeat("%24%7B", 100),
		"/boot.ipxe?%zz=1",
	} {
		res, body := get(t, h, q, ipxeUA)
		require.Equal(t, http.StatusOK, res.StatusCode, q)
		s, err := ParseString(body)
		require.NoError(t, err, body)
		for _, l := range s.Lines {
			for _, c := range l.Commands {
				assert.Contains(t, []string{"echo", "sleep", "exit", "chain"}, c.Name, body)
				for _, a := range c.Args {
					assert.NotContains(t, a, "$", body)
				}
			}
		}
	}
}

func TestHandlerBackoff(t *testing.T) {
	h := &Handler{Renderer: RenderFunc(func(context.Context, *Machine) (*Script, error) { return nil, ErrNotFound }),
		RetryDelay: 3 * time.Second, MaxRetryDelay: 20 * time.Second}
	for _, tt := range []struct {
		retry, sleep int
	}{{0, 3}, {1, 6}, {2, 12}, {3, 20}, {50, 20}} {
		_, body := get(t, h, fmt.Sprintf("/b?mac=52:54:00:12:34:56&retry=%d", tt.retry), ipxeUA)
		assert.Contains(t, body, fmt.Sprintf("\nsleep %d || exit 1\n", tt.sleep))
		assert.Contains(t, body, fmt.Sprintf("retry=%d\n", tt.retry+1))
		assert.Equal(t, 1, strings.Count(body, "retry="), "the old counter is replaced")
	}
	// A custom RetryURL, e.g. behind a path-rewriting proxy.
	h.RetryURL = "/pxe/boot.ipxe"
	_, body := get(t, h, "/b?mac=52:54:00:12:34:56", ipxeUA)
	assert.Contains(t, body, "chain --autofree --replace /pxe/boot.ipxe?mac=52%3A54%3A00%3A12%3A34%3A56&retry=1\n")
}

func TestHandlerMisc(t *testing.T) {
	h := &Handler{}
	res, body := get(t, h, "/?mac=52:54:00:12:34:56", "curl/8")
	assert.Equal(t, http.StatusInternalServerError, res.StatusCode)
	assert.Contains(t, body, "misconfigured")
	res, _ = get(t, h, "/?mac=52:54:00:12:34:56", ipxeUA)
	assert.Equal(t, http.StatusOK, res.StatusCode)

	req := httptest.NewRequest(http.MethodPost, "/?mac=52:54:00:12:34:56", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
}

func TestIsIPXE(t *testing.T) {
	for ua, want := range map[string]bool{
		"iPXE/1.21.1+ (g7c3c3)": true, "iPXE/1.0.0+": true, "ipxe/1.0": false, "curl/8.5.0": false,
		"Mozilla/5.0": false, "": false, "UefiHttpBoot/1.0": false,
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("User-Agent", ua)
		assert.Equal(t, want, IsIPXE(req), ua)
	}
	req := httptest.NewRequest(http.MethodGet, "/?mac=x&ipxe=1", nil)
	req.Header.Set("User-Agent", "curl/8")
	assert.True(t, IsIPXE(req), "query flag")
}

// The full loop over real HTTP: a first-stage script's URL, expanded the
// way iPXE expands it, reaches the handler and gets the machine's script.
func TestBootstrapURLReachesHandler(t *testing.T) {
	var seen []*Machine
	srv := httptest.NewServer(&Handler{Renderer: fleet(t, &seen)})
	defer srv.Close()
	u, err := IdentityURL(srv.URL + "/boot.ipxe")
	require.NoError(t, err)
	// What iPXE substitutes (uristring-encoded strings, "+" unencoded as in 2019 builds).
	expanded := strings.NewReplacer(
		"${netX/mac:hexhyp}", "52-54-00-12-34-56",
		"${uuid}", "",
		"${buildarch}", "x86_64",
		"${platform}", "pcbios",
		"${manufacturer:uristring}", "QEMU",
		"${product:uristring}", "Standard%20PC%20%28i440FX%20%2B%20PIIX%2C%201996%29",
		"${serial:uristring}", "A+B",
		"${asset:uristring}", "",
		"${hostname:uristring}", "node-1",
		"${ip}", "10.0.2.15",
	).Replace(string(u))
	require.NotContains(t, expanded, "${")
	req, err := http.NewRequest(http.MethodGet, expanded, nil)
	require.NoError(t, err)
	req.Header.Set("User-Agent", ipxeUA)
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, string(body), "echo Hello node-1\n")
	require.Len(t, seen, 1)
	assert.Equal(t, "Standard PC (i440FX + PIIX, 1996)", seen[0].Product)
	assert.Equal(t, "A+B", seen[0].Serial)
	assert.Equal(t, "pcbios", seen[0].Platform)
	assert.Equal(t, "", seen[0].UUID)
}

func TestHandlerServedHook(t *testing.T) {
	var events []ServeEvent
	var seen []*Machine
	h := &Handler{Renderer: fleet(t, &seen), Served: func(e ServeEvent) { events = append(events, e) }}
	get(t, h, "/b?mac=52:54:00:12:34:56", ipxeUA)
	get(t, h, "/b?mac=52:54:00:99:99:99", ipxeUA)
	get(t, h, "/b?mac=52:54:00:99:99:99", "curl/8")
	get(t, h, "/b?mac=bogus", "curl/8")
	require.Len(t, events, 4)
	assert.True(t, events[0].Script)
	assert.Equal(t, http.StatusOK, events[0].Status)
	assert.NoError(t, events[0].Err)
	assert.Equal(t, "52:54:00:12:34:56", events[0].Machine.MAC.String())
	assert.False(t, events[1].Script)
	assert.Equal(t, http.StatusOK, events[1].Status, "iPXE gets 200 and an error script")
	assert.ErrorIs(t, events[1].Err, ErrNotFound)
	assert.Equal(t, http.StatusNotFound, events[2].Status)
	assert.False(t, events[2].IPXE)
	assert.Nil(t, events[3].Machine)
	assert.ErrorIs(t, events[3].Err, ErrIdentity)
	assert.Equal(t, http.StatusBadRequest, events[3].Status)

	// A RetryURL that cannot be written is a loud 500, not a broken script.
	h.RetryURL = "/a b"
	res, _ := get(t, h, "/b?mac=52:54:00:99:99:99", ipxeUA)
	assert.Equal(t, http.StatusInternalServerError, res.StatusCode)
	assert.Equal(t, http.StatusInternalServerError, events[len(events)-1].Status)
}
