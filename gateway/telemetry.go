package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/fleet"
	"github.com/branchgw/branchgw/gateway/remote"
	"github.com/branchgw/branchgw/gateway/version"
	"github.com/branchgw/branchgw/telemetry/outbox"
	"github.com/branchgw/branchgw/telemetry/store"
	"github.com/branchgw/branchgw/telemetry/uplink"
)

// telemetryPart owns the head-office link: the SQLite store and the MQTT
// uplink that drains it. A store that cannot open (the data partition
// read-only or full, a file that is corrupt and cannot be moved aside) does
// not take the link down with it: telemetry goes to a fallback store in the
// runtime directory (RAM) while the real one is tried again, so head office
// still reaches the box (commands, config pushes, firmware) and hears of
// the problem (issue 26, 4).
type telemetryPart struct {
	g      *Gateway
	cfg    atomic.Pointer[config.Config]
	store  atomic.Pointer[store.Store]
	up     atomic.Pointer[uplink.Uplink]
	remote *remote.Component // messages for it are routed from the uplink
	// storeErr says why the fallback store is in use; nil when it is not.
	storeErr atomic.Pointer[string]
	// retry is how often the real store is tried again (default 30 s).
	retry time.Duration
}

// fallbackBudget bounds the fallback store: it lives in RAM.
const fallbackBudget = 4 << 20

func (t *telemetryPart) Name() string { return "telemetry" }

func (t *telemetryPart) Run(ctx context.Context) error {
	log := t.g.log.With("component", "telemetry")
	var fallback *store.Store
	dropFallback := func() {
		if fallback != nil {
			fallback.Close()
			store.Remove(fallback.Path())
			fallback = nil
		}
	}
	defer func() {
		dropFallback()
		t.storeErr.Store(nil)
	}()
	for {
		cfg := t.cfg.Load()
		st, err := store.Open(cfg.Telemetry, log, t.storeOptions(log))
		if err == nil {
			defer st.Close()
			if fallback != nil {
				carryOver(ctx, fallback, st, log)
				dropFallback()
			}
			t.storeErr.Store(nil)
			return t.serve(ctx, cfg, st, log)
		}
		msg := fmt.Sprintf("telemetry store %s cannot open: %v", cfg.Telemetry.StorePath, err)
		if fallback == nil {
			fb := cfg.Telemetry
			fb.StorePath = filepath.Join(runtimeDir(t.g.bootID), "telemetry-fallback.db")
			fb.Budget = min(fb.Budget, fallbackBudget)
			store.Remove(fb.StorePath) // a fresh one: its epoch is new
			var ferr error
			if fallback, ferr = store.Open(fb, log, t.storeOptions(log)); ferr != nil {
				return fmt.Errorf("%s, nor the fallback store: %w", msg, ferr)
			}
			log.Error("telemetry store cannot open; recording in RAM until it can", "path", cfg.Telemetry.StorePath,
				"err", err, "fallback", fb.StorePath)
			alarm, _ := json.Marshal(map[string]string{"type": "store_unavailable", "path": cfg.Telemetry.StorePath,
				"error": err.Error(), "message": msg + "; recording in RAM until it can, sent to head office as usual"})
			if _, aerr := fallback.Append(ctx, store.EventStream, alarm); aerr != nil {
				log.Warn("store_unavailable alarm not recorded", "err", aerr)
			}
		}
		msg += "; recording in RAM (" + fallback.Path() + ") until it can"
		t.storeErr.Store(&msg)
		runCtx, cancel := context.WithCancel(ctx)
		go func() {
			defer cancel()
			t.waitForStore(runCtx, cfg)
		}()
		err = t.serve(runCtx, cfg, fallback, log)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (t *telemetryPart) storeOptions(log *slog.Logger) store.Options {
	return store.Options{
		BootID:  t.g.bootID,
		OnAlarm: func(a store.Alarm) { log.Warn("telemetry store alarm", "kind", a.Kind, "msg", a.Message) },
	}
}

// waitForStore returns once the real store opens (it is closed again for
// Run to open) or ctx ends.
func (t *telemetryPart) waitForStore(ctx context.Context, cfg *config.Config) {
	every := cmp.Or(t.retry, 30*time.Second)
	quiet := slog.New(slog.DiscardHandler)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if st, err := store.Open(cfg.Telemetry, quiet, store.Options{BootID: t.g.bootID}); err == nil {
			st.Close()
			return
		}
	}
}

// serve runs the uplink over st until ctx ends or the uplink fails.
func (t *telemetryPart) serve(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) error {
	t.store.Store(st)
	defer t.store.Store(nil)
	up, err := uplink.New(cfg.MQTT, cfg.Telemetry, log, uplink.Deps{
		Store: st,
		Identity: uplink.Identity{Site: cfg.Site, GatewayID: cfg.GatewayID, BootID: t.g.bootID,
			Version: version.Version},
		OnEvent: func(e uplink.Event) {
			t.g.Emit(store.EventStream, map[string]any{"kind": "uplink_" + e.Kind, "message": e.Message})
		},
	})
	if err != nil {
		return err
	}
	if t.remote != nil {
		for _, f := range remote.Filters(up.Prefix()) {
			up.Handle(f, t.remote.Deliver)
		}
	}
	t.up.Store(up)
	defer t.up.Store(nil)
	go t.reportStatus(ctx, st, up)
	return up.Run(ctx)
}

// carryOver moves what the fallback store still holds into the real one,
// in order, under the real store's epoch and seqs.
func carryOver(ctx context.Context, from, to *store.Store, log *slog.Logger) {
	moved := 0
	for _, sinfo := range from.Streams() {
		var after uint64
		for {
			recs, err := from.Read(ctx, sinfo.Name, after, 0, 512, 0)
			if err != nil || len(recs) == 0 {
				break
			}
			entries := make([]store.Entry, len(recs))
			for i, r := range recs {
				entries[i] = store.Entry{Stream: r.Stream, Payload: r.Payload, Time: r.Time}
			}
			for _, err := range to.AppendAll(ctx, entries) {
				if err == nil {
					moved++
				}
			}
			after = recs[len(recs)-1].Seq
		}
	}
	log.Info("telemetry store open again; records kept in RAM moved into it", "records", moved)
}

// runtimeDir is where the fallback store lives: systemd's RuntimeDirectory
// (a tmpfs), else a directory of this run under the temporary directory.
func runtimeDir(boot string) string {
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "gatewayd-"+boot)
}

// statusEvery is how often a status record goes to head office's fleet view.
const statusEvery = 30 * time.Second

// reportStatus appends a status record at start and then periodically.
func (t *telemetryPart) reportStatus(ctx context.Context, st *store.Store, up *uplink.Uplink) {
	tick := time.NewTicker(statusEvery)
	defer tick.Stop()
	for {
		rec := fleet.StatusRecord{ConfigVersion: t.g.Config().Version, Backlog: up.Snapshot().BacklogRecords,
			ActiveWAN: t.g.ActiveWAN()}
		b, _ := json.Marshal(rec)
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := st.Append(actx, store.StatusStream, b); err != nil && ctx.Err() == nil {
			t.g.log.Warn("status record not stored", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Reload restarts the link when its settings changed; the store and uplink
// take their config at start.
func (t *telemetryPart) Reload(cfg *config.Config) error {
	old := t.cfg.Swap(cfg)
	if old.MQTT != cfg.MQTT || old.Telemetry != cfg.Telemetry || old.Site != cfg.Site {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = t.g.sup.Restart(ctx, t.Name())
		}()
	}
	return nil
}

// wake asks the uplink to retry now (nil-safe: tests build no telemetry).
func (t *telemetryPart) wake() {
	if t == nil {
		return
	}
	if up := t.up.Load(); up != nil {
		up.Wake()
	}
}

// snapshots adds the store's and the uplink's state to the daemon's.
func (t *telemetryPart) snapshots(parts map[string]any) {
	if st := t.store.Load(); st != nil {
		sn := st.Snapshot()
		if e := t.storeErr.Load(); e != nil {
			c := *sn
			c.LastError = *e // the status page's store_error alarm
			sn = &c
		}
		parts["store"] = sn
	}
	if up := t.up.Load(); up != nil {
		parts["uplink"] = up.Snapshot()
	}
}

// Publish and Prefix make the current uplink the remote
// component's session, across telemetry restarts.
func (t *telemetryPart) Publish(ctx context.Context, topic string, retained bool, payload []byte) error {
	up := t.up.Load()
	if up == nil {
		return uplink.ErrNotConnected
	}
	return up.Publish(ctx, topic, retained, payload)
}

func (t *telemetryPart) Prefix() string {
	c := t.cfg.Load()
	return c.MQTT.TopicPrefix + "/" + c.Site
}

// Emit records a component's event for the status page and appends it to
// the store, to be sent to head office.
func (g *Gateway) Emit(stream string, v any) {
	if stream == "event" {
		g.events.Record(v)
	}
	g.store(stream, v)
}

// outboxCapacity is how many events may wait for the store: minutes of a
// busy store's events, about a MiB.
const outboxCapacity = 4096

// store queues a record for the telemetry store and returns at once (the
// outbox holds it while the store is busy or reopening); a daemon built
// without telemetry only logs it.
func (g *Gateway) store(stream string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		g.log.Error("event not encodable", "stream", stream, "err", err)
		return
	}
	if g.telemetry == nil {
		g.log.Info("event (not stored: no telemetry)", "stream", stream, "event", string(b))
		return
	}
	g.outbox.Put(stream, b)
}

// outboxPart delivers the outbox to whichever store is open.
type outboxPart struct{ g *Gateway }

func (outboxPart) Name() string { return "outbox" }

func (p outboxPart) Run(ctx context.Context) error {
	return p.g.outbox.Run(ctx, func() outbox.Store {
		if st := p.g.telemetry.store.Load(); st != nil {
			return st
		}
		return nil // not a typed nil in the interface
	})
}
