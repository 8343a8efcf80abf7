// Command site runs the daemon's head-office link (telemetry, uplink,
// remote, API) without its network components, so a test can run one as a
// real process on the host and kill it, without touching the host's routing.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/branchgw/branchgw/gateway"
	"github.com/branchgw/branchgw/gateway/config"
)

func main() {
	path := flag.String("config", "", "config file")
	flag.Parse()
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	g, err := gateway.New(cfg, gateway.Options{ConfigPath: *path, WithoutNetwork: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := g.Run(ctx); err != nil {
		os.Exit(1)
	}
}
