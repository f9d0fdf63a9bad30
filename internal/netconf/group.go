package netconf

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Shutdowner is a server that stops gracefully: net/http's Server and every server
// of this module.
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}

// Group runs the servers of one reference program: each in its own goroutine, until
// the context ends or one of them fails; then it shuts them all down. The zero value
// is ready to use.
type Group struct {
	servers []Shutdowner
	errc    chan error
	wg      sync.WaitGroup
	once    sync.Once
}

// Go starts serve in a goroutine; s is shut down when the group stops. An error
// serve returns before the group stops ends the group and is reported by Wait as
// "name: err"; what serve returns after that (ErrServerClosed and the like) is
// expected and dropped.
func (g *Group) Go(name string, s Shutdowner, serve func() error) {
	g.once.Do(func() { g.errc = make(chan error, 1) })
	g.servers = append(g.servers, s)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := serve(); err != nil {
			select {
			case g.errc <- fmt.Errorf("%s: %w", name, err):
			default: // the group is already stopping
			}
		}
	}()
}

// Fail ends the group with err, as if a server had failed.
func (g *Group) Fail(err error) {
	g.once.Do(func() { g.errc = make(chan error, 1) })
	select {
	case g.errc <- err:
	default:
	}
}

// Wait blocks until ctx is done or a server fails, shuts every server down (waiting
// at most grace for running transfers and sessions), waits for their goroutines,
// and returns the first failure, or nil when ctx ended the group.
func (g *Group) Wait(ctx context.Context, grace time.Duration) error {
	g.once.Do(func() { g.errc = make(chan error, 1) })
	var err error
	select {
	case <-ctx.Done():
	case err = <-g.errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	for _, s := range g.servers {
		s.Shutdown(sctx)
	}
	g.wg.Wait()
	return err
}
