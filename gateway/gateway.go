// Package gateway is the daemon core: it wires the components, supervises
// them, publishes a snapshot of the whole state, reloads the config and
// speaks sd_notify to systemd.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/firmware"
	"github.com/branchgw/branchgw/gateway/version"
	"github.com/branchgw/branchgw/gateway/web"
	"github.com/branchgw/branchgw/netctl/qos"
	"github.com/branchgw/branchgw/netctl/wan"
	"github.com/branchgw/branchgw/telemetry/outbox"
)

// Part is a supervised component and, if it has one, its snapshot.
type Part struct {
	Component
	// Snapshot returns the component's current immutable state, or nil.
	Snapshot func() any
}

// Reloader is implemented by components that take a new config without a
// restart. Reload must not keep a partly applied config: on error the old
// one stays in force.
type Reloader interface {
	Reload(cfg *config.Config) error
}

// Options are what the daemon hands to New; zero values are fine in tests.
type Options struct {
	Logger *slog.Logger
	// Level is the logger's level, changed live when a reload changes log.level.
	Level *slog.LevelVar
	// Parts replaces the components built from the config (tests).
	Parts []Part
	// ConfigPath is the config file; confirmed config pushes replace it.
	ConfigPath string
	// WithoutNetwork leaves out the components that change the kernel's
	// network state (WAN routing, QoS, zones, capture): for tests that run
	// the daemon outside a lab namespace, which must not touch the host.
	WithoutNetwork bool
	// Tick overrides the supervisor tick (tests); default: half the systemd
	// watchdog interval, or 1 s.
	Tick time.Duration
}

// Gateway is the running daemon.
type Gateway struct {
	log      *slog.Logger
	level    *slog.LevelVar
	cfg      atomic.Pointer[config.Config]
	sup      *Supervisor
	notify   *Notifier
	parts    []Part
	started  time.Time
	bootID   string
	ready    atomic.Bool
	loaded   atomic.Pointer[time.Time]
	reloadMu sync.Mutex
	// rebootFile is where Reboot asks systemd (tests replace it).
	rebootFile string
	// rebootAfter is when an asked reboot goes ahead (default 2 s later;
	// tests hold it).
	rebootAfter func() <-chan time.Time
	// bundle makes the diagnostics bundle (gateway/web).
	bundle func(ctx context.Context, captureSecs int) (string, []byte, error)
	// firmware installs updates and marks a good boot (RAUC).
	firmware firmware.Manager
	updater  *firmware.Updater
	// telemetry is the head-office link, for Emit; nil in tests with Parts.
	telemetry *telemetryPart
	// outbox queues events for the telemetry store, so Emit never waits.
	outbox *outbox.Outbox
	// events and logs are the recent ones, for the status page.
	events *web.EventLog
	logs   *web.LogRing
	// qos shapes the active WAN; nil when disabled or in tests.
	qos *qos.QoS
	// wan picks the active uplink; nil in tests with Parts.
	wan *rebuilt[*wan.Manager]
}

// onWANEvent is the WAN manager's event handler, which must not block: the
// event is queued for head office (Emit never waits on the disk) and QoS
// follows the active WAN at once.
func (g *Gateway) onWANEvent(e wan.Event) {
	g.Emit("event", e)
	g.followWAN(e)
	if e.Kind != "wan_state" || e.To == "up" {
		g.telemetry.wake() // a line to head office may be back
	}
}

// followWAN moves shaping to the WAN that now carries traffic.
func (g *Gateway) followWAN(e wan.Event) {
	if g.qos == nil || e.WAN == "" || (e.Kind != "initial" && e.Kind != "failover" && e.Kind != "failback" && e.Kind != "forced") {
		return
	}
	if err := g.qos.SetActiveWAN(e.WAN); err != nil {
		g.log.Error("qos did not follow the active WAN", "wan", e.WAN, "err", err)
	}
}

// ActiveWAN names the WAN new connections use, or "" when unknown.
func (g *Gateway) ActiveWAN() string {
	if g.wan == nil {
		return ""
	}
	return g.wan.current().Snapshot().Active
}

// Snapshot is the whole daemon's state at one moment, for the status page,
// the API and /metrics. Readers must not modify it.
type Snapshot struct {
	Site       string         `json:"site"`
	GatewayID  string         `json:"gateway_id"`
	Version    string         `json:"version"`
	BootID     string         `json:"boot_id"`
	Started    time.Time      `json:"started"`
	Uptime     string         `json:"uptime"`
	Ready      bool           `json:"ready"`
	ConfigAt   time.Time      `json:"config_loaded"`
	LogLevel   string         `json:"log_level"`
	Components []Health       `json:"components"`
	Parts      map[string]any `json:"parts,omitempty"`
}

// Run builds the daemon from cfg and runs it until ctx is done.
func Run(ctx context.Context, cfg *config.Config) error {
	g, err := New(cfg, Options{})
	if err != nil {
		return err
	}
	return g.Run(ctx)
}

// New builds the daemon's components from cfg.
func New(cfg *config.Config, opt Options) (*Gateway, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Level == nil {
		opt.Level = new(slog.LevelVar)
	}
	// The page's "recent logs" see every line the daemon logs.
	logs := web.NewLogRing(500)
	g := &Gateway{
		log:        slog.New(logs.Handler(opt.Logger.Handler(), opt.Level)),
		logs:       logs,
		events:     web.NewEventLog(500),
		rebootFile: RebootRequest,
		level:      opt.Level,
		notify:     NewNotifier(opt.Logger),
		started:    time.Now(),
		bootID:     newBootID(),
	}
	g.outbox = outbox.New(outboxCapacity, g.log.With("component", "outbox"))
	g.setConfig(cfg)
	g.firmware = firmware.NewRAUC()
	g.updater = firmware.NewUpdater(g.firmware, func(e firmware.Event) { g.Emit("event", e) }, nil)
	g.parts = opt.Parts
	if g.parts == nil {
		parts, err := buildParts(cfg, g, opt)
		if err != nil {
			return nil, err
		}
		g.parts = parts
	}
	tick := opt.Tick
	if tick <= 0 {
		tick = g.notify.WatchdogInterval()
	}
	if tick <= 0 || tick > time.Second {
		tick = time.Second
	}
	comps := make([]Component, len(g.parts))
	for i, p := range g.parts {
		comps[i] = p.Component
	}
	g.sup = NewSupervisor(g.log, SupervisorOptions{
		Backoff:         cfg.Supervisor.RestartBackoff.D(),
		BackoffMax:      cfg.Supervisor.RestartBackoffMax.D(),
		ShutdownTimeout: cfg.Supervisor.ShutdownTimeout.D(),
		Tick:            tick,
		OnTick:          g.tick,
		OnReady:         g.onReady,
	}, comps...)
	return g, nil
}

func newBootID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (g *Gateway) setConfig(cfg *config.Config) {
	g.cfg.Store(cfg)
	now := time.Now()
	g.loaded.Store(&now)
	var l slog.Level
	if err := l.UnmarshalText([]byte(cfg.Log.Level)); err == nil {
		g.level.Set(l)
	}
}

// Logger is the daemon's logger, whose lines the status page shows too.
func (g *Gateway) Logger() *slog.Logger { return g.log }

// Config returns the config in force.
func (g *Gateway) Config() *config.Config { return g.cfg.Load() }

// Supervisor gives actions (restart a component) to the API.
func (g *Gateway) Supervisor() *Supervisor { return g.sup }

// Run supervises the components until ctx is done, then stops them within
// the shutdown timeout.
func (g *Gateway) Run(ctx context.Context) error {
	cfg := g.Config()
	g.log.Info("gatewayd starting", "version", version.Version, "site", cfg.Site,
		"components", len(g.parts), "boot_id", g.bootID)
	err := g.sup.Run(ctx)
	g.notify.Stopping()
	if err != nil {
		g.log.Error("gatewayd stopped uncleanly", "err", err)
		return err
	}
	g.log.Info("gatewayd stopped")
	return nil
}

// Reload puts a validated config in force. Components that implement
// Reloader get it; if one refuses, the others keep the new config and the
// error says which one kept its old settings.
func (g *Gateway) Reload(cfg *config.Config) error {
	// SIGHUP and a head-office push may arrive together: one at a time.
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	g.notify.Reloading()
	defer g.notify.Ready()
	g.setConfig(cfg)
	var failed []string
	for _, p := range g.parts {
		if r, ok := p.Component.(Reloader); ok {
			if err := r.Reload(cfg); err != nil {
				g.log.Error("component kept its old config", "component", p.Name(), "err", err)
				failed = append(failed, p.Name())
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("reload: %s kept the old config", strings.Join(failed, ", "))
	}
	g.log.Info("config reloaded", "site", cfg.Site, "log_level", cfg.Log.Level)
	return nil
}

func (g *Gateway) onReady() {
	g.ready.Store(true)
	g.notify.Ready()
	g.log.Info("gatewayd ready", "after", time.Since(g.started).Round(time.Millisecond))
	g.notify.Status(g.StatusLine())
}

// tick runs on the supervisor loop: the watchdog ping proves the loop is
// alive, and the status line follows component health.
func (g *Gateway) tick() {
	g.notify.Watchdog()
	if g.ready.Load() {
		g.notify.Status(g.StatusLine())
	}
}

// StatusLine is the one-line summary for systemd's STATUS=.
func (g *Gateway) StatusLine() string {
	hs := g.sup.Health()
	up := 0
	var bad []string
	for _, h := range hs {
		if h.State == StateRunning {
			up++
		} else if h.State == StateBackoff {
			bad = append(bad, fmt.Sprintf("%s failing (%s)", h.Name, h.LastError))
		}
	}
	s := fmt.Sprintf("%s: %d/%d components running", g.Config().Site, up, len(hs))
	if a := g.ActiveWAN(); a != "" {
		s += "; active " + a
	}
	if len(bad) > 0 {
		s += "; " + strings.Join(bad, "; ")
	}
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}

// Snapshot returns the whole daemon state now.
func (g *Gateway) Snapshot() *Snapshot {
	cfg := g.Config()
	s := &Snapshot{
		Site:       cfg.Site,
		GatewayID:  cfg.GatewayID,
		Version:    version.Version,
		BootID:     g.bootID,
		Started:    g.started,
		Uptime:     time.Since(g.started).Round(time.Second).String(),
		Ready:      g.ready.Load(),
		ConfigAt:   *g.loaded.Load(),
		LogLevel:   strings.ToLower(g.level.Level().String()),
		Components: g.sup.Health(),
		Parts:      map[string]any{},
	}
	for _, p := range g.parts {
		if p.Snapshot != nil {
			s.Parts[p.Name()] = p.Snapshot()
		}
	}
	if g.telemetry != nil {
		g.telemetry.snapshots(s.Parts)
	}
	return s
}

// BootID identifies this run of the daemon in telemetry.
func (g *Gateway) BootID() string { return g.bootID }
