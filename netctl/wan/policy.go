package wan

import (
	"fmt"
	"time"
)

// policy picks the WAN that carries new connections: priority failover
// with a failback hold-down that doubles when the preferred WAN flaps.
// It is pure logic over states and times, so it is table-tested without a
// kernel.
type policy struct {
	base, maxHold time.Duration
	hold          time.Duration
	active        int // index into the WAN list; -1 before the first decision
	// usableSince[i] is when WAN i last became usable (zero while not).
	usableSince []time.Time
	// upSince[i] is when WAN i last became fully Up (zero while not):
	// failback needs the hold-down of clean probes, not of a degraded line.
	upSince []time.Time
	// recovered[i] is set when WAN i became usable again after a failure
	// (not at start): only such a WAN can flap.
	recovered []bool
	// seen[i] is set once WAN i had any state other than Unknown.
	seen []bool
	// activeSince is when the current active WAN was chosen.
	activeSince time.Time
	// prio[i] is WAN i's priority (lower is preferred).
	prio []int
	// weighted mode: member[i] is set while WAN i takes new connections.
	weighted bool
	member   []bool
	// forced is the WAN a technician put traffic on until forcedUntil
	// (-1: none).
	forced      int
	forcedUntil time.Time
	// flowing[i] is set while WAN i has carrier and still receives
	// traffic (its interface counters), whatever its probes say; the
	// runner sets it before each decide (nil: no WAN counts as flowing).
	flowing []bool
	// staying is the WAN kept though down (see decideActive), -1 if none.
	staying int
}

// holdFactorMax caps the doubled hold-down at 8 times the configured one.
const holdFactorMax = 8

func newPolicy(prio []int, failbackAfter time.Duration) *policy {
	return &policy{
		base: failbackAfter, maxHold: holdFactorMax * failbackAfter, hold: failbackAfter,
		active: -1, forced: -1, staying: -1, usableSince: make([]time.Time, len(prio)), prio: prio,
		recovered: make([]bool, len(prio)), seen: make([]bool, len(prio)), upSince: make([]time.Time, len(prio)),
	}
}

// decision is what decide concluded.
type decision struct {
	Active  int
	Changed bool
	Kind    string // "initial", "failover", "failback" or ""
	Reason  string
	// MembersChanged: in weighted mode, the set of WANs sharing new
	// connections changed (see members).
	MembersChanged bool
	// Staying is set on the first decision that keeps a down WAN active
	// because the only alternative is inside its hold-down (Reason says
	// why): an alarm, raised once per episode.
	Staying bool
}

// preferred orders WANs: is i preferred over j?
func (p *policy) preferred(i, j int) bool {
	if p.prio[i] != p.prio[j] {
		return p.prio[i] < p.prio[j]
	}
	return i < j
}

// decide updates the policy with the WANs' states at now. In weighted
// mode a WAN shares new connections while usable; one that failed rejoins
// only after the same hold-down as a failback, so flaps stay damped.
func (p *policy) decide(now time.Time, states []State) decision {
	d := p.decideActive(now, states)
	if d.Kind != "stay" && (d.Changed || states[d.Active] != Down) {
		p.staying = -1 // the episode ends when the active WAN changes or recovers
	}
	if !p.weighted {
		return d
	}
	if p.member == nil {
		p.member = make([]bool, len(states))
	}
	for i, s := range states {
		in := i == d.Active && s != Down ||
			s.Usable() && (p.member[i] || !p.recovered[i] || !p.upSince[i].IsZero() && now.Sub(p.upSince[i]) >= p.hold)
		if in != p.member[i] {
			p.member[i] = in
			d.MembersChanged = true
		}
	}
	return d
}

// members reports which WANs take new connections (weighted mode).
func (p *policy) members() []bool { return p.member }

// decideActive picks the active WAN: the one new connections use in
// priority mode, the one events and the snapshot name in weighted mode.
func (p *policy) decideActive(now time.Time, states []State) decision {
	for i, s := range states {
		switch {
		case s.Usable() && p.usableSince[i].IsZero():
			p.usableSince[i] = now
			p.recovered[i] = p.seen[i]
		case !s.Usable() && s != Unknown && !p.usableSince[i].IsZero():
			// A WAN that fails again soon after it came back is flapping:
			// make it prove itself for twice as long next time.
			if p.recovered[i] && now.Sub(p.usableSince[i]) < 2*p.hold {
				p.hold = min(2*p.hold, p.maxHold)
			}
			p.usableSince[i] = time.Time{}
		case !s.Usable() && s != Unknown:
			p.usableSince[i] = time.Time{}
		}
		if s != Unknown {
			p.seen[i] = true
		}
		switch {
		case s == Up && p.upSince[i].IsZero():
			p.upSince[i] = now
		case s != Up:
			p.upSince[i] = time.Time{}
		}
	}
	best := -1
	for i, s := range states {
		if s.Usable() && (best < 0 || p.preferred(i, best)) {
			best = i
		}
	}
	if p.active < 0 {
		// First decision: the most preferred WAN that is not known dead, so
		// the store trades from the first second instead of waiting for probes.
		first := -1
		for i, s := range states {
			if s != Down && (first < 0 || p.preferred(i, first)) {
				first = i
			}
		}
		if best >= 0 {
			first = best
		}
		if first < 0 {
			first = 0
		}
		return p.switchTo(now, first, "initial", fmt.Sprintf("starting on the most preferred WAN (%s)", states[first]))
	}
	cur := p.active
	if p.forced >= 0 && !now.Before(p.forcedUntil) {
		p.forced = -1 // the override ran out: the usual rules decide again
	}
	// A forced WAN carries traffic while it is not known dead: forcing
	// never strands the store on a line that is down.
	if f := p.forced; f >= 0 && states[f] != Down {
		return p.switchTo(now, f, "forced", fmt.Sprintf("forced by a technician until %s", p.forcedUntil.UTC().Format("15:04:05")))
	}
	switch {
	case best < 0:
		return decision{Active: cur, Reason: "no WAN is usable"}
	case states[cur] == Down && p.damped(now, best) && p.flows(cur):
		// Both lines look bad: the active one fails its probes but still
		// carries traffic both ways, the other has just come back from a
		// failure and not yet proved itself. Moving would trade a line that
		// works for one that may flap; stay, and say so.
		d := decision{Active: cur, Kind: "stay", Reason: fmt.Sprintf(
			"active WAN fails its probes but still carries traffic; the other is inside its %s hold-down", p.hold)}
		d.Staying = p.staying != cur
		p.staying = cur
		return d
	case states[cur] == Down:
		// Only a WAN known dead is left; one still undecided (just started,
		// carrier just back) gets the time its probes need.
		return p.switchTo(now, best, "failover", fmt.Sprintf("active WAN is %s", states[cur]))
	case p.preferred(best, cur):
		up := time.Duration(0)
		if !p.upSince[best].IsZero() {
			up = now.Sub(p.upSince[best])
		}
		if up >= p.hold {
			return p.switchTo(now, best, "failback", fmt.Sprintf("preferred WAN healthy for %s (hold-down %s)", up.Round(time.Millisecond), p.hold))
		}
		return decision{Active: cur, Reason: fmt.Sprintf("failback in %s", (p.hold - up).Round(time.Second))}
	}
	// Stable on the preferred WAN long enough: forgive earlier flaps.
	if p.hold > p.base && now.Sub(p.usableSince[cur]) >= 2*p.hold && !p.hasPreferred(cur, states) {
		p.hold = p.base
	}
	return decision{Active: cur}
}

// damped reports whether WAN i came back from a failure less than the
// hold-down ago (or is not fully Up yet): a line that may still flap.
func (p *policy) damped(now time.Time, i int) bool {
	return p.recovered[i] && (p.upSince[i].IsZero() || now.Sub(p.upSince[i]) < p.hold)
}

// flows reports whether WAN i still carries traffic (see flowing).
func (p *policy) flows(i int) bool { return i < len(p.flowing) && p.flowing[i] }

// hasPreferred reports whether some WAN preferred over cur exists at all.
func (p *policy) hasPreferred(cur int, states []State) bool {
	for i := range states {
		if p.preferred(i, cur) {
			return true
		}
	}
	return false
}

func (p *policy) switchTo(now time.Time, i int, kind, reason string) decision {
	changed := p.active != i
	p.active, p.activeSince = i, now
	if !changed {
		return decision{Active: i}
	}
	return decision{Active: i, Changed: true, Kind: kind, Reason: reason}
}

// force puts new connections on WAN i until the given time; i < 0 ends an
// override at once.
func (p *policy) force(i int, until time.Time) {
	p.forced, p.forcedUntil = i, until
}

// holdDown is the current failback hold-down.
func (p *policy) holdDown() time.Duration { return p.hold }
