package wan

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// step is one policy input: at t seconds, the states of wan1 and wan2.
type step struct {
	t      float64
	s1, s2 State
}

func runPolicy(hold time.Duration, steps []step) (log []string, p *policy) {
	p = newPolicy([]int{1, 2}, hold)
	t0 := time.Unix(1000, 0)
	for _, st := range steps {
		d := p.decide(t0.Add(time.Duration(st.t*float64(time.Second))), []State{st.s1, st.s2})
		if d.Changed {
			log = append(log, fmt.Sprintf("%g %s wan%d", st.t, d.Kind, d.Active+1))
		}
	}
	return log, p
}

func TestPolicy(t *testing.T) {
	hold := 30 * time.Second
	tests := []struct {
		name     string
		steps    []step
		want     string
		wantHold time.Duration
	}{
		{"starts on the preferred WAN before probes decide",
			[]step{{0, Unknown, Unknown}, {1, Up, Up}},
			"0 initial wan1", hold},
		{"the backup answering first is no reason to leave the preferred",
			[]step{{0, Unknown, Unknown}, {0.5, Unknown, Up}, {0.6, Up, Up}},
			"0 initial wan1", hold},
		{"starts on the backup when the preferred has no carrier",
			[]step{{0, Down, Unknown}, {1, Down, Up}},
			"0 initial wan2", hold},
		{"failover at once, failback only after the hold-down",
			[]step{{0, Up, Up}, {10, Down, Up}, {11, Up, Up}, {40, Up, Up}, {41.5, Up, Up}},
			"0 initial wan1, 10 failover wan2, 41.5 failback wan1", hold},
		{"failback needs the hold-down of Up, not of degraded",
			[]step{{0, Up, Up}, {10, Down, Up}, {11, Degraded, Up}, {30, Up, Up}, {59, Up, Up}, {60, Up, Up}},
			"0 initial wan1, 10 failover wan2, 60 failback wan1", hold},
		{"degraded is usable: no failover on a lossy line",
			[]step{{0, Up, Up}, {5, Degraded, Up}, {50, Degraded, Up}},
			"0 initial wan1", hold},
		{"both down: stay, then take whichever comes back first",
			[]step{{0, Up, Up}, {5, Down, Down}, {9, Down, Up}, {10, Up, Up}, {39, Up, Up}, {40, Up, Up}},
			"0 initial wan1, 9 failover wan2, 40 failback wan1", hold},
		{"backup dies while active: go back to the preferred at once",
			[]step{{0, Up, Up}, {5, Down, Up}, {6, Up, Up}, {7, Up, Down}},
			"0 initial wan1, 5 failover wan2, 7 failover wan1", hold},
		{"flapping doubles the hold-down, one failover",
			[]step{{0, Up, Up}, {10, Down, Up}, {12, Up, Up}, {13, Down, Up}, {14, Up, Up}, {15, Down, Up},
				{16, Up, Up}, {17, Down, Up}, {18, Up, Up}, {18 + 30, Up, Up}, {18 + 239, Up, Up}, {18 + 240, Up, Up}},
			"0 initial wan1, 10 failover wan2, 258 failback wan1", 8 * hold},
		{"a failback that fails at once counts as a flap",
			[]step{{0, Up, Up}, {10, Down, Up}, {11, Up, Up}, {41, Up, Up}, {45, Down, Up}, {46, Up, Up}, {105, Up, Up}, {106, Up, Up}},
			"0 initial wan1, 10 failover wan2, 41 failback wan1, 45 failover wan2, 106 failback wan1", 2 * hold},
		{"a long stable run forgives earlier flaps",
			[]step{{0, Up, Up}, {10, Down, Up}, {11, Up, Up}, {12, Down, Up}, {13, Up, Up}, {73, Up, Up}, {200, Up, Up}},
			"0 initial wan1, 10 failover wan2, 73 failback wan1", hold},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, p := runPolicy(hold, tc.steps)
			if got := strings.Join(log, ", "); got != tc.want {
				t.Errorf("decisions:\n got %s\nwant %s", got, tc.want)
			}
			if p.holdDown() != tc.wantHold {
				t.Errorf("hold-down %v, want %v", p.holdDown(), tc.wantHold)
			}
		})
	}
}

func TestHealthVerdict(t *testing.T) {
	th := newThresholds(10, 60, 1)
	tests := []struct {
		name    string
		cur     State
		carrier bool
		targets []targetState
		loss    float64
		want    State
	}{
		{"carrier lost beats probes", Up, false, []targetState{targetOK, targetOK}, 0, Down},
		{"all ok", Up, true, []targetState{targetOK, targetOK}, 0, Up},
		{"one of two failed is degraded", Up, true, []targetState{targetOK, targetFailed}, 50, Degraded},
		{"lossy but answering is degraded", Up, true, []targetState{targetOK, targetOK}, 25, Degraded},
		{"degraded stays degraded above the exit threshold", Degraded, true, []targetState{targetOK, targetOK}, 15, Degraded},
		{"up stays up below the entry threshold", Up, true, []targetState{targetOK, targetOK}, 15, Up},
		{"degraded recovers below the exit threshold", Degraded, true, []targetState{targetOK, targetOK}, 5, Up},
		{"all failed", Up, true, []targetState{targetFailed, targetFailed}, 100, Down},
		{"undecided", Unknown, true, []targetState{targetUnknown, targetFailed}, 50, Unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, why := th.verdict(tc.cur, tc.carrier, tc.targets, tc.loss); got != tc.want {
				t.Errorf("got %s (%s), want %s", got, why, tc.want)
			}
		})
	}
	q2 := newThresholds(10, 60, 2)
	if got, _ := q2.verdict(Up, true, []targetState{targetOK, targetFailed, targetFailed}, 60); got != Down {
		t.Errorf("quorum 2 with one answering target: %s, want down", got)
	}
}

func TestTargetHysteresis(t *testing.T) {
	th := newThresholds(10, 60, 1)
	tests := []struct {
		name    string
		results string // o answered, x lost
		want    targetState
	}{
		{"new target needs three answers", "oo", targetUnknown},
		{"three answers", "ooo", targetOK},
		{"ten percent loss stays ok", "oooxooooxoooooxooooo", targetOK},
		{"five lost of ten is not enough", "oooooxxxxx", targetOK},
		{"six lost of ten fails", "ooooxxxxxx", targetFailed},
		{"two answers do not bring it back", "xxxxxxxxxxoo", targetFailed},
		{"three answers in a row do", "xxxxxxxoooo", targetOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWindow(10)
			st := targetUnknown
			for _, c := range tc.results {
				w.add(result{ok: c == 'o', rtt: time.Millisecond}, "timeout")
				st = th.next(st, w)
			}
			if st != tc.want {
				t.Errorf("got %s, want %s (losses %d, run %d)", st, tc.want, w.losses(), w.okRun())
			}
		})
	}
}

func TestPolicyWeighted(t *testing.T) {
	hold := 30 * time.Second
	type wstep struct {
		t      float64
		s1, s2 State
		want   string // members after the step: "12", "1", "2" or ""
	}
	tests := []struct {
		name  string
		steps []wstep
	}{
		{"both share from the start", []wstep{{0, Unknown, Unknown, "1"}, {1, Up, Up, "12"}}},
		{"a failed WAN leaves at once and rejoins after the hold-down", []wstep{
			{0, Up, Up, "12"}, {5, Up, Down, "1"}, {6, Up, Up, "1"}, {35, Up, Up, "1"}, {36, Up, Up, "12"}}},
		{"degraded still shares", []wstep{{0, Up, Up, "12"}, {5, Up, Degraded, "12"}}},
		{"the preferred fails: the other carries alone", []wstep{{0, Up, Up, "12"}, {5, Down, Up, "2"}, {6, Up, Up, "2"}, {36, Up, Up, "12"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPolicy([]int{1, 2}, hold)
			p.weighted = true
			t0 := time.Unix(1000, 0)
			for _, st := range tc.steps {
				p.decide(t0.Add(time.Duration(st.t*float64(time.Second))), []State{st.s1, st.s2})
				got := ""
				for i, in := range p.members() {
					if in {
						got += fmt.Sprint(i + 1)
					}
				}
				if got != st.want {
					t.Fatalf("at %gs (%s, %s): members %q, want %q", st.t, st.s1, st.s2, got, st.want)
				}
			}
		})
	}
}

func TestPolicyForced(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tc := range []struct {
		name  string
		force int    // WAN index forced at t=1, for 10 s
		steps []step // after the force
		want  string // decisions that changed the active WAN
	}{
		{"force the backup, then back to automatic", 1,
			[]step{{2, Up, Up}, {5, Up, Up}, {11, Up, Up}},
			"1 forced wan2, 11 failback wan1"},
		{"a forced WAN that dies is left", 1,
			[]step{{2, Up, Up}, {3, Up, Down}},
			"1 forced wan2, 3 failover wan1"},
		{"forcing onto a dead WAN does nothing", 1,
			[]step{{2, Up, Down}},
			""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPolicy([]int{1, 2}, 0)
			p.decide(at(0), []State{Up, Up})
			p.force(tc.force, at(11))
			states := []State{Up, Up}
			if len(tc.steps) > 0 {
				states = []State{tc.steps[0].s1, tc.steps[0].s2}
			}
			var log []string
			if d := p.decide(at(1), states); d.Changed {
				log = append(log, fmt.Sprintf("1 %s wan%d", d.Kind, d.Active+1))
			}
			for _, st := range tc.steps {
				if d := p.decide(at(st.t), []State{st.s1, st.s2}); d.Changed {
					log = append(log, fmt.Sprintf("%g %s wan%d", st.t, d.Kind, d.Active+1))
				}
			}
			if got := strings.Join(log, ", "); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPolicyStaysOffADampedLine: when the active WAN fails its probes but
// still carries traffic and the only other one has just come back from a
// failure, the store stays; a really dead active WAN is left at once.
func TestPolicyStaysOffADampedLine(t *testing.T) {
	hold := 30 * time.Second
	type flowStep struct {
		step
		flowing2 bool // wan2 still carries traffic
	}
	tests := []struct {
		name   string
		steps  []flowStep
		want   string // decisions that changed the active WAN, and stays
		stays  int    // alarms raised
		finish string // the active WAN at the end
	}{
		{"backup congested, primary flapping: stay on the backup",
			[]flowStep{{step{0, Up, Up}, false}, {step{10, Down, Up}, false}, {step{12, Up, Up}, true},
				{step{13, Up, Down}, true}, {step{14, Down, Down}, true}, {step{15, Up, Down}, true}, {step{20, Up, Up}, true}},
			"0 initial wan1, 10 failover wan2, 13 stay wan2", 1, "wan2"},
		{"backup dead (nothing flows): fail over even onto a damped line",
			[]flowStep{{step{0, Up, Up}, false}, {step{10, Down, Up}, false}, {step{12, Up, Up}, true},
				{step{13, Up, Down}, false}},
			"0 initial wan1, 10 failover wan2, 13 failover wan1", 0, "wan1"},
		{"the primary proved itself: fail over to it",
			[]flowStep{{step{0, Up, Up}, false}, {step{10, Down, Up}, false}, {step{12, Up, Up}, true},
				{step{43, Up, Down}, true}},
			"0 initial wan1, 10 failover wan2, 43 failover wan1", 0, "wan1"},
		{"two episodes raise two alarms",
			[]flowStep{{step{0, Up, Up}, false}, {step{10, Down, Up}, false}, {step{12, Up, Up}, true},
				{step{13, Up, Down}, true}, {step{14, Up, Down}, true}, {step{15, Up, Up}, true}, {step{16, Up, Down}, true}},
			"0 initial wan1, 10 failover wan2, 13 stay wan2, 16 stay wan2", 2, "wan2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPolicy([]int{1, 2}, hold)
			t0 := time.Unix(1000, 0)
			var log []string
			stays := 0
			for _, st := range tc.steps {
				p.flowing = []bool{true, st.flowing2}
				d := p.decide(t0.Add(time.Duration(st.t*float64(time.Second))), []State{st.s1, st.s2})
				if d.Changed || d.Staying {
					log = append(log, fmt.Sprintf("%g %s wan%d", st.t, d.Kind, d.Active+1))
				}
				if d.Staying {
					stays++
				}
			}
			if got := strings.Join(log, ", "); got != tc.want {
				t.Errorf("decisions:\n got %s\nwant %s", got, tc.want)
			}
			if stays != tc.stays {
				t.Errorf("%d alarms, want %d", stays, tc.stays)
			}
			if got := fmt.Sprintf("wan%d", p.active+1); got != tc.finish {
				t.Errorf("active %s at the end, want %s", got, tc.finish)
			}
		})
	}
}
