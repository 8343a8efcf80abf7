package remote

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
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
	Version int64    `json:"version"`
	State   string   `json:"state"`
	Errors  []string `json:"errors,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	Running int64    `json:"running_version"`
	// KeyConfirm says a pending push changes the command keys and waits
	// for a ConfirmCommand signed with a key it added.
	KeyConfirm bool      `json:"key_confirm,omitempty"`
	At         time.Time `json:"at"`
}

// ConfirmCommand confirms a pending push that changed the command keys; it
// must be signed with a key the push added (or, when it only removed keys,
// one it kept), which proves head office holds it before the old ones go.
const ConfirmCommand = "config-confirm"

// ConfirmArgs are the arguments of ConfirmCommand.
type ConfirmArgs struct {
	Version int64 `json:"version"`
}

// DesiredArgs are the signed body's arguments on …/config/desired.
type DesiredArgs struct {
	Config string `json:"config"` // the whole YAML file
}

// ConfigPush applies configs from head office. A change that touches the
// network is commit-confirmed: once the change has had Settle to take
// effect, the pending state is published again, and the broker's PUBACK of
// that message confirms the new config still reaches head office. A change
// to the command keys is confirmed by a ConfirmCommand signed with a new
// key. Without confirmation within Window the previous config comes back by
// itself. Only a confirmed config is written to Path, so a reboot during the
// window boots the old one too.
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
	state   *pushState // loaded from StateDir on first use
	pending *pendingPush
	last    *Reported
	unsent  bool
}

type pendingPush struct {
	cfg       *config.Config
	yaml      []byte
	prev      *config.Config
	appliedAt time.Time
	network   bool                // the broker's PUBACK after Settle must confirm it
	keys      []ed25519.PublicKey // a ConfirmCommand must be signed by one; nil: keys unchanged
	keysOK    bool                // that confirm arrived
}

type pushState struct {
	RolledBack int64  `json:"rolled_back"`
	Reason     string `json:"reason"`
	// Highest is the highest version this box ever applied or rolled back:
	// a push at or below it is refused, so two old pushes cannot be
	// replayed in turn.
	Highest int64 `json:"highest"`
}

func (s pushState) highest() int64 { return max(s.Highest, s.RolledBack) }

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
	expired := errors.Is(err, ErrExpired)
	if err != nil && !expired {
		return reject(0, "refused: "+err.Error())
	}
	var args DesiredArgs
	if err := DecodeArgs(body.Args, &args); err != nil {
		return reject(0, err.Error())
	}
	cfg, err2 := config.Parse([]byte(args.Config), filepath.Dir(p.Path))
	if err2 != nil {
		var errs *config.Errors
		if errors.As(err2, &errs) {
			lines := make([]string, len(errs.List))
			for i, e := range errs.List {
				lines[i] = e.String()
			}
			return reject(0, lines...)
		}
		return reject(0, err2.Error())
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
	case expired:
		return reject(cfg.Version, fmt.Sprintf("refused: %v; sign the push again", err))
	case cfg.Version < running.Version:
		return reject(cfg.Version, fmt.Sprintf("version: %d is not newer than the running %d", cfg.Version, running.Version))
	}
	st := p.loadState()
	switch {
	case cfg.Version == st.RolledBack:
		// The retained push again, after a reconnect: report the rollback
		// as it happened instead of applying it again.
		return Reported{Version: cfg.Version, State: StateRolledBack, Running: running.Version, Reason: st.Reason}
	case cfg.Version <= st.highest():
		return reject(cfg.Version, fmt.Sprintf("version: %d is not newer than %d, which this box has already run or rolled back", cfg.Version, st.highest()))
	case len(running.Remote.CommandKeys) > 0 && len(cfg.Remote.CommandKeys) == 0:
		return reject(cfg.Version, "remote.command_keys: a pushed config must keep at least one key, or head office could never reach this box again")
	}
	// Recorded before it runs: a crash during the window cannot reopen
	// the version to a replay.
	st.Highest = cfg.Version
	p.saveState(st)
	if err := p.Applier.Apply(cfg); err != nil {
		_ = p.Applier.Apply(running)
		return reject(cfg.Version, "apply: "+err.Error())
	}
	pp := &pendingPush{cfg: cfg, yaml: []byte(args.Config), prev: running, appliedAt: p.Verifier.Now(),
		network: touchesNetwork(running, cfg), keys: keysToConfirm(running, cfg)}
	if !pp.network && pp.keys == nil {
		if err := p.commit(pp.yaml); err != nil {
			_ = p.Applier.Apply(running)
			return reject(cfg.Version, err.Error())
		}
		p.Log.Info("config push applied", "version", cfg.Version)
		return Reported{Version: cfg.Version, State: StateApplied, Running: cfg.Version}
	}
	p.pending = pp
	var waits []string
	if pp.network {
		waits = append(waits, "touches the network: rolled back unless the broker is reached")
	}
	if pp.keys != nil {
		waits = append(waits, fmt.Sprintf("changes remote.command_keys: rolled back unless a %s {\"version\": %d} signed with a new key arrives", ConfirmCommand, cfg.Version))
	}
	reason := strings.Join(waits, "; ") + fmt.Sprintf(" within %s", p.Window)
	p.Log.Info("config push applied; waiting for confirmation", "version", cfg.Version, "window", p.Window, "network", pp.network, "keys", pp.keys != nil)
	return Reported{Version: cfg.Version, State: StatePending, Running: cfg.Version, Reason: reason, KeyConfirm: pp.keys != nil}
}

// touchesNetwork reports whether a change could cut the box off head office.
func touchesNetwork(a, b *config.Config) bool {
	return !reflect.DeepEqual(a.WAN, b.WAN) || !reflect.DeepEqual(a.LAN, b.LAN) ||
		!reflect.DeepEqual(a.Zones, b.Zones) || !reflect.DeepEqual(a.QoS, b.QoS) ||
		!reflect.DeepEqual(a.Failover, b.Failover) || !reflect.DeepEqual(a.MQTT, b.MQTT)
}

// keysToConfirm returns the keys one of which must sign the confirmation of
// a change from a to b: those b adds, or when it only removes, those it
// keeps. nil when the key set is unchanged.
func keysToConfirm(a, b *config.Config) []ed25519.PublicKey {
	before, _ := ParseKeys(a.Remote.CommandKeys) // both validated
	after, _ := ParseKeys(b.Remote.CommandKeys)
	added := slices.DeleteFunc(slices.Clone(after), func(k ed25519.PublicKey) bool { return hasKey(before, k) })
	removed := slices.ContainsFunc(before, func(k ed25519.PublicKey) bool { return !hasKey(after, k) })
	switch {
	case len(added) > 0:
		return added
	case removed:
		return after
	}
	return nil // the same set
}

func hasKey(set []ed25519.PublicKey, k ed25519.PublicKey) bool {
	return slices.ContainsFunc(set, func(s ed25519.PublicKey) bool { return s.Equal(k) })
}

// ConfirmKeys takes a ConfirmCommand for version signed by signer.
func (p *ConfigPush) ConfirmKeys(version int64, signer ed25519.PublicKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := p.pending
	switch {
	case pp == nil || pp.cfg.Version != version:
		return fmt.Errorf("version %d is not waiting for confirmation", version)
	case pp.keys == nil:
		return fmt.Errorf("version %d does not change remote.command_keys: the broker confirms it", version)
	case !hasKey(pp.keys, signer):
		return fmt.Errorf("version %d must be confirmed with a key it adds (or keeps, when it only removes keys)", version)
	}
	pp.keysOK = true
	p.tick()
	return nil
}

// Tick confirms or rolls back a pending push and retries an unsent report.
// Run calls it every second.
func (p *ConfigPush) Tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tick()
}

func (p *ConfigPush) tick() {
	if pp := p.pending; pp != nil {
		now := p.Verifier.Now()
		settle := p.Settle
		if settle <= 0 {
			settle = p.Window / 4
		}
		elapsed := now.Sub(pp.appliedAt)
		ready := (!pp.network || elapsed >= settle) && (pp.keys == nil || pp.keysOK)
		switch {
		case elapsed < p.Window && ready && p.Report(*p.last) == nil:
			p.pending = nil
			if err := p.commit(pp.yaml); err != nil {
				p.Log.Error("confirmed config could not be saved; it runs until reboot", "err", err)
			}
			p.Log.Info("config push confirmed", "version", pp.cfg.Version)
			p.setReport(Reported{Version: pp.cfg.Version, State: StateApplied, Running: pp.cfg.Version, At: now.UTC()})
		case elapsed >= p.Window:
			p.pending = nil
			err := p.Applier.Apply(pp.prev)
			reason := fmt.Sprintf("the broker was not reached within %s of applying it; push a new version to try again", p.Window)
			if pp.keys != nil && !pp.keysOK {
				reason = fmt.Sprintf("no %s signed with a new command key within %s of applying it; the old keys are back; push a new version to try again", ConfirmCommand, p.Window)
			}
			if err != nil {
				reason += "; restoring the previous config failed: " + err.Error()
			}
			st := p.loadState()
			st.RolledBack, st.Reason, st.Highest = pp.cfg.Version, reason, max(st.Highest, pp.cfg.Version)
			p.saveState(st)
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
	if err := writeFileAtomic(p.Path, yaml, 0o640); err != nil {
		return fmt.Errorf("saving config: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with b through a temporary file and a
// rename, so a crash leaves the old file or the new one, never half of it.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (p *ConfigPush) statePath() string { return filepath.Join(p.StateDir, "config-push.json") }

func (p *ConfigPush) loadState() pushState {
	if p.state == nil {
		p.state = &pushState{}
		if b, err := os.ReadFile(p.statePath()); err == nil {
			_ = json.Unmarshal(b, p.state)
		}
	}
	return *p.state
}

// saveState keeps s in memory and replaces the state file atomically (a
// torn file would forget the highest version). A box whose data partition
// failed still takes pushes: the refusal of old versions then holds until
// the daemon restarts, and the failure is logged.
func (p *ConfigPush) saveState(s pushState) {
	p.state = &s
	b, _ := json.Marshal(s)
	if err := writeFileAtomic(p.statePath(), b, 0o640); err != nil {
		p.Log.Error("saving config push state; old versions are refused until the daemon restarts", "err", err)
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
