package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/firmware"
	"github.com/branchgw/branchgw/gateway/remote"
	"github.com/branchgw/branchgw/gateway/version"
	"github.com/branchgw/branchgw/gateway/web"
	"github.com/branchgw/branchgw/netctl/wan"
)

// buildParts wires the daemon's components from the config. Each subsystem
// gets its config section, the logger and the few dependencies it needs.
func buildParts(cfg *config.Config, g *Gateway, opt Options) ([]Part, error) {
	deps := web.Deps{
		Logger:   g.log,
		Snapshot: func() any { return g.Snapshot() },
		Config:   g.Config,
		Events:   g.events.Recent,
		Logs:     g.logs.Recent,
		// A technician's action: on the page's list and to head office.
		Audit: func(e web.Event) {
			g.events.Add(e)
			g.store("event", e)
		},
		StatPaths: []string{"/", filepath.Dir(cfg.Telemetry.StorePath)},
		StateDir:  filepath.Dir(cfg.Telemetry.StorePath),
		// g.sup exists by the time a request arrives.
		Actions: web.ActionFuncs{
			RestartFunc:  func(ctx context.Context, name string) error { return g.sup.Restart(ctx, name) },
			RebootFunc:   g.Reboot,
			TestWANFunc:  g.TestWAN,
			ForceWANFunc: g.ForceWAN,
			CaptureFunc: func(ctx context.Context, w io.Writer, d time.Duration) error {
				return web.CapturePcap(g.Config().LAN.Interface)(ctx, w, d)
			},
		},
	}
	webSock, webLAN := web.New(cfg.Web, deps)
	g.bundle = webSock.Bundle
	tp := &telemetryPart{g: g}
	tp.cfg.Store(cfg)
	g.telemetry = tp
	rc, err := remote.New(remote.Options{
		Config:     cfg,
		Session:    tp,
		Applier:    applier{g},
		Handlers:   g.commandHandlers(),
		ConfigPath: opt.ConfigPath,
		StateDir:   filepath.Dir(cfg.Telemetry.StorePath),
		Audit:      func(kind string, v any) { g.Emit("event", map[string]any{"kind": kind + "_audit", "detail": v}) },
		Log:        g.log.With("component", "remote"),
	})
	if err != nil {
		return nil, err
	}
	tp.remote = rc
	fwEmit := func(e firmware.Event) { g.Emit("event", e) }
	marker := firmware.NewMarker(cfg.Firmware, firmware.Deps{
		Logger: g.log.With("component", "firmware"), Manager: g.firmware, Healthy: g.healthy, Emit: fwEmit,
	})
	parts := []Part{
		{Component: webSock},
		{Component: webLAN},
		{Component: tp}, // its store and uplink appear as parts of their own
		{Component: outboxPart{g}, Snapshot: func() any { return g.outbox.Snapshot() }},
		{Component: rc, Snapshot: func() any { return map[string]int64{"config_pending_version": rc.PendingVersion()} }},
		{Component: marker, Snapshot: func() any { return marker.Snapshot() }},
	}
	if opt.WithoutNetwork {
		return parts, nil
	}
	wm, err := newRebuilt("wan", cfg,
		func(c *config.Config) any { return []any{c.WAN, c.Failover} },
		func(c *config.Config) (*wan.Manager, error) {
			return wan.New(c.WAN, c.Failover, g.log.With("component", "wan"), wan.Options{
				OnEvent: g.onWANEvent,
			})
		}, g.supervisorRestart)
	if err != nil {
		return nil, err
	}
	g.wan = wm
	parts = append(parts, Part{Component: wm, Snapshot: func() any { return wm.current().Snapshot() }})
	netParts, err := networkParts(cfg, g)
	if err != nil {
		return nil, err
	}
	return append(parts, netParts...), nil
}

// applier lets a config push reload the daemon.
type applier struct{ g *Gateway }

func (a applier) Running() *config.Config        { return a.g.Config() }
func (a applier) Apply(cfg *config.Config) error { return a.g.Reload(cfg) }

// commandHandlers are head office's commands (gateway/remote).
func (g *Gateway) commandHandlers() map[string]remote.Handler {
	return map[string]remote.Handler{
		"ping": func(context.Context, json.RawMessage) (any, error) {
			return map[string]string{"pong": g.Config().Site, "version": version.Version, "boot_id": g.bootID}, nil
		},
		"status": func(context.Context, json.RawMessage) (any, error) { return g.Snapshot(), nil },
		"diag": func(ctx context.Context, args json.RawMessage) (any, error) {
			var a struct {
				CaptureSeconds int `json:"capture_seconds"`
			}
			if err := remote.DecodeArgs(args, &a); err != nil {
				return nil, err
			}
			name, data, err := g.bundle(ctx, a.CaptureSeconds)
			if err != nil {
				return nil, err
			}
			return remote.Chunked{Name: name, Data: data}, nil
		},
		"wan-test": func(ctx context.Context, args json.RawMessage) (any, error) {
			var a struct {
				WAN string `json:"wan"`
			}
			if err := remote.DecodeArgs(args, &a); err != nil {
				return nil, err
			}
			return g.TestWAN(ctx, a.WAN)
		},
		"failover": func(ctx context.Context, args json.RawMessage) (any, error) {
			var a struct {
				WAN     string `json:"wan"`
				Minutes int    `json:"minutes"` // 0 returns to automatic
			}
			if err := remote.DecodeArgs(args, &a); err != nil {
				return nil, err
			}
			if a.Minutes < 0 || a.Minutes > 24*60 {
				return nil, fmt.Errorf("bad arguments: minutes %d: between 0 and 1440", a.Minutes)
			}
			d := time.Duration(a.Minutes) * time.Minute
			return map[string]any{"wan": a.WAN, "minutes": a.Minutes}, g.ForceWAN(ctx, a.WAN, d)
		},
		"update": func(ctx context.Context, args json.RawMessage) (any, error) {
			var a struct {
				Bundle string `json:"bundle"`
			}
			if err := remote.DecodeArgs(args, &a); err != nil {
				return nil, err
			}
			if a.Bundle == "" {
				return nil, errors.New("bad arguments: bundle (the signed RAUC bundle's URL or path) is required")
			}
			// An install takes minutes: it runs on, and reports through
			// firmware.update_* events.
			go func() {
				if err := g.updater.Install(context.WithoutCancel(ctx), a.Bundle); err != nil {
					g.log.Error("firmware update failed", "bundle", a.Bundle, "err", err)
				}
			}()
			return map[string]string{"started": a.Bundle}, nil
		},
		"reboot": func(ctx context.Context, args json.RawMessage) (any, error) {
			if err := remote.DecodeArgs(args, &struct{}{}); err != nil {
				return nil, err
			}
			return map[string]string{"rebooting": g.Config().Site}, g.Reboot(ctx)
		},
		"restart-component": func(ctx context.Context, args json.RawMessage) (any, error) {
			var a struct {
				Component string `json:"component"`
			}
			if err := remote.DecodeArgs(args, &a); err != nil {
				return nil, err
			}
			return map[string]string{"restarted": a.Component}, g.sup.Restart(ctx, a.Component)
		},
	}
}

// healthy is the firmware marker's test of a good boot: every component
// running, a WAN active and, when a broker is configured, the uplink up.
func (g *Gateway) healthy() (bool, string) {
	for _, h := range g.sup.Health() {
		if h.State != StateRunning {
			return false, fmt.Sprintf("%s: %s", h.Name, h.State)
		}
	}
	if g.wan != nil && g.ActiveWAN() == "" {
		return false, "wan: no WAN up"
	}
	if t := g.telemetry; t != nil && g.Config().MQTT.Broker != "" {
		if up := t.up.Load(); up == nil || !up.Snapshot().Connected {
			return false, "uplink: not connected to head office"
		}
	}
	return true, ""
}
