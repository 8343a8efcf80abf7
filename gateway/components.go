package gateway

import (
	"context"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/web"
)

// buildParts wires the daemon's components from the config. Each subsystem
// gets its config section, the logger and the few dependencies it needs.
func buildParts(cfg *config.Config, g *Gateway) ([]Part, error) {
	deps := web.Deps{
		Logger:   g.log,
		Snapshot: func() any { return g.Snapshot() },
		// g.sup exists by the time a request arrives.
		Restart: func(ctx context.Context, name string) error { return g.sup.Restart(ctx, name) },
	}
	return []Part{
		{Component: web.NewSocket(cfg.Web, deps)},
		{Component: web.NewLAN(cfg.Web, deps)},
	}, nil
}
