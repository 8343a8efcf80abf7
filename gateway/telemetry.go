package gateway

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/fleet"
	"github.com/branchgw/branchgw/gateway/remote"
	"github.com/branchgw/branchgw/gateway/version"
	"github.com/branchgw/branchgw/telemetry/store"
	"github.com/branchgw/branchgw/telemetry/uplink"
)

// telemetryPart owns the head-office link: the SQLite store and the MQTT
// uplink that drains it. Run opens the store, so a store that cannot open is
// retried by the supervisor while the rest of the daemon runs on.
type telemetryPart struct {
	g      *Gateway
	cfg    atomic.Pointer[config.Config]
	store  atomic.Pointer[store.Store]
	up     atomic.Pointer[uplink.Uplink]
	remote *remote.Component // messages for it are routed from the uplink
}

func (t *telemetryPart) Name() string { return "telemetry" }

func (t *telemetryPart) Run(ctx context.Context) error {
	cfg := t.cfg.Load()
	log := t.g.log.With("component", "telemetry")
	st, err := store.Open(cfg.Telemetry, log, store.Options{
		BootID:  t.g.bootID,
		OnAlarm: func(a store.Alarm) { log.Warn("telemetry store alarm", "kind", a.Kind, "msg", a.Message) },
	})
	if err != nil {
		return err
	}
	defer st.Close()
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

// snapshots adds the store's and the uplink's state to the daemon's.
func (t *telemetryPart) snapshots(parts map[string]any) {
	if st := t.store.Load(); st != nil {
		parts["store"] = st.Snapshot()
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

// store appends a record to the telemetry store; without a store (not open
// yet) it is only logged.
func (g *Gateway) store(stream string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		g.log.Error("event not encodable", "stream", stream, "err", err)
		return
	}
	t := g.telemetry
	if t == nil || t.store.Load() == nil {
		g.log.Info("event (not stored: telemetry down)", "stream", stream, "event", string(b))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := t.store.Load().Append(ctx, stream, b); err != nil {
		g.log.Error("event not stored", "stream", stream, "err", err)
	}
}
