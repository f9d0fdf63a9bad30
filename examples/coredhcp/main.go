// Command coredhcp is CoreDHCP with the netboot plugin compiled in: a
// complete DHCP server (addresses from coredhcp's range plugin) that also
// answers network-boot clients through dhcpboot.
//
//	coredhcp -conf config.yml
//
// See the plugin package for the netboot arguments.
package main

import (
	"flag"
	"log"

	"github.com/coredhcp/coredhcp/config"
	"github.com/coredhcp/coredhcp/plugins"
	pldns "github.com/coredhcp/coredhcp/plugins/dns"
	plleasetime "github.com/coredhcp/coredhcp/plugins/leasetime"
	plnetmask "github.com/coredhcp/coredhcp/plugins/netmask"
	plrange "github.com/coredhcp/coredhcp/plugins/range"
	plrouter "github.com/coredhcp/coredhcp/plugins/router"
	plserverid "github.com/coredhcp/coredhcp/plugins/serverid"
	"github.com/coredhcp/coredhcp/server"
	netboot "github.com/netbootkit/netboot/examples/coredhcp/plugin"
)

func main() {
	conf := flag.String("conf", "config.yml", "CoreDHCP configuration file")
	flag.Parse()
	cfg, err := config.Load(*conf)
	if err != nil {
		log.Fatalf("load %s: %v", *conf, err)
	}
	for _, p := range []*plugins.Plugin{
		&plserverid.Plugin, &plnetmask.Plugin, &plrouter.Plugin, &pldns.Plugin,
		&plleasetime.Plugin, &plrange.Plugin, &netboot.Plugin,
	} {
		if err := plugins.RegisterPlugin(p); err != nil {
			log.Fatalf("register %s: %v", p.Name, err)
		}
	}
	srv, err := server.Start(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Wait(); err != nil {
		log.Fatal(err)
	}
}
