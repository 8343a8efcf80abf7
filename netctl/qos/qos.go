package qos

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

// DefaultIFB is the name of the download shaping device.
const DefaultIFB = "bgwifb0"

// Options are the injected parts of a QoS; the zero value works on the
// real kernel in the current network namespace.
type Options struct {
	// Table names the nftables table (default DefaultTable).
	Table string
	// IFB names the ingress device (default DefaultIFB, at most 15 bytes).
	IFB string
	// NetNS is a network namespace fd to work in; 0 is the current one.
	NetNS int
	// ActiveWAN is the WAN carrying traffic at start; empty is the first.
	ActiveWAN string
	// Interval is how often counters are read, expired payment addresses
	// dropped and drift repaired (default 1 s).
	Interval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OpenTC and NFT replace the kernel backends (tests).
	OpenTC func() (TC, func(), error)
	NFT    NFT
}

// QoS shapes and classifies the active WAN's traffic. Its methods are
// safe for concurrent use.
type QoS struct {
	log  *slog.Logger
	opts Options
	snap atomic.Pointer[Snapshot]

	mu      sync.Mutex
	cfg     Config
	active  string
	running bool
	// installed is the WAN interface shaping is on now ("" for none).
	installed string
	desired   Desired
	app       *applier
	pay       *paymentSet
	lastErr   error
	stats     [2]map[uint32]ClassStats
	// lastRules is the applied nftables rules' text; passes counts syncs.
	lastRules string
	passes    int
	// touched is set once anything was installed, until it is removed.
	touched bool
}

// New makes a QoS for cfg. Nothing touches the kernel before Run.
func New(cfg Config, log *slog.Logger, opts Options) (*QoS, error) {
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("qos: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Table == "" {
		opts.Table = DefaultTable
	}
	if opts.IFB == "" {
		opts.IFB = DefaultIFB
	}
	if len(opts.IFB) > 15 {
		return nil, fmt.Errorf("qos: ifb name %q: longer than 15 bytes", opts.IFB)
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OpenTC == nil || opts.NFT == nil {
		tc, nft := kernelBackends(opts.NetNS)
		if opts.OpenTC == nil {
			opts.OpenTC = tc
		}
		if opts.NFT == nil {
			opts.NFT = nft
		}
	}
	q := &QoS{log: log, opts: opts, cfg: cfg, pay: newPaymentSet(), app: newApplier(nil, log)}
	if opts.ActiveWAN != "" {
		if _, ok := cfg.WAN(opts.ActiveWAN); !ok {
			return nil, fmt.Errorf("qos: active wan %q: not configured", opts.ActiveWAN)
		}
		q.active = opts.ActiveWAN
	} else if len(cfg.WANs) > 0 {
		q.active = cfg.WANs[0].Name
	}
	q.publishLocked()
	return q, nil
}

// Run installs shaping and keeps it (counters, payment expiry, drift
// repair) until ctx ends, then removes everything it installed.
func (q *QoS) Run(ctx context.Context) error {
	q.mu.Lock()
	if q.running {
		q.mu.Unlock()
		return errors.New("qos: already running")
	}
	q.running = true
	// A daemon killed with -9 leaves its shaping behind, and replacing a
	// leftover leaf of another kind fails with EINVAL instead of saying the
	// kind is missing, which breaks the leaf choice: start from nothing.
	q.touched = true
	if err := q.removeLocked(); err != nil {
		q.log.Warn("qos: leftovers of an earlier run not all removed", "err", err)
	}
	q.syncLocked()
	q.mu.Unlock()

	t := time.NewTicker(q.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			q.mu.Lock()
			defer q.mu.Unlock()
			q.running = false
			err := q.removeLocked()
			q.publishLocked()
			if err != nil {
				return fmt.Errorf("qos: remove on stop: %w", err)
			}
			return nil
		case <-t.C:
			q.mu.Lock()
			q.pay.expire(q.opts.Now())
			q.syncLocked()
			q.mu.Unlock()
		}
	}
}

// SetActiveWAN moves shaping to the named WAN, at its rates, when failover
// moves the traffic. An unknown name changes nothing.
func (q *QoS) SetActiveWAN(name string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.cfg.WAN(name); !ok {
		return fmt.Errorf("qos: set active wan %q: not configured", name)
	}
	q.active = name
	return q.syncLocked()
}

// Reload applies a new configuration. A bad one is refused whole and
// changes nothing.
func (q *QoS) Reload(cfg Config) error {
	if err := cfg.Check(); err != nil {
		return fmt.Errorf("qos: reload: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.cfg = cfg
	if _, ok := cfg.WAN(q.active); !ok {
		q.active = ""
		if len(cfg.WANs) > 0 {
			q.active = cfg.WANs[0].Name
		}
	}
	return q.syncLocked()
}

// AddPaymentIP puts a payment processor's address into the pos class for
// ttl (a DNS answer's TTL, clamped to MinPaymentTTL..MaxPaymentTTL).
// Packet inspection calls it for every DNS answer naming a payment domain.
func (q *QoS) AddPaymentIP(a netip.Addr, ttl time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.opts.Now()
	a = a.Unmap()
	isNew, refreshed, err := q.pay.add(a, ttl, now)
	if err != nil {
		return fmt.Errorf("qos: %w", err)
	}
	if !q.running || q.installed == "" || (!isNew && !refreshed) {
		q.publishLocked()
		return nil
	}
	var elem []PaymentIP
	for _, p := range q.pay.list(now) {
		if p.Addr == a {
			elem = append(elem, p)
		}
	}
	if isNew {
		err = q.opts.NFT.AddPayment(q.opts.Table, elem, nil)
		// The download side needs a u32 filter for the new address.
		err = errors.Join(err, q.syncLocked())
	} else {
		err = q.opts.NFT.AddPayment(q.opts.Table, nil, elem)
	}
	if err != nil {
		return fmt.Errorf("qos: payment ip %s: %w", a, err)
	}
	return nil
}

// Snapshot returns the latest state; the value is never modified.
func (q *QoS) Snapshot() *Snapshot { return q.snap.Load() }

// syncLocked makes the kernel match the config, active WAN and payment
// set (or removes everything when QoS is off), reads the counters and
// publishes a snapshot.
func (q *QoS) syncLocked() error {
	defer q.publishLocked()
	if !q.running {
		return nil
	}
	wan, ok := q.cfg.WAN(q.active)
	if !q.cfg.Enabled || !ok {
		q.lastErr = q.removeLocked()
		return q.lastErr
	}
	q.lastErr = q.installLocked(wan)
	if q.lastErr != nil {
		q.log.Error("qos: apply failed", "wan", wan.Name, "err", q.lastErr)
	}
	return q.lastErr
}

func (q *QoS) installLocked(wan WAN) error {
	q.touched = true
	now := q.opts.Now()
	d := Plan(q.cfg, wan, q.opts.IFB, q.pay.addrs(now))
	tc, done, err := q.opts.OpenTC()
	if err != nil {
		return err
	}
	defer done()
	q.app.tc = tc
	if q.passes%10 == 0 {
		q.app.repair()
	}
	if err := q.app.apply(d); err != nil {
		return fmt.Errorf("qos: wan %s: %w", wan.Name, err)
	}
	if q.installed != "" && q.installed != wan.Interface {
		// Failover: the old WAN keeps no shaping; the IFB is shared.
		if err := q.app.remove(q.installed, ""); err != nil {
			q.log.Warn("qos: remove shaping from previous wan", "interface", q.installed, "err", err)
		}
		q.log.Info("qos: shaping moved", "from", q.installed, "to", wan.Interface)
	}
	if q.installed != wan.Interface || q.desired.Egress.RateBits != d.Egress.RateBits || q.desired.Ingress.RateBits != d.Ingress.RateBits {
		q.log.Info("qos: shaping", "wan", wan.Name, "interface", wan.Interface,
			"up", fmtRate(d.Egress.RateBits), "down", fmtRate(d.Ingress.RateBits), "leaf", q.app.leaf)
	}
	q.installed, q.desired = wan.Interface, d
	rs := PlanRuleset(q.cfg, q.opts.Table, wan.Interface, q.pay.list(now))
	// The table is rebuilt when its rules change and, as drift repair,
	// every tenth pass; payment elements carry their remaining timeout.
	if text := rs.rulesText(); text != q.lastRules || q.passes%10 == 0 {
		if err := q.opts.NFT.Apply(rs); err != nil {
			q.lastRules = ""
			return fmt.Errorf("qos: wan %s: %w", wan.Name, err)
		}
		q.lastRules = text
	}
	q.passes++
	q.readStatsLocked(tc)
	return nil
}

// readStatsLocked reads both sides' class counters.
func (q *QoS) readStatsLocked(tc TC) {
	for i, dev := range []string{q.desired.Egress.Dev, q.desired.Ingress.Dev} {
		st, err := tc.Stats(dev)
		if err != nil {
			q.log.Warn("qos: read counters", "dev", dev, "err", err)
			continue
		}
		q.stats[i] = st
	}
}

// removeLocked takes everything off the kernel: the nftables table, the
// WAN's qdiscs and the IFB.
func (q *QoS) removeLocked() error {
	if !q.touched {
		return nil
	}
	tc, done, err := q.opts.OpenTC()
	if err != nil {
		return err
	}
	defer done()
	q.app.tc = tc
	// Every WAN, not just the installed one: an apply that failed half way
	// may have left objects on the WAN it was moving to. The kernel only
	// deletes qdiscs of our kind and handle.
	errs := []error{q.opts.NFT.Delete(q.opts.Table)}
	devs := map[string]bool{q.installed: true}
	for _, w := range q.cfg.WANs {
		devs[w.Interface] = true
	}
	for _, w := range q.cfg.WANs {
		if devs[w.Interface] {
			errs = append(errs, q.app.remove(w.Interface, ""))
			delete(devs, w.Interface)
		}
	}
	if q.installed != "" && devs[q.installed] {
		errs = append(errs, q.app.remove(q.installed, ""))
	}
	errs = append(errs, q.app.remove("", q.opts.IFB))
	err = errors.Join(errs...)
	q.touched = false
	q.installed, q.desired, q.lastRules = "", Desired{}, ""
	q.stats = [2]map[uint32]ClassStats{}
	if err == nil {
		q.log.Info("qos: shaping removed")
	}
	return err
}

// publishLocked stores a fresh snapshot.
func (q *QoS) publishLocked() {
	s := &Snapshot{Enabled: q.cfg.Enabled, Active: q.installed != "", WAN: q.active, Interface: q.installed,
		Leaf: q.app.leaf, PaymentIPs: len(q.pay.addrs(q.opts.Now())), Updated: q.opts.Now()}
	if q.installed != "" {
		s.IFB = q.opts.IFB
		s.UpBits, s.DownBits = q.desired.Egress.RateBits, q.desired.Ingress.RateBits
		s.Upload = classStats(q.desired.Egress, q.stats[0])
		s.Download = classStats(q.desired.Ingress, q.stats[1])
	}
	if q.lastErr != nil {
		s.Error = q.lastErr.Error()
	}
	q.snap.Store(s)
}
