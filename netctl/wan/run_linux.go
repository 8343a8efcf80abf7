//go:build linux

package wan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// target is one probe target of one WAN.
type target struct {
	cfg   config.Probe
	p     prober
	w     *window
	st    targetState
	lastR time.Duration
	// sent, lost and excused count every probe since start; excused are
	// losses on a congested line, kept out of the window.
	sent, lost, excused int
	// wake cuts a frugal wait short when the WAN starts carrying traffic,
	// so a backup line that takes over is judged by all its probes at once.
	wake chan struct{}
}

// wanRT is a WAN's run-time state, owned by the Run goroutine (frugal is
// also read by the probe loops).
type wanRT struct {
	cfg     config.WAN
	link    Link
	carrier bool
	state   State
	since   time.Time
	reason  string
	targets []*target
	cheap   int // the target a frugal WAN still probes
	frugal  atomic.Bool
	pinger  *lazyPinger
	budget  Budget
	// meter holds the interface's byte counters, read with the carrier.
	meter meter
}

type probeResult struct {
	wan, target int
	rtt         time.Duration
	err         error
}

// runner is one Run invocation.
type runner struct {
	m       *Manager
	h       *netlink.Handle
	nft     *nftables.Conn
	ops     netlinkOps
	wans    []*wanRT
	pol     *policy
	active  int
	actAt   time.Time
	fails   int
	results chan probeResult
	synced  time.Time
}

// Run probes and routes until ctx ends, then removes what it put in the
// kernel. It returns an error only when it cannot start.
func (m *Manager) Run(ctx context.Context) error {
	h, nft, err := kernelHandles(m.opt.NetNS)
	if err != nil {
		return err
	}
	defer h.Close()
	r := &runner{m: m, h: h, nft: nft, ops: netlinkOps{h: h, layout: m.opt.Layout}, active: -1,
		results: make(chan probeResult, 256)}
	prio := make([]int, len(m.wans))
	for i, w := range m.wans {
		prio[i] = w.Priority
		if prio[i] == 0 {
			prio[i] = i + 1
		}
	}
	r.pol = newPolicy(prio, m.fo.FailbackAfter.D())
	r.pol.weighted = m.fo.Mode == "weighted"
	if r.pol.weighted {
		// Flows spread by their ports too only with hash policy 1. The
		// image's sysctl.d sets it; the daemon may not (the unit has
		// ProtectKernelTunables=yes), so it only says when it is missing.
		var policy []byte
		err := runIn(enterNS(m.opt.NetNS), func() (err error) {
			policy, err = os.ReadFile("/proc/sys/net/ipv4/fib_multipath_hash_policy")
			return err
		})
		if err != nil || strings.TrimSpace(string(policy)) != "1" {
			m.log.Warn("wan: weighted mode: flows are spread by address only; set net.ipv4.fib_multipath_hash_policy=1 (the image's sysctl.d does)",
				"policy", strings.TrimSpace(string(policy)), "err", err)
		}
	}
	enter := enterNS(m.opt.NetNS)
	for i, w := range m.wans {
		rt := &wanRT{cfg: w, state: Unknown, since: m.opt.Now(), cheap: cheapest(w.Probes),
			budget: budgetFor(w.Probes, m.fo.ProbeInterval.D())}
		b := binder{dev: w.Interface, mark: m.opt.Layout.Mark(i), enter: enter}
		for _, pc := range w.Probes {
			t, err := r.newTarget(rt, b, pc)
			if err != nil {
				return fmt.Errorf("wan %s: %w", w.Name, err)
			}
			rt.targets = append(rt.targets, t)
		}
		r.wans = append(r.wans, rt)
	}
	defer r.closePingers()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan linkEvent, 64)
	if err := watch(ctx, m.opt.NetNS, events, func(err error) { m.log.Warn("wan: netlink watch", "err", err) }); err != nil {
		return fmt.Errorf("wan: %w", err)
	}
	r.learnAll()
	if err := applyConnmark(nft, m.opt.Layout, r.devs()); err != nil {
		return fmt.Errorf("wan: %w", err)
	}
	r.evaluate("start")
	var wg sync.WaitGroup
	for i, w := range r.wans {
		for j := range w.targets {
			wg.Go(func() { r.probeLoop(ctx, i, j) })
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	poll := time.NewTicker(carrierPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			cancel()
			wg.Wait()
			err := errors.Join(m.opt.Layout.remove(r.ops, len(r.wans)), removeConnmark(nft, m.opt.Layout))
			if err != nil {
				// Said to the supervisor too: routes left behind steer
				// traffic until `gatewayd cleanup` runs.
				return fmt.Errorf("wan: cleanup on stop: %w", err)
			}
			return nil
		case res := <-r.results:
			r.record(res)
			r.evaluate("probe")
		case ev := <-events:
			r.linkEvent(ev)
		case req := <-m.force:
			i := slices.IndexFunc(r.wans, func(w *wanRT) bool { return w.cfg.Name == req.wan })
			if req.d == 0 {
				i = -1
			}
			r.pol.force(i, m.opt.Now().Add(req.d))
			m.log.Info("wan: forced", "wan", req.wan, "for", req.d)
			r.evaluate("forced")
			req.done <- nil
		case <-poll.C:
			r.pollCarrier()
		case <-tick.C:
			if m.opt.Now().Sub(r.synced) >= m.opt.ReconcileEvery {
				r.learnAll()
				r.reconcile(true)
			}
			r.evaluate("tick")
		}
	}
}

func (r *runner) newTarget(rt *wanRT, b binder, pc config.Probe) (*target, error) {
	addr, err := parseTarget(pc)
	if err != nil {
		return nil, err
	}
	t := &target{cfg: pc, w: newWindow(r.m.fo.Window), wake: make(chan struct{}, 1)}
	switch pc.Type {
	case "icmp":
		if rt.pinger == nil {
			rt.pinger = &lazyPinger{b: b}
		}
		t.p = icmpProber{p: rt.pinger, dst: net.ParseIP(addr)}
	case "tcp":
		t.p = tcpProber{b: b, addr: addr}
	case "http":
		t.p = newHTTPProber(b, addr)
	case "dns":
		if t.p, err = newDNSProber(b, addr, pc.Query); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// runIn runs fn through enter (nil: directly).
func runIn(enter func(func() error) error, fn func() error) error {
	if enter == nil {
		return fn()
	}
	return enter(fn)
}

// weights are the shares of new connections in weighted mode (nil in
// priority mode): a WAN's configured weight while it is a member, else 0.
func (r *runner) weights() []int {
	if !r.pol.weighted {
		return nil
	}
	out := make([]int, len(r.wans))
	for i, in := range r.pol.members() {
		if in {
			out[i] = max(r.wans[i].cfg.Weight, 1)
		}
	}
	return out
}

// carrying reports whether WAN i takes new connections now.
func (r *runner) carrying(i int) bool {
	if i == r.active {
		return true
	}
	w := r.weights()
	return w != nil && w[i] > 0
}

func (r *runner) closePingers() {
	for _, w := range r.wans {
		if w.pinger != nil {
			w.pinger.reset()
		}
	}
}

func (r *runner) devs() []string {
	out := make([]string, len(r.wans))
	for i, w := range r.wans {
		out[i] = w.cfg.Interface
	}
	return out
}

// probeLoop starts one probe per interval without waiting for the last
// one: a dead line must cost timeouts in parallel, not in series, or
// detection would slow to one probe per timeout.
func (r *runner) probeLoop(ctx context.Context, wi, ti int) {
	w := r.wans[wi]
	t := w.targets[ti]
	timeout := r.m.fo.ProbeTimeout.D()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	next := time.Now()
	for {
		interval := r.m.fo.ProbeInterval.D()
		frugal := w.frugal.Load()
		if frugal {
			interval = max(interval, FrugalInterval)
		}
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			case <-t.wake:
				next = time.Now()
			}
		} else {
			next = time.Now()
		}
		if ctx.Err() != nil {
			return
		}
		if w.frugal.Load() && ti != w.cheap {
			continue
		}
		inflight.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			rtt, err := t.p.probe(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			select {
			case r.results <- probeResult{wan: wi, target: ti, rtt: rtt, err: err}:
			case <-ctx.Done():
			}
		})
	}
}

func (r *runner) record(res probeResult) {
	w := r.wans[res.wan]
	t := w.targets[res.target]
	t.sent++
	errText := ""
	if res.err != nil {
		errText = res.err.Error()
		t.lost++
		if w.load().Congested() {
			// The line is full of the store's own traffic and still
			// receiving: this loss is congestion, not an outage.
			t.excused++
			return
		}
	}
	t.w.add(result{ok: res.err == nil, rtt: res.rtt}, errText)
	if res.err == nil {
		t.lastR = res.rtt
	}
	t.st = r.m.th.next(t.st, t.w)
}

// linkEvent is the carrier fast path: a WAN whose carrier drops is down
// now, not when its probes time out.
func (r *runner) linkEvent(ev linkEvent) {
	if ev.dev == "" {
		r.learnAll()
		r.reconcile(false)
		r.evaluate("netlink")
		return
	}
	for _, w := range r.wans {
		if w.cfg.Interface != ev.dev || w.carrier == ev.carrier {
			continue
		}
		// learnOne takes the carrier from the kernel (and resets the
		// windows when it returns); the event only says when to look.
		r.m.log.Info("wan: carrier", "wan", w.cfg.Name, "carrier", ev.carrier)
		r.learnOne(w)
		r.evaluate("carrier")
	}
}

// carrierPoll is how often the WANs' carrier flag is read. The kernel
// sends the RTM_NEWLINK for a carrier change through linkwatch, which
// batches non-urgent events to one run per second for the whole machine
// (net/core/link_watch.c, linkwatch_schedule_work), so the event can come
// up to a second late; IFF_LOWER_UP in a fresh RTM_GETLINK reflects
// netif_carrier_ok at once. One small netlink request per WAN every 50 ms
// puts carrier loss within 50 ms.
const carrierPoll = 50 * time.Millisecond

func (r *runner) pollCarrier() {
	for _, w := range r.wans {
		link, err := r.h.LinkByName(w.cfg.Interface)
		carrier := err == nil && carrierOf(link.Attrs())
		if err == nil && link.Attrs().Statistics != nil {
			st := link.Attrs().Statistics
			w.meter.add(counters{at: time.Now(), rx: st.RxBytes, tx: st.TxBytes})
		} else {
			w.meter.reset()
		}
		if carrier != w.carrier {
			r.linkEvent(linkEvent{dev: w.cfg.Interface, carrier: carrier})
		}
	}
}

// load is what the WAN's counters say about it now.
func (w *wanRT) load() load { return w.meter.load(uint64(w.cfg.RateUp), uint64(w.cfg.RateDown)) }

func (r *runner) learnAll() {
	for _, w := range r.wans {
		r.learnOne(w)
	}
}

func (r *runner) learnOne(w *wanRT) {
	st := learn(r.h, w.cfg.Interface, w.cfg.Gateway)
	if st.Present && !w.link.Present && w.pinger != nil {
		w.pinger.reset() // a new interface: rebind
	}
	w.link = st.Link
	carrier := st.Present && st.Carrier
	if carrier && !w.carrier {
		for _, t := range w.targets {
			t.w.reset()
			t.st = targetUnknown
		}
	}
	w.carrier = carrier
}

// reconcile puts the desired routing into the kernel; with full it also
// checks the nftables table for drift.
func (r *runner) reconcile(full bool) {
	r.synced = r.m.opt.Now()
	links := make([]Link, len(r.wans))
	for i, w := range r.wans {
		links[i] = w.link
	}
	l := r.m.opt.Layout
	n, err := l.sync(r.ops, l.desired(links, r.active, r.weights()), len(r.wans))
	if err != nil {
		r.m.log.Warn("wan: routing not fully applied; retrying on the next check", "err", err)
	}
	if full && !connmarkPresent(r.nft, l, len(r.wans)) {
		n++
		if err := applyConnmark(r.nft, l, r.devs()); err != nil {
			r.m.log.Warn("wan: connmark table", "err", err)
		}
	}
	if full && n > 0 {
		r.m.log.Info("wan: repaired kernel state (drift)", "changes", n)
	}
}
