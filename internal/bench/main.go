// Command bench measures netboot's servers next to the ones a site would
// otherwise run, on the same machine in the same run, and prints the table
// the README publishes.
//
//	go run ./internal/bench                  # everything, 3 rounds (root)
//	go run ./internal/bench -only tftp,iscsi # groups or workload ids
//	go run ./internal/bench -quick           # small sizes: a smoke run
//	go run ./internal/bench -list            # the workloads
//
// Every workload runs against our server and each peer in alternation
// (A B C, A B C, … for -rounds rounds); each server runs as its own process
// (ours are built from examples/ and run like a user would) in network
// namespaces the run creates and deletes, and the resident memory of its
// process tree is sampled while it works. Results go to stdout as Markdown
// and to -out as results.md and results.json. Peers that are not installed
// are reported as skipped with the Debian package to install; `bash
// .ci/test` installs them all.
//
// It needs root (namespaces, ports below 1024, peers' sockets).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/netbootkit/netboot/internal/bench/diskload"
	"github.com/netbootkit/netboot/internal/bench/harness"
	"github.com/netbootkit/netboot/internal/bench/netload"
	"github.com/netbootkit/netboot/internal/bench/storm"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	only := fs.String("only", "", "comma-separated groups (dhcp, tftp, http, iscsi, cow, storm) or workload ids to run (default: all)")
	rounds := fs.Int("rounds", 3, "rounds per workload; subjects alternate within each round")
	quick := fs.Bool("quick", false, "small sizes and client counts: a smoke run, not for publishing")
	out := fs.String("out", ".cache/bench", "directory for results.md and results.json")
	list := fs.Bool("list", false, "list the workloads and exit")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *rounds < 1 {
		fmt.Fprintln(os.Stderr, "bench: -rounds must be at least 1")
		return 2
	}
	dir, err := os.MkdirTemp("", "netboot-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	host := harness.Host()
	cfg := harness.Config{Quick: *quick, Dir: dir, Host: &host, Logger: log}
	var all []harness.Workload
	all = append(all, netload.Workloads(cfg)...)
	all = append(all, diskload.Workloads(cfg)...)
	all = append(all, storm.Workloads(cfg)...)
	ws := selectWorkloads(all, *only)
	if *list {
		for _, w := range all {
			var subj []string
			for _, s := range w.Subjects {
				subj = append(subj, s.Name)
			}
			fmt.Printf("%-22s %-10s %s [%s]\n", w.ID, w.Group, w.Title, strings.Join(subj, ", "))
		}
		return 0
	}
	if len(ws) == 0 {
		fmt.Fprintf(os.Stderr, "bench: -only %q matches no workload (see -list)\n", *only)
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (network namespaces, privileged ports); run it as root or with go run -exec sudo")
		return 1
	}
	harness.RemoveStale()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := harness.Run(ctx, ws, harness.Options{Rounds: *rounds, Logger: log})
	rep.Host.Peers = host.Peers
	rep.Command = "go run ./internal/bench " + strings.Join(args, " ")
	rep.Command = strings.TrimSpace(rep.Command)
	if err := rep.Markdown(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	for name, write := range map[string]func(*os.File) error{
		"results.md":   func(f *os.File) error { return rep.Markdown(f) },
		"results.json": func(f *os.File) error { return rep.JSON(f) },
	} {
		f, err := os.Create(filepath.Join(*out, name))
		if err == nil {
			err = write(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	fmt.Fprintf(os.Stderr, "bench: results in %s/results.{md,json}\n", *out)
	if ctx.Err() != nil {
		return 130
	}
	return 0
}

// selectWorkloads keeps the workloads whose group (case-insensitive, spaces
// as dashes) or id is listed; an empty list keeps all.
func selectWorkloads(all []harness.Workload, only string) []harness.Workload {
	if only == "" {
		return all
	}
	want := strings.Split(strings.ToLower(only), ",")
	var out []harness.Workload
	for _, w := range all {
		g := strings.ReplaceAll(strings.ToLower(w.Group), " ", "-")
		if slices.Contains(want, g) || slices.Contains(want, w.ID) || slices.ContainsFunc(want, func(s string) bool {
			return s != "" && strings.HasPrefix(w.ID, s+"-")
		}) {
			out = append(out, w)
		}
	}
	return out
}
