// Command target serves files as iSCSI LUNs, like tgtd and tgtadm in one step.
//
//	target -name iqn.2026-01.org.example:disk -lun disk.img -lun data.img,ro \
//	       [-listen :3260] [-chap USER:SECRET] [-mutual-chap USER:SECRET] [-allow IQN]...
//
// LUNs are numbered 0, 1, … in the order given. Without -allow every
// initiator may log in. It logs logins, logouts and errors to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/netbootkit/netboot/iscsi"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "target:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("target", flag.ContinueOnError)
	listen := fs.String("listen", ":3260", "TCP address to listen on")
	name := fs.String("name", "", "target IQN (required)")
	chap := fs.String("chap", "", "require CHAP: USER:SECRET (secret 12–16 bytes)")
	mutual := fs.String("mutual-chap", "", "target credentials for mutual CHAP: USER:SECRET")
	verbose := fs.Bool("v", false, "debug logging")
	var luns, allow multi
	fs.Var(&luns, "lun", "FILE[,ro] to serve as the next LUN (repeatable)")
	fs.Var(&allow, "allow", "initiator IQN allowed to log in (repeatable; default all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || len(luns) == 0 {
		fs.Usage()
		return errors.New("-name and at least one -lun are required")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	t := &iscsi.Target{Name: *name, Initiators: allow}
	for _, l := range luns {
		path, ro := l, false
		if p, ok := strings.CutSuffix(l, ",ro"); ok {
			path, ro = p, true
		}
		dev, err := iscsi.OpenFile(path, ro)
		if err != nil {
			return err
		}
		defer dev.Close()
		t.LUNs = append(t.LUNs, iscsi.LUN{Device: dev})
		log.Info("LUN", "lun", len(t.LUNs)-1, "file", path, "bytes", dev.Size(), "readonly", ro)
	}
	if *chap != "" {
		u, s, ok := strings.Cut(*chap, ":")
		if !ok {
			return errors.New("-chap wants USER:SECRET")
		}
		t.CHAP = &iscsi.CHAP{User: u, Secret: s}
		if *mutual != "" {
			mu, ms, ok := strings.Cut(*mutual, ":")
			if !ok {
				return errors.New("-mutual-chap wants USER:SECRET")
			}
			t.CHAP.MutualUser, t.CHAP.MutualSecret = mu, ms
		}
		if err := t.CHAP.Validate(); err != nil {
			return err
		}
	} else if *mutual != "" {
		return errors.New("-mutual-chap needs -chap")
	}
	srv := &iscsi.Server{Targets: []*iscsi.Target{t}, Logger: log}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(*listen) }()
	log.Info("serving", "listen", *listen, "target", *name)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
