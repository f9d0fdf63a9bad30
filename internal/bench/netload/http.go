package netload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/netbootkit/netboot/internal/bench/harness"
)

func httpWorkloads(cfg harness.Config, p params) []harness.Workload {
	env := &netEnv{}
	return []harness.Workload{{
		ID: "http-storm", Group: "HTTP",
		Title: fmt.Sprintf("storm: %d clients at once, each kernel %s + initrd %s (Go net/http, one connection per client)",
			p.clients, mib(p.kernel), mib(p.initrd)),
		Metrics: []harness.Metric{
			{Key: "seconds", Unit: "s (last done)"},
			{Key: "rate", Unit: "MB/s aggregate", HigherIsBetter: true},
		},
		Setup: setupNet(cfg, env, "http", 0, []file{{name: "vmlinuz", size: p.kernel}, {name: "initrd.img", size: p.initrd}}),
		Subjects: []harness.Subject{
			{Name: "netboot", Ours: true, Start: func(ctx context.Context) (*harness.Server, error) { return startMinimalFiles(ctx, env, 0) }},
			{Name: "nginx", Check: func() error { return harness.Need("nginx", "nginx-light") }, Start: func(ctx context.Context) (*harness.Server, error) { return startNginx(ctx, env) }},
			{Name: "busybox httpd", Check: func() error { return harness.Need("busybox", "busybox-static") }, Start: func(ctx context.Context) (*harness.Server, error) {
				// -f: foreground; it forks a child per connection.
				return startTCP(ctx, "busybox httpd", env, "busybox", "httpd", "-f", "-p", env.net.ServerIP.String()+":80", "-h", env.root)
			}},
		},
		Timeout: 15 * time.Minute,
		Run: func(ctx context.Context, subject string, srv *harness.Server) (harness.Sample, error) {
			args := []string{"http", "-clients", strconv.Itoa(p.clients)}
			for _, f := range env.files {
				args = append(args, "-file", "http://"+env.net.ServerIP.String()+"/"+f.name+"="+f.sha256)
			}
			return runStorm(ctx, env, args...)
		},
	}}
}

// startNginx runs nginx in the foreground with Debian's defaults where
// they matter: one worker per CPU, sendfile, an access log (to a file).
func startNginx(ctx context.Context, env *netEnv) (*harness.Server, error) {
	d, err := scratch(env.dir, "nginx")
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes auto;
user root;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  types { application/octet-stream bin; }
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen %[2]s:80;
    root %[3]s;
  }
}
`, d, env.net.ServerIP, env.root)
	cf := filepath.Join(d, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return startTCPClean(ctx, "nginx", env, func() { os.RemoveAll(d) }, "nginx", "-c", cf, "-p", d, "-e", "stderr")
}

func startTCP(ctx context.Context, name string, env *netEnv, prog string, args ...string) (*harness.Server, error) {
	return startTCPClean(ctx, name, env, func() {}, prog, args...)
}

// startTCPClean starts prog in the server namespace and waits until port
// 80 accepts connections from the client namespace.
func startTCPClean(ctx context.Context, name string, env *netEnv, cleanup func(), prog string, args ...string) (*harness.Server, error) {
	pr, err := harness.StartProc(env.net.Server, nil, prog, args...)
	if err != nil {
		cleanup()
		return nil, errf(name, "%w", err)
	}
	wctx, cancel := startCtx(ctx)
	defer cancel()
	if err := pr.WaitTCP(wctx, env.net.Client, env.net.ServerIP.String()+":80"); err != nil {
		pr.Stop()
		cleanup()
		return nil, errf(name, "%w", err)
	}
	return pr.Server(name, cleanup), nil
}
