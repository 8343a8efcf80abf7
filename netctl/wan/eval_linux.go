//go:build linux

package wan

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// evaluate recomputes every WAN's state, lets the policy decide, applies
// a switch to the kernel and publishes events and a new snapshot. Routes
// change first and conntrack is flushed after: a connection opened between
// the two must not be pinned to the dead WAN.
func (r *runner) evaluate(cause string) {
	now := r.m.opt.Now()
	states := make([]State, len(r.wans))
	var changed []Event
	var dead []int // WANs that went down: their connections move
	for i, w := range r.wans {
		st, why := r.verdict(w)
		states[i] = st
		if st == w.state {
			w.reason = why
			continue
		}
		ev := Event{Time: now, Kind: "wan_state", WAN: w.cfg.Name, From: string(w.state), To: string(st),
			Reason: why, Evidence: evidence(w)}
		r.m.log.Info("wan: state", "wan", w.cfg.Name, "from", w.state, "to", st, "reason", why,
			"cause", cause, "evidence", evidenceText(ev.Evidence))
		w.state, w.since, w.reason = st, now, why
		if st == Down {
			dead = append(dead, i)
		}
		changed = append(changed, ev)
	}
	if r.pol.flowing == nil {
		r.pol.flowing = make([]bool, len(r.wans))
	}
	loads := make([]load, len(r.wans)) // read once: the policy and the snapshot
	for i, w := range r.wans {
		loads[i] = w.load()
		r.pol.flowing[i] = w.carrier && loads[i].Alive
	}
	d := r.pol.decide(now, states)
	old := r.active
	if d.Changed {
		r.active, r.actAt = d.Active, now
	}
	if d.Changed || d.MembersChanged {
		r.reconcile(false)
	}
	if d.Changed && old >= 0 && !states[old].Usable() && !slices.Contains(dead, old) {
		dead = append(dead, old) // down since before (both were down): move its connections now
	}
	flushed := map[int]int{}
	for _, i := range dead {
		// Only when something else can take the connections: with every
		// WAN down they would come back to the same place anyway; and never
		// those of a WAN the store stays on.
		if r.otherUsable(i, states) && (d.Kind != "stay" || i != d.Active) {
			flushed[i] = r.flush(i)
		}
	}
	var events []Event
	for _, ev := range changed {
		for i, w := range r.wans {
			if w.cfg.Name == ev.WAN {
				ev.Flushed = flushed[i]
			}
		}
		events = append(events, ev)
	}
	if d.Staying {
		w := r.wans[d.Active]
		ev := Event{Time: now, Kind: "stay", WAN: w.cfg.Name, From: w.cfg.Name, To: w.cfg.Name, Reason: d.Reason, Evidence: evidence(w)}
		r.m.log.Warn("wan: staying on a WAN that fails its probes", "wan", w.cfg.Name, "reason", d.Reason)
		events = append(events, ev)
	}
	if d.MembersChanged && !d.Changed {
		ev := Event{Time: now, Kind: "weights", Reason: "WANs sharing new connections: " + r.memberText()}
		r.m.log.Info("wan: weights", "carrying", r.memberText())
		events = append(events, ev)
	}
	if d.Changed {
		ev := Event{Time: now, Kind: d.Kind, WAN: r.wans[d.Active].cfg.Name, To: r.wans[d.Active].cfg.Name,
			Reason: d.Reason, Evidence: evidence(r.wans[d.Active])}
		if old >= 0 {
			ev.From = r.wans[old].cfg.Name
			ev.Evidence = append(evidence(r.wans[old]), ev.Evidence...)
			ev.Flushed = flushed[old]
		}
		if d.Kind == "failover" {
			r.fails++
		}
		r.m.log.Info("wan: "+d.Kind, "from", ev.From, "to", ev.To, "reason", d.Reason, "conntrack_flushed", ev.Flushed)
		events = append(events, ev)
	}
	for i, w := range r.wans {
		if was := w.frugal.Swap(w.cfg.Metered && !r.carrying(i)); was && !w.frugal.Load() {
			for _, t := range w.targets {
				select {
				case t.wake <- struct{}{}:
				default:
				}
			}
		}
	}
	// The snapshot is current before anyone hears of the change: a
	// consumer that reads it on an event sees what the event says.
	r.publish(now, loads)
	for _, ev := range events {
		r.m.opt.OnEvent(ev)
	}
}

// verdict is a WAN's state from its carrier and the targets it probes
// (only the cheapest one while frugal; the others' verdicts are stale).
func (r *runner) verdict(w *wanRT) (State, string) {
	if !w.link.Present {
		return Down, fmt.Sprintf("interface %s not present", w.cfg.Interface)
	}
	var sts []targetState
	loss, n := 0.0, 0
	for j, t := range w.targets {
		if w.frugal.Load() && j != w.cheap {
			continue
		}
		sts = append(sts, t.st)
		loss += t.w.lossPercent()
		n++
	}
	th := r.m.th
	th.quorum = min(th.quorum, len(sts))
	return th.verdict(w.state, w.carrier, sts, loss/float64(max(n, 1)))
}

func (r *runner) memberText() string {
	var parts []string
	for i, w := range r.weights() {
		if w > 0 {
			parts = append(parts, fmt.Sprintf("%s (weight %d)", r.wans[i].cfg.Name, w))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (r *runner) otherUsable(i int, states []State) bool {
	for j, s := range states {
		if j != i && s.Usable() {
			return true
		}
	}
	return false
}

// flush removes WAN i's connections from conntrack.
func (r *runner) flush(i int) int {
	n, err := flushConntrack(r.h, r.m.opt.Layout, i, r.wans[i].link.Addr)
	if err != nil {
		r.m.log.Warn("wan: conntrack flush", "wan", r.wans[i].cfg.Name, "err", err)
	}
	return int(n)
}

func evidence(w *wanRT) []Evidence {
	out := make([]Evidence, len(w.targets))
	for i, t := range w.targets {
		mean, _ := t.w.rtt()
		out[i] = Evidence{Target: t.cfg.Target, Type: t.cfg.Type, Verdict: t.st.String(),
			Loss: t.w.lossPercent(), RTT: mean.Round(10 * time.Microsecond).String(), Probes: t.w.count, LastErr: t.w.lastErr,
			Sent: t.sent, Lost: t.lost, Excused: t.excused}
	}
	return out
}

func (r *runner) publish(now time.Time, loads []load) {
	s := &Snapshot{At: now, HoldDown: r.pol.holdDown(), Failovers: r.fails, ActiveSince: r.actAt, Mode: "priority"}
	if r.pol.staying >= 0 {
		s.Staying = r.wans[r.pol.staying].cfg.Name
	}
	if r.pol.weighted {
		s.Mode = "weighted"
	}
	if r.active >= 0 {
		s.Active = r.wans[r.active].cfg.Name
		s.ActiveMetered = r.wans[r.active].cfg.Metered
	}
	for i, w := range r.wans {
		ws := WANStatus{Name: w.cfg.Name, Interface: w.cfg.Interface, State: w.state, Since: w.since,
			Reason: w.reason, Carrier: w.carrier, Priority: r.pol.prio[i], Metered: w.cfg.Metered,
			Active: i == r.active, Carrying: r.carrying(i), Weight: max(w.cfg.Weight, 1),
			Frugal: w.frugal.Load(), Targets: evidence(w), Budget: w.budget}
		l := loads[i]
		ws.RxBits, ws.TxBits, ws.Congested = l.RxBits, l.TxBits, l.Congested()
		if w.link.Addr.IsValid() {
			ws.Address = w.link.Addr.String()
		}
		if w.link.Gateway.IsValid() {
			ws.Gateway = w.link.Gateway.String()
		}
		var loss float64
		var rtt time.Duration
		n := 0
		for _, t := range w.targets {
			loss += t.w.lossPercent()
			if m, _ := t.w.rtt(); m > 0 {
				rtt += m
				n++
			}
		}
		ws.LossPercent = loss / float64(max(len(w.targets), 1))
		if n > 0 {
			ws.RTT = rtt / time.Duration(n)
		}
		s.WANs = append(s.WANs, ws)
	}
	s.WANs = slices.Clip(s.WANs)
	r.m.snap.Store(s)
}
