package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// Applier puts a config in force in the running daemon (gateway.Reload).
type Applier interface {
	Running() *config.Config
	Apply(cfg *config.Config) error
}

// Config push states reported on …/config/reported.
const (
	StateApplied    = "applied"
	StateRejected   = "rejected"
	StatePending    = "pending" // applied, waiting for the broker to confirm
	StateRolledBack = "rolled-back"
)

// Reported is the retained answer to a config push.
type Reported struct {
	Version int64     `json:"version"`
	State   string    `json:"state"`
	Errors  []string  `json:"errors,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Running int64     `json:"running_version"`
	At      time.Time `json:"at"`
}

// DesiredArgs are the signed body's arguments on …/config/desired.
type DesiredArgs struct {
	Config string `json:"config"` // the whole YAML file
}

// ConfigPush applies configs from head office. A change that touches the
// network is commit-confirmed: once the change has had Settle to take
// effect, the pending state is published again, and the broker's PUBACK of
// that message confirms the new config still reaches head office. Without
// one within Window the previous config comes back by itself. Only a
// confirmed config is written to Path, so a reboot during the window boots
// the old one too.
type ConfigPush struct {
	Verifier *Verifier
	Applier  Applier
	// Path is the daemon's config file; confirmed configs replace it.
	Path string
	// StateDir keeps the version that was rolled back, so the retained push
	// is not applied again on every reconnect.
	StateDir string
	Window   time.Duration
	// Settle is how long a network change gets to take effect (routes,
	// failover) before a PUBACK counts as confirmation. Default Window/4.
	Settle time.Duration
	// Report publishes the retained state and returns nil once the broker
	// acknowledged it; an error (offline) is retried on every Tick.
	Report func(Reported) error
	Log    *slog.Logger

	mu      sync.Mutex
	pending *pendingPush
	last    *Reported
	unsent  bool
}

type pendingPush struct {
	cfg       *config.Config
	yaml      []byte
	prev      *config.Config
	appliedAt time.Time
}

type pushState struct {
	RolledBack int64  `json:"rolled_back"`
	Reason     string `json:"reason"`
}

// Desired handles one message from …/config/desired.
func (p *ConfigPush) Desired(payload []byte) Reported {
	p.mu.Lock()
	defer p.mu.Unlock()
	running := p.Applier.Running()
	r := p.desired(payload, running)
	r.At = p.Verifier.Now().UTC()
	if r.Running == 0 {
		r.Running = p.Applier.Running().Version
	}
	p.setReport(r)
	return r
}

func (p *ConfigPush) desired(payload []byte, running *config.Config) Reported {
	reject := func(version int64, errs ...string) Reported {
		p.Log.Warn("config push rejected", "version", version, "errors", errs)
		return Reported{Version: version, State: StateRejected, Errors: errs, Running: running.Version}
	}
	body, err := p.Verifier.OpenConfig(payload)
	if err != nil {
		return reject(0, "refused: "+err.Error())
	}
	var args DesiredArgs
	if err := DecodeArgs(body.Args, &args); err != nil {
		return reject(0, err.Error())
	}
	cfg, err := config.Parse([]byte(args.Config), filepath.Dir(p.Path))
	if err != nil {
		var errs *config.Errors
		if errors.As(err, &errs) {
			lines := make([]string, len(errs.List))
			for i, e := range errs.List {
				lines[i] = e.String()
			}
			return reject(0, lines...)
		}
		return reject(0, err.Error())
	}
	switch {
	case cfg.Site != running.Site:
		return reject(cfg.Version, fmt.Sprintf("site: the config is for %q, this is %q", cfg.Site, running.Site))
	case p.pending != nil:
		if cfg.Version == p.pending.cfg.Version {
			return *p.last // redelivered while waiting
		}
		return reject(cfg.Version, fmt.Sprintf("version %d is still waiting for confirmation", p.pending.cfg.Version))
	case cfg.Version == running.Version && p.last != nil:
		return *p.last // the retained message again, after a reconnect
	case cfg.Version == running.Version:
		return Reported{Version: cfg.Version, State: StateApplied, Running: running.Version}
	case cfg.Version < running.Version:
		return reject(cfg.Version, fmt.Sprintf("version: %d is not newer than the running %d", cfg.Version, running.Version))
	}
	if st := p.loadState(); cfg.Version == st.RolledBack {
		// The retained push again, after a reconnect: report the rollback
		// as it happened instead of applying it again.
		return Reported{Version: cfg.Version, State: StateRolledBack, Running: running.Version, Reason: st.Reason}
	}
	if err := p.Applier.Apply(cfg); err != nil {
		_ = p.Applier.Apply(running)
		return reject(cfg.Version, "apply: "+err.Error())
	}
	if !touchesNetwork(running, cfg) {
		if err := p.commit([]byte(args.Config)); err != nil {
			_ = p.Applier.Apply(running)
			return reject(cfg.Version, err.Error())
		}
		p.Log.Info("config push applied", "version", cfg.Version)
		return Reported{Version: cfg.Version, State: StateApplied, Running: cfg.Version}
	}
	p.pending = &pendingPush{cfg: cfg, yaml: []byte(args.Config), prev: running, appliedAt: p.Verifier.Now()}
	p.Log.Info("config push applied; waiting for the broker to confirm", "version", cfg.Version, "window", p.Window)
	return Reported{Version: cfg.Version, State: StatePending, Running: cfg.Version,
		Reason: fmt.Sprintf("touches the network: rolled back unless the broker is reached within %s", p.Window)}
}

// touchesNetwork reports whether a change could cut the box off head office.
func touchesNetwork(a, b *config.Config) bool {
	return !reflect.DeepEqual(a.WAN, b.WAN) || !reflect.DeepEqual(a.LAN, b.LAN) ||
		!reflect.DeepEqual(a.Zones, b.Zones) || !reflect.DeepEqual(a.QoS, b.QoS) ||
		!reflect.DeepEqual(a.Failover, b.Failover) || !reflect.DeepEqual(a.MQTT, b.MQTT)
}

// Tick confirms or rolls back a pending push and retries an unsent report.
// Run calls it every second.
func (p *ConfigPush) Tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pp := p.pending; pp != nil {
		now := p.Verifier.Now()
		settle := p.Settle
		if settle <= 0 {
			settle = p.Window / 4
		}
		settled := now.Sub(pp.appliedAt) >= settle
		switch {
		case settled && now.Sub(pp.appliedAt) < p.Window && p.Report(*p.last) == nil:
			p.pending = nil
			if err := p.commit(pp.yaml); err != nil {
				p.Log.Error("confirmed config could not be saved; it runs until reboot", "err", err)
			}
			p.Log.Info("config push confirmed", "version", pp.cfg.Version)
			p.setReport(Reported{Version: pp.cfg.Version, State: StateApplied, Running: pp.cfg.Version, At: now.UTC()})
		case now.Sub(pp.appliedAt) >= p.Window:
			p.pending = nil
			err := p.Applier.Apply(pp.prev)
			reason := fmt.Sprintf("the broker was not reached within %s of applying it; push a new version to try again", p.Window)
			if err != nil {
				reason += "; restoring the previous config failed: " + err.Error()
			}
			p.saveState(pushState{RolledBack: pp.cfg.Version, Reason: reason})
			p.Log.Warn("config push rolled back", "version", pp.cfg.Version, "reason", reason)
			p.setReport(Reported{Version: pp.cfg.Version, State: StateRolledBack, Running: pp.prev.Version,
				Reason: reason, At: now.UTC()})
		}
	}
	if p.unsent && p.last != nil && p.Report(*p.last) == nil {
		p.unsent = false
	}
}

func (p *ConfigPush) setReport(r Reported) {
	p.last = &r
	p.unsent = p.Report(r) != nil
}

// commit makes yaml the config the box boots with (atomic replace).
func (p *ConfigPush) commit(yaml []byte) error {
	tmp := p.Path + ".new"
	if err := os.WriteFile(tmp, yaml, 0o640); err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	if err := os.Rename(tmp, p.Path); err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	return nil
}

func (p *ConfigPush) statePath() string { return filepath.Join(p.StateDir, "config-push.json") }

func (p *ConfigPush) loadState() pushState {
	var s pushState
	if b, err := os.ReadFile(p.statePath()); err == nil {
		_ = json.Unmarshal(b, &s)
	}
	return s
}

func (p *ConfigPush) saveState(s pushState) {
	b, _ := json.Marshal(s)
	if err := os.WriteFile(p.statePath(), b, 0o640); err != nil {
		p.Log.Error("saving config push state", "err", err)
	}
}

// Pending reports the version waiting for confirmation, or 0.
func (p *ConfigPush) Pending() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		return 0
	}
	return p.pending.cfg.Version
}
