package netconf

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGroupStopsOnContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.NotFoundHandler()}
	var g Group
	g.Go("HTTP", srv, func() error { return srv.Serve(l) }) // ErrServerClosed after Shutdown: dropped
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.NoError(t, g.Wait(ctx, time.Second))
	_, err = net.Dial("tcp", l.Addr().String())
	assert.Error(t, err, "the server is shut down")
}

type stopCount struct{ n *int }

func (s stopCount) Shutdown(context.Context) error { *s.n++; return nil }

func TestGroupStopsOnFailure(t *testing.T) {
	stops := 0
	var g Group
	block := make(chan struct{})
	g.Go("blocked", stopCount{&stops}, func() error { <-block; return nil })
	g.Go("TFTP", stopCount{&stops}, func() error { return errors.New("bind: permission denied") })
	go func() { time.Sleep(10 * time.Millisecond); close(block) }()
	err := g.Wait(context.Background(), time.Second)
	assert.EqualError(t, err, "TFTP: bind: permission denied")
	assert.Equal(t, 2, stops, "every server is shut down")

	var g2 Group
	g2.Fail(errors.New("bad -range"))
	assert.EqualError(t, g2.Wait(context.Background(), time.Second), "bad -range")
}
