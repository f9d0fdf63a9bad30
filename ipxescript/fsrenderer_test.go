package ipxescript

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFSRenderer(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	files := fstest.MapFS{
		"4c4c4544-0032-3410-8036-b4c04f4e4d32.ipxe": {Data: []byte("#!ipxe\necho by-uuid\n")},
		"52-54-00-12-34-56.ipxe":                    {Data: []byte("#!ipxe\necho by-mac\n")},
		"525400000002.ipxe":                         {Data: []byte("#!ipxe\necho by-raw-mac\n")},
		"52-54-00-00-00-03.ipxe":                    {Data: []byte("#!ipxe\ngoto nowhere\n")},
		"default.ipxe":                              {Data: []byte("#!ipxe\r\necho default\r\n")},
	}
	r := &FSRenderer{FS: files}
	render := func(m *Machine) (string, error) {
		s, err := r.RenderScript(context.Background(), m)
		if err != nil {
			return "", err
		}
		return s.String(), nil
	}
	got, err := render(&Machine{MAC: mac, UUID: "4c4c4544-0032-3410-8036-b4c04f4e4d32"})
	require.NoError(t, err)
	assert.Equal(t, "#!ipxe\necho by-uuid\n", got)

	got, err = render(&Machine{MAC: mac, UUID: "00000000-0000-0000-0000-000000000000"})
	require.NoError(t, err)
	assert.Equal(t, "#!ipxe\necho by-mac\n", got, "all-zero UUIDs (QEMU, cheap boards) are ignored")

	got, err = render(&Machine{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}})
	require.NoError(t, err)
	assert.Equal(t, "#!ipxe\necho by-raw-mac\n", got)

	// The classic colon-separated name comes before the other MAC spellings.
	files["52:54:00:00:00:02.ipxe"] = &fstest.MapFile{Data: []byte("#!ipxe\necho by-colon-mac\n")}
	got, err = render(&Machine{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}})
	require.NoError(t, err)
	assert.Equal(t, "#!ipxe\necho by-colon-mac\n", got)
	assert.Equal(t, []string{"52:54:00:00:00:02.ipxe", "52-54-00-00-00-02.ipxe", "525400000002.ipxe", "default.ipxe"},
		r.Names(&Machine{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}}))

	got, err = render(&Machine{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 9}})
	require.NoError(t, err)
	assert.Equal(t, "#!ipxe\necho default\n", got, "CRLF file normalised")

	_, err = render(&Machine{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 3}})
	assert.ErrorIs(t, err, ErrMissingLabel)
	assert.ErrorContains(t, err, "52-54-00-00-00-03.ipxe: 2:6:")

	delete(files, "default.ipxe")
	_, err = render(&Machine{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 9}})
	assert.ErrorIs(t, err, ErrNotFound)

	r.Default = New().LocalBoot()
	got, err = render(&Machine{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 9}})
	require.NoError(t, err)
	assert.Contains(t, got, "\nexit\n")

	// Read errors other than "not found" are reported.
	r2 := &FSRenderer{FS: errFS{}}
	_, err = r2.RenderScript(context.Background(), &Machine{MAC: mac})
	assert.ErrorIs(t, err, fs.ErrPermission)

	// A cancelled request stops the lookup.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.RenderScript(ctx, &Machine{MAC: mac})
	assert.True(t, errors.Is(err, context.Canceled))
}

type errFS struct{}

func (errFS) Open(string) (fs.File, error) { return nil, fs.ErrPermission }
