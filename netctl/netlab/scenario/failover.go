package scenario

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// downAt is the first time at or after from that wan was marked down,
// from head office's WAN events or the status API, whichever is earlier.
func downAt(o Observations, wan string, from time.Time) (time.Time, bool) {
	var best time.Time
	consider := func(t time.Time) {
		if !t.Before(from) && (best.IsZero() || t.Before(best)) {
			best = t
		}
	}
	for _, e := range o.Record.WAN {
		if e.Kind == "wan_state" && e.WAN == wan && e.To == "down" {
			consider(e.Time)
		}
	}
	for _, p := range o.Polled {
		if p.WAN == wan && p.State == "down" {
			consider(p.Since)
		}
	}
	return best, !best.IsZero()
}

// stateAt is wan's state at t, as far as head office and the status API
// knew it ("" if unknown).
func stateAt(o Observations, wan string, t time.Time) string {
	var at time.Time
	st := ""
	see := func(when time.Time, state string) {
		if !when.After(t) && (at.IsZero() || when.After(at)) {
			at, st = when, state
		}
	}
	for _, e := range o.Record.WAN {
		if e.Kind == "wan_state" && e.WAN == wan {
			see(e.Time, e.To)
		}
	}
	for _, p := range o.Polled {
		if p.WAN == wan {
			see(p.Since, p.State)
		}
	}
	return st
}

// failovers merges the switches head office heard of with those the
// status API showed (events may be evicted from a full store).
func failovers(o Observations) []WANEvent {
	var out []WANEvent
	for _, e := range o.Record.WAN {
		if e.Kind == "failover" || e.Kind == "failback" || e.Kind == "initial" {
			out = append(out, e)
		}
	}
	for _, s := range o.Switches {
		if s.Initial {
			continue
		}
		known := slices.ContainsFunc(out, func(e WANEvent) bool {
			return e.To == s.To && e.Time.Sub(s.Since).Abs() < 2*time.Second
		})
		if known {
			continue
		}
		e := WANEvent{Time: s.Since, To: s.To, WAN: s.To, Kind: "failback"}
		if i := slices.Index(o.WANs, s.To); i > 0 {
			e.Kind = "failover"
			e.From = o.WANs[0]
		}
		out = append(out, e)
	}
	// A restarted daemon starts afresh ("initial"): not a switch.
	out = slices.DeleteFunc(out, func(e WANEvent) bool { return e.Kind == "initial" })
	slices.SortFunc(out, func(a, b WANEvent) int { return a.Time.Compare(b.Time) })
	return out
}

// impaired are the windows in which wan was broken by a fault.
func impaired(o Observations, wan string) []window {
	var out []window
	for _, f := range o.Faults {
		hit := f.Kind == BothDown || f.Kind == Throttled ||
			((f.Kind == CarrierPull || f.Kind == Flap || f.Kind == BlackHole) && f.WAN < len(o.WANs) && o.WANs[f.WAN] == wan)
		if hit {
			out = append(out, window{f.Start, f.End.Add(falseFailoverGrace)})
		}
	}
	return out
}

func judgeFailover(o Observations) ([]FaultVerdict, FailoverVerdict) {
	var fv FailoverVerdict
	sw := failovers(o)
	for _, e := range sw {
		if e.Kind != "failover" {
			continue
		}
		fv.Failovers++
		if !inAny(impaired(o, e.From), e.Time) {
			fv.False++
			fv.FalseAt = append(fv.FalseAt, fmt.Sprintf("%s from %s (under way: %s)",
				e.Time.Sub(o.Start).Round(100*time.Millisecond), e.From, faultAt(o, e.Time)))
		}
	}
	var out []FaultVerdict
	detect := func(f FaultRun, wan int, goal time.Duration) {
		name := o.WANs[wan]
		r := FaultVerdict{Kind: f.Kind, WAN: name, At: f.Start.Sub(o.Start), Goal: goal, Detect: -1, Note: f.Note}
		if t, ok := downAt(o, name, f.Start); ok && t.Before(f.End.Add(goal)) {
			r.Detect = t.Sub(f.Start)
		}
		if stateAt(o, name, f.Start) == "down" {
			r.Detect = 0
			r.Note = strings.TrimPrefix(r.Note+"; already down when the fault began", "; ")
		}
		for _, e := range sw {
			if e.Kind == "failover" && e.From == name && !e.Time.Before(f.Start) && e.Time.Before(f.End) {
				r.Failover = e.Time.Sub(f.Start)
				break
			}
		}
		r.OK = r.Detect >= 0 && r.Detect <= goal && f.Err == ""
		out = append(out, r)
	}
	for _, f := range o.Faults {
		switch f.Kind {
		case CarrierPull:
			detect(f, f.WAN, o.Goals.CarrierDetect)
		case BlackHole:
			detect(f, f.WAN, o.Goals.BlackHoleDetect)
		case BothDown:
			for i := range o.WANs {
				detect(f, i, o.Goals.CarrierDetect)
			}
		case Throttled:
			detect(f, 0, o.Goals.CarrierDetect) // wan1's cable is out
		case Flap:
			r := FaultVerdict{Kind: f.Kind, WAN: o.WANs[f.WAN], At: f.Start.Sub(o.Start), Detect: -1, Note: f.Note}
			hold := max(o.HoldDown, time.Second)
			w := window{f.Start, f.End.Add(hold)}
			for _, e := range sw {
				if w.has(e.Time) {
					r.Switches++
				}
			}
			// At most one failover (and its failback) per hold-down window.
			r.SwitchGoal = 2 * int(math.Ceil(float64(f.End.Sub(f.Start))/float64(hold)))
			r.OK = r.Switches <= r.SwitchGoal && f.Err == ""
			fv.Flaps += r.Switches
			out = append(out, r)
		}
	}
	return out, fv
}
