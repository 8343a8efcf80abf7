package wan

import (
	"fmt"
	"strings"
)

// State is a WAN's health.
type State string

// The health states. Unknown lasts from start (or carrier return) until
// the probes decide.
const (
	Unknown  State = "unknown"
	Up       State = "up"
	Degraded State = "degraded" // usable, but some targets fail or loss is high
	Down     State = "down"
)

// Usable reports whether traffic may be sent over a WAN in this state.
func (s State) Usable() bool { return s == Up || s == Degraded }

// thresholds turn window figures into decisions; computed from the config.
type thresholds struct {
	// downLosses lost probes in the window fail a target.
	downLosses int
	// upRun successes in a row bring a failed (or new) target back. The gap
	// between the two is the hysteresis: a 10% lossy line almost never loses
	// downLosses of window probes, and a dead line never answers upRun in a row.
	upRun int
	// degradedLoss is the window loss (%) from which a working WAN shows as
	// degraded; it shows as up again below degradedExit (hysteresis, so a
	// line hovering at the threshold does not fill the event log).
	degradedLoss, degradedExit float64
	quorum                     int
}

func newThresholds(window, lossDownPercent, quorum int) thresholds {
	down := (window*lossDownPercent + 99) / 100
	return thresholds{
		downLosses:   max(down, 1),
		upRun:        min(3, window),
		degradedLoss: 20,
		degradedExit: 10,
		quorum:       quorum,
	}
}

// targetState is one target's verdict with hysteresis.
type targetState int

const (
	targetUnknown targetState = iota
	targetOK
	targetFailed
)

func (t targetState) String() string {
	return [...]string{"unknown", "ok", "failed"}[t]
}

// next moves a target's verdict on after a new result in w. Only a loss
// can fail a target and only answers can bring it back, so a recovering
// line is not failed again by the losses still in its window.
func (th thresholds) next(cur targetState, w *window) targetState {
	switch {
	case !w.lastOK && w.losses() >= th.downLosses:
		return targetFailed
	case w.okRun() >= th.upRun:
		return targetOK
	}
	return cur
}

// Evidence is one target's figures at the moment of a decision.
type Evidence struct {
	Target  string  `json:"target"`
	Type    string  `json:"type"`
	Verdict string  `json:"verdict"`
	Loss    float64 `json:"loss_percent"`
	RTT     string  `json:"rtt"`
	Probes  int     `json:"probes"`
	LastErr string  `json:"last_error,omitempty"`
	// Sent, Lost and Excused count since start; Excused are losses while
	// the line was congested by the store's own traffic, which do not
	// count against it.
	Sent    int `json:"sent"`
	Lost    int `json:"lost"`
	Excused int `json:"excused"`
}

// String is the evidence as one line for logs.
func (e Evidence) String() string {
	s := fmt.Sprintf("%s %s %s loss %.0f%% of %d rtt %s", e.Type, e.Target, e.Verdict, e.Loss, e.Probes, e.RTT)
	if e.LastErr != "" && e.Verdict != "ok" {
		s += " (" + e.LastErr + ")"
	}
	return s
}

// verdict decides a WAN's state from its carrier and its targets' verdicts,
// and says why in one line.
func (th thresholds) verdict(cur State, carrier bool, targets []targetState, lossPercent float64) (State, string) {
	if !carrier {
		return Down, "carrier lost"
	}
	ok, failed := 0, 0
	for _, t := range targets {
		switch t {
		case targetOK:
			ok++
		case targetFailed:
			failed++
		}
	}
	n := len(targets)
	lossy := lossPercent >= th.degradedLoss || cur == Degraded && lossPercent >= th.degradedExit
	switch {
	case ok >= th.quorum && (failed > 0 || lossy):
		return Degraded, fmt.Sprintf("%d of %d targets answer, loss %.0f%%", ok, n, lossPercent)
	case ok >= th.quorum:
		return Up, fmt.Sprintf("%d of %d targets answer", ok, n)
	case n-failed < th.quorum:
		return Down, fmt.Sprintf("%d of %d targets failed (quorum %d)", failed, n, th.quorum)
	}
	return Unknown, fmt.Sprintf("waiting for probes (%d of %d targets decided)", ok+failed, n)
}

func evidenceText(ev []Evidence) string {
	parts := make([]string, len(ev))
	for i, e := range ev {
		parts[i] = e.String()
	}
	return strings.Join(parts, "; ")
}
