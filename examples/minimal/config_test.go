package main

import (
	"errors"
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
