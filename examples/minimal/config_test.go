package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultRouteIface(t *testing.T) {
	const table = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth1	0010A8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
eth0	00000000	0100A8C0	0003	0	0	0	00000000	0	0	0
`
	got, err := defaultRouteIface(strings.NewReader(table))
	require.NoError(t, err)
	assert.Equal(t, "eth0", got)

	_, err = defaultRouteIface(strings.NewReader("Iface\tDestination\neth1\t0010A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"))
	assert.ErrorContains(t, err, "-iface")
}

func TestParseRange(t *testing.T) {
	first, last, err := parseRange("10.0.0.10-10.0.0.20")
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.10", first.String())
	assert.Equal(t, "10.0.0.20", last.String())
	for _, bad := range []string{"10.0.0.10", "10.0.0.20-10.0.0.10", "x-10.0.0.1", "10.0.0.1-::1", "::1-::2"} {
		_, _, err := parseRange(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "proxy", c.DHCPMode, "the default must never hand out addresses")
	assert.Equal(t, ":80", c.HTTP)
	assert.Equal(t, ":69", c.TFTP)

	_, err = parseFlags([]string{"-dhcp", "lab"}, io.Discard)
	assert.ErrorContains(t, err, "-range")
	_, err = parseFlags([]string{"-dhcp", "server"}, io.Discard)
	assert.ErrorContains(t, err, "want proxy, lab or off")
	_, err = parseFlags([]string{"stray"}, io.Discard)
	assert.ErrorContains(t, err, "unexpected argument")
	_, err = parseFlags([]string{"-h"}, io.Discard)
	assert.True(t, errors.Is(err, flag.ErrHelp))
}
