//go:build linux

// Package zones is the store's zone firewall: NAT, anti-spoofing, guest
// isolation and POS segmentation in one nftables table that gatewayd owns.
//
// The ruleset is computed from the config (build.go), applied as one
// nf_tables transaction (kernel.go), read back over netlink and compared
// with what was computed; a periodic check repairs drift, turns counters
// into drop events and alarms, and publishes a Snapshot whose rule text is
// rendered from what the kernel holds. Payment hosts reach the POS allowlist
// through AddPaymentIP, fed by DNS snooping.
//
// Stopping leaves the table in place on purpose: a crashed or stopped
// daemon must leave the store closed, not open. Cleanup removes it.
package zones

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTablePrefix names gatewayd's tables on the appliance.
const DefaultTablePrefix = "branchgw"

// TableName is the owned table's name for a prefix.
func TableName(prefix string) string { return prefix + "_zones" }

// Options are the firewall's dependencies; zero values take defaults.
type Options struct {
	// TablePrefix prefixes the owned table's name (default
	// DefaultTablePrefix); tests use a random one so they run in parallel.
	TablePrefix string
	// NetNS is an open network namespace file descriptor to work in; 0 is
	// the daemon's own namespace.
	NetNS int
	// CheckInterval is how often Run reads the table back, repairs drift
	// and polls counters. Default 2s.
	CheckInterval time.Duration
	// DropEventInterval is the least time between two drop events of one
	// rule, which carry the packets dropped since the previous one: the
	// rate limit on drop logging. Default 1m.
	DropEventInterval time.Duration
	// Emit receives events; nil drops them.
	Emit func(Event)
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Event kinds.
const (
	EventApplied     = "firewall.applied"
	EventApplyFailed = "firewall.apply_failed"
	EventDrift       = "firewall.drift_repaired"
	EventDrop        = "firewall.drop"
	EventPOSUnlisted = "firewall.pos_unlisted"
)

// Event is something the firewall reports to the event stream.
type Event struct {
	Time time.Time
	Kind string
	// Rule is the named rule a drop or alarm came from.
	Rule string
	// Packets and Bytes are counted since the previous event of the rule.
	Packets, Bytes uint64
	// Src and Dst are set for POS alarms.
	Src, Dst netip.Addr
	Message  string
}

// Firewall owns the zone table. Its methods are safe for concurrent use.
type Firewall struct {
	log   *slog.Logger
	opts  Options
	k     kernel
	table string

	mu       sync.Mutex // serializes netlink batches and guards the fields below
	cfg      Config
	rs       *ruleset
	gen      uint64
	applied  time.Time
	repairs  uint64
	lastErr  string
	drops    map[string]dropMark  // per drop rule: counters when last reported
	unlisted map[string]time.Time // alarmed (src, dst) pairs still in the set

	snap atomic.Pointer[Snapshot]
}

// New validates cfg and prepares a firewall; nothing touches the kernel
// until Apply or Run.
func New(cfg Config, log *slog.Logger, opts Options) (*Firewall, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.TablePrefix == "" {
		opts.TablePrefix = DefaultTablePrefix
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = 2 * time.Second
	}
	if opts.DropEventInterval <= 0 {
		opts.DropEventInterval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Emit == nil {
		opts.Emit = func(Event) {}
	}
	f := &Firewall{
		log: log, opts: opts, k: kernel{netns: opts.NetNS}, table: TableName(opts.TablePrefix),
		cfg: cfg, drops: map[string]dropMark{}, unlisted: map[string]time.Time{},
	}
	f.rs = build(f.table, cfg)
	f.snap.Store(&Snapshot{Table: f.table})
	return f, nil
}

// Table is the owned table's name.
func (f *Firewall) Table() string { return f.table }

// Run applies the ruleset, then checks it every CheckInterval until ctx is
// done. It returns an error only if the first apply fails; later failures
// are logged, reported as events and retried at the next check.
func (f *Firewall) Run(ctx context.Context) error {
	if err := f.Apply(); err != nil {
		return err
	}
	t := time.NewTicker(f.opts.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := f.Check(); err != nil {
				f.log.Warn("zones: check failed", "err", err)
			}
		}
	}
}

// Apply installs the current config's ruleset in one transaction and
// verifies that the kernel holds it.
func (f *Firewall) Apply() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applyLocked("apply")
}

// Reload switches to a new config: it is validated and compiled first, so a
// bad one changes nothing; then the new ruleset replaces the old in one
// transaction, with no moment in which neither holds.
func (f *Firewall) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	oldCfg, oldRS := f.cfg, f.rs
	f.cfg, f.rs = cfg, build(f.table, cfg)
	if err := f.applyLocked("reload"); err != nil {
		// The failed transaction changed nothing: the old ruleset holds.
		f.cfg, f.rs = oldCfg, oldRS
		_ = f.refreshLocked() // publish the error
		return err
	}
	return nil
}

func (f *Firewall) applyLocked(why string) error {
	st, err := f.installLocked()
	now := f.opts.Now()
	if err != nil {
		f.lastErr = err.Error()
		f.opts.Emit(Event{Time: now, Kind: EventApplyFailed, Message: fmt.Sprintf("%s: %v", why, err)})
		f.log.Error("zones: firewall not applied", "why", why, "err", err)
		return err
	}
	f.gen++
	f.applied, f.lastErr = now, ""
	f.opts.Emit(Event{Time: now, Kind: EventApplied, Message: fmt.Sprintf("%s: %d rules in table %s", why, len(f.rs.Rules), f.table)})
	f.log.Info("zones: firewall applied", "why", why, "table", f.table, "rules", len(f.rs.Rules), "generation", f.gen)
	return f.publishLocked(st)
}

// installLocked applies rs in place, falling back to rebuilding the table
// (still one transaction) if the kernel refuses the in-place update, e.g.
// because a set's definition changed with a new gatewayd version. It returns
// the table as read back after the transaction.
func (f *Firewall) installLocked() (*state, error) {
	old, err := f.k.read(f.table)
	if err != nil {
		return nil, err
	}
	if err := f.k.apply(f.rs, old, false); err != nil {
		f.log.Warn("zones: in-place update refused, rebuilding the table", "err", err)
		if err2 := f.k.apply(f.rs, old, true); err2 != nil {
			return nil, errors.Join(err, err2)
		}
	}
	st, err := f.k.read(f.table)
	if err != nil {
		return nil, err
	}
	if d := diff(f.rs, st); len(d) > 0 {
		return nil, fmt.Errorf("zones: kernel does not hold the ruleset just applied: %v", d)
	}
	return st, nil
}

// Check reads the table back, repairs drift (someone ran nft, or deleted
// the table), emits drop events and POS alarms, and refreshes the snapshot.
func (f *Firewall) Check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.k.read(f.table)
	if err != nil {
		return err
	}
	if d := diff(f.rs, st); len(d) > 0 {
		f.repairs++
		// greppable: "zones: DRIFT"
		f.log.Warn("zones: DRIFT: kernel table differs from the computed ruleset, re-applying", "diff", d)
		f.opts.Emit(Event{Time: f.opts.Now(), Kind: EventDrift, Message: fmt.Sprint(d)})
		return f.applyLocked("repair")
	}
	return f.publishLocked(st)
}

// refreshLocked re-reads the kernel and publishes.
func (f *Firewall) refreshLocked() error {
	st, err := f.k.read(f.table)
	if err != nil {
		return err
	}
	return f.publishLocked(st)
}

// Snapshot returns the latest published state; never nil, never modified.
func (f *Firewall) Snapshot() *Snapshot { return f.snap.Load() }

// Cleanup removes the table a firewall with this prefix owns, in the given
// network namespace (0: the caller's). `gatewayd cleanup` calls it; a table
// already gone is fine.
func Cleanup(prefix string, netns int) error {
	if prefix == "" {
		prefix = DefaultTablePrefix
	}
	return kernel{netns: netns}.remove(TableName(prefix))
}
