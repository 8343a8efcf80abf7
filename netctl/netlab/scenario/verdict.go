package scenario

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// window is a span of the scenario.
type window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

func (w window) has(t time.Time) bool {
	return !t.Before(w.Start) && (w.End.IsZero() || !t.After(w.End))
}

// FaultRun is a step as it was carried out.
type FaultRun struct {
	Kind  FaultKind `json:"kind"`
	WAN   int       `json:"wan"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Note  string    `json:"note,omitempty"`
	Err   string    `json:"error,omitempty"`
}

// WANObs is a WAN state the status API showed, with the time the daemon
// says it began.
type WANObs struct {
	WAN   string    `json:"wan"`
	State string    `json:"state"`
	Since time.Time `json:"since"`
}

// Switch is a change of the active WAN the status API showed.
type Switch struct {
	To    string    `json:"to"`
	Since time.Time `json:"since"`
	// Initial marks the first WAN of a (re)started daemon.
	Initial bool `json:"initial,omitempty"`
}

// Check is one status page check.
type Check struct {
	At  time.Time `json:"at"`
	Err string    `json:"err,omitempty"`
}

// PushResult is a config push and head office's final report of it.
type PushResult struct {
	Kind    FaultKind `json:"kind"`
	Version int64     `json:"version"`
	State   string    `json:"state"`
	Errors  []string  `json:"errors,omitempty"`
}

// Observations are everything the scenario saw; Judge turns them into a
// verdict.
type Observations struct {
	Params    Params
	Goals     Goals
	Start     time.Time
	End       time.Time
	WANs      []string // names, most preferred first
	Faults    []FaultRun
	Txns      []Txn
	Record    Record
	Produced  map[string]uint64 // last seq per stream in the gateway's store
	Polled    []WANObs
	Switches  []Switch
	HoldDown  time.Duration // the failback hold-down at the start
	Resources Resources
	Checks    []Check
	Pushes    []PushResult
	Traffic   TrafficStats
}

// Recovery is how long a line coming back gets before POS transactions
// count again after the both-down window: the time the failover goals give
// to notice that a line works (the black-hole detection bound).
func (g Goals) Recovery() time.Duration { return g.BlackHoleDetect }

// falseFailoverGrace is how long after a fault ends a failover still
// belongs to it (a line that is back but not yet probed healthy).
const falseFailoverGrace = 10 * time.Second

// Judge computes the verdict.
func Judge(o Observations) *Verdict {
	v := &Verdict{Scenario: o.Params.Name, Start: o.Start, Duration: o.End.Sub(o.Start), Goals: o.Goals}
	v.POS = judgePOS(o)
	v.Faults, v.Failover = judgeFailover(o)
	v.Telemetry, v.ReturnDelays = judgeTelemetry(o)
	v.Daemon = judgeDaemon(o)
	v.Config = o.Pushes
	v.Traffic = o.Traffic
	v.Alarms = o.Record.Alarms
	v.rows(o)
	return v
}

// bothDown is the windows the POS goal does not cover, as transaction
// start times: both lines down, or the store on a throttled SIM; from
// POSTimeout before it (a transaction in flight when the lines go) to the
// recovery time after it.
func bothDown(o Observations) []window {
	var out []window
	for _, f := range o.Faults {
		if f.Kind == BothDown || f.Kind == Throttled {
			out = append(out, window{f.Start.Add(-o.Params.POSTimeout), f.End.Add(o.Goals.Recovery())})
		}
	}
	return out
}

func inAny(ws []window, t time.Time) bool {
	return slices.ContainsFunc(ws, func(w window) bool { return w.has(t) })
}

func judgePOS(o Observations) POSVerdict {
	bd := bothDown(o)
	var p POSVerdict
	var lat []time.Duration
	done := map[string][]time.Time{}
	for _, t := range o.Txns {
		p.Attempted++
		out := !inAny(bd, t.Start)
		if out {
			p.OutsideAttempted++
		}
		if !t.OK {
			continue
		}
		p.Succeeded++
		if out {
			p.OutsideSucceeded++
		}
		lat = append(lat, t.Latency)
		done[t.Till] = append(done[t.Till], t.Start.Add(t.Latency))
	}
	for _, t := range o.Txns {
		if !t.OK && !inAny(bd, t.Start) {
			if p.FailedDuring == nil {
				p.FailedDuring = map[string]int{}
			}
			p.FailedDuring[faultAt(o, t.Start)]++
			if p.FailedOn == nil {
				p.FailedOn = map[string]int{}
			}
			p.FailedOn[activeAt(o, t.Start)]++
			if len(p.Failures) < maxFailures {
				p.Failures = append(p.Failures, POSFailure{At: t.Start.Sub(o.Start), Till: t.Till,
					WAN: activeAt(o, t.Start), Faults: faultAt(o, t.Start), Err: t.Err, Took: t.Latency})
			}
		}
	}
	if p.OutsideAttempted > 0 {
		p.SuccessOutside = float64(p.OutsideSucceeded) / float64(p.OutsideAttempted)
	}
	for _, ts := range done {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		prev := o.Start
		for _, t := range append(ts, o.End) {
			g := t.Sub(prev)
			p.LongestGap = max(p.LongestGap, g)
			if !overlaps(bd, window{prev, t}) {
				p.LongestGapOutside = max(p.LongestGapOutside, g)
			}
			prev = t
		}
	}
	p.P50, p.P99 = quantile(lat, 0.50), quantile(lat, 0.99)
	var steady []time.Duration
	for _, t := range o.Txns {
		if t.OK && faultAt(o, t.Start.Add(o.Params.POSTimeout)) == "no fault" && faultAt(o, t.Start) == "no fault" {
			steady = append(steady, t.Latency)
		}
	}
	p.P99Steady = quantile(steady, 0.99)
	return p
}

// activeAt is the WAN the status API showed active at t.
func activeAt(o Observations, t time.Time) string {
	active := ""
	if len(o.WANs) > 0 {
		active = o.WANs[0]
	}
	for _, s := range o.Switches {
		if !s.Since.After(t) {
			active = s.To
		}
	}
	return active
}

// faultAt names the faults under way at t (or just over), "no fault" if none.
func faultAt(o Observations, t time.Time) string {
	var names []string
	for _, f := range o.Faults {
		if (window{f.Start, f.End.Add(falseFailoverGrace)}).has(t) {
			n := string(f.Kind)
			if f.Kind == CarrierPull || f.Kind == Flap || f.Kind == BlackHole || f.Kind == Slow {
				n += " " + o.WANs[f.WAN]
			}
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "no fault"
	}
	return strings.Join(names, "+")
}

func overlaps(ws []window, x window) bool {
	return slices.ContainsFunc(ws, func(w window) bool { return x.Start.Before(w.End) && w.Start.Before(x.End) })
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func judgeTelemetry(o Observations) ([]StreamVerdict, map[string]time.Duration) {
	got := map[string]map[uint64]bool{}
	for _, r := range o.Record.Records {
		if got[r.Stream] == nil {
			got[r.Stream] = map[uint64]bool{}
		}
		got[r.Stream][r.Seq] = true
	}
	var out []StreamVerdict
	names := make([]string, 0, len(o.Produced))
	for s := range o.Produced {
		names = append(names, s)
	}
	for s := range got {
		if _, ok := o.Produced[s]; !ok {
			names = append(names, s)
		}
	}
	slices.Sort(names)
	for _, s := range names {
		sv := StreamVerdict{Stream: s, Produced: o.Produced[s], Duplicates: o.Record.Duplicates[s]}
		for seq := uint64(1); seq <= sv.Produced; seq++ {
			switch {
			case got[s][seq]:
				sv.Received++
			case covered(o.Record.Gaps, s, seq):
				sv.Gapped++
			default:
				sv.Lost++
				sv.addLost(seq)
			}
		}
		out = append(out, sv)
	}
	// Delivery delay after a link returns: for each moment head office
	// became reachable again, the latest arrival of a record made before it.
	type ret struct {
		at   time.Time
		what string
	}
	var rets []ret
	for _, f := range o.Faults {
		if f.Kind == BothDown || f.Kind == BrokerRestart {
			rets = append(rets, ret{f.End, string(f.Kind)})
		}
	}
	for _, d := range o.Resources.Down {
		if !d.End.IsZero() {
			rets = append(rets, ret{d.End, "gatewayd restart"})
		}
	}
	delays := map[string]time.Duration{}
	for _, rt := range rets {
		for _, r := range o.Record.Records {
			if r.TS.Before(rt.at) && r.At.After(rt.at) {
				delays[rt.what] = max(delays[rt.what], r.At.Sub(rt.at))
			}
		}
	}
	return out, delays
}

func covered(gaps []Gap, stream string, seq uint64) bool {
	return slices.ContainsFunc(gaps, func(g Gap) bool { return g.Stream == stream && seq >= g.First && seq <= g.Last })
}

// restartGrace is how long after gatewayd is started again its status
// page may still be coming up.
const restartGrace = 10 * time.Second

func judgeDaemon(o Observations) DaemonVerdict {
	r := o.Resources
	d := DaemonVerdict{Restarts: max(r.Starts-1, 0), Kills: r.Kills, Crashes: r.Crashes, RSSPeak: r.RSSPeak,
		CPU: r.CPU, DiskPeak: r.DiskPeak, Checks: len(o.Checks)}
	if span := o.End.Sub(o.Start); span > 0 {
		d.CPUPercent = 100 * float64(r.CPU) / float64(span)
	}
	var down []window
	for _, w := range r.Down {
		if w.End.IsZero() {
			w.End = o.End
		}
		down = append(down, window{w.Start, w.End.Add(restartGrace)})
	}
	for _, c := range o.Checks {
		switch {
		case c.Err == "":
			d.ChecksOK++
		case !inAny(down, c.At):
			d.ChecksFailed++
			d.CheckErrors = append(d.CheckErrors, fmt.Sprintf("%s: %s", c.At.Sub(o.Start).Round(time.Second), c.Err))
		}
	}
	return d
}

// maxFailures bounds the POS failures a verdict lists.
const maxFailures = 1000

// maxLostRanges bounds the lost ranges a verdict lists.
const maxLostRanges = 8

// addLost extends the last lost range with seq or starts a new one.
func (s *StreamVerdict) addLost(seq uint64) {
	if n := len(s.LostRanges); n > 0 && s.LostRanges[n-1][1]+1 == seq {
		s.LostRanges[n-1][1] = seq
		return
	}
	if len(s.LostRanges) < maxLostRanges {
		s.LostRanges = append(s.LostRanges, [2]uint64{seq, seq})
	}
}
