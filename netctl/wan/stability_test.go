//go:build linux

package wan_test

import (
	"context"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/wan"
)

// A lossy but usable line must not fail over: 10% loss each way (about
// 19% of probes lost) for 20 s. (`gwlab bench failover` runs it longer.)
func TestLabLossyLineDoesNotFailOver(t *testing.T) {
	t.Parallel()
	r := startLab(t, 30*time.Second)
	if err := r.l.Loss(0, 10); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Second)
	for _, ev := range r.ev.Events() {
		if ev.Kind == "failover" {
			t.Errorf("false failover on a 10%% lossy line: %+v", ev)
		}
	}
	s := r.m.Snapshot()
	if s.Active != "wan1" || !s.WANs[0].State.Usable() {
		t.Errorf("after 20 s of 10%% loss: %s", s)
	}
	t.Logf("10%% loss for 20 s: %s, wan1 loss %.0f%%", s.WANs[0].State, s.WANs[0].LossPercent)
}

// A line flapping 1 s on / 1 s off for 60 s fails over once and does not
// come back while it flaps: at most one failover per hold-down window.
func TestLabFlappingLine(t *testing.T) {
	t.Parallel()
	const hold = 30 * time.Second
	r := startLab(t, hold)
	ctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
	defer cancel()
	flaps := 0
	for ctx.Err() == nil {
		if err := r.l.Carrier(0, false); err != nil {
			t.Fatal(err)
		}
		sleepCtx(ctx, time.Second)
		if err := r.l.Carrier(0, true); err != nil {
			t.Fatal(err)
		}
		flaps++
		sleepCtx(ctx, time.Second)
	}
	var failovers []time.Time
	for _, ev := range r.ev.Events() {
		if ev.Kind == "failover" || ev.Kind == "failback" {
			t.Logf("%s %s at %s: %s", ev.Kind, ev.To, ev.Time.Format("15:04:05.000"), ev.Reason)
		}
		if ev.Kind == "failover" {
			failovers = append(failovers, ev.Time)
		}
	}
	for i := 1; i < len(failovers); i++ {
		if d := failovers[i].Sub(failovers[i-1]); d < hold {
			t.Errorf("failovers %v apart, within one %v hold-down", d, hold)
		}
	}
	s := r.m.Snapshot()
	if len(failovers) == 0 || s.Active != "wan2" {
		t.Errorf("after %d flaps: %d failovers, %s", flaps, len(failovers), s)
	}
	if s.HoldDown <= hold {
		t.Errorf("hold-down %v after %d flaps, want it doubled from %v", s.HoldDown, flaps, hold)
	}
	t.Logf("%d flaps in 60 s: %d failover(s), hold-down now %v", flaps, len(failovers), s.HoldDown)
}

// Both WANs down are both reported down, and both come back.
func TestLabBothDown(t *testing.T) {
	t.Parallel()
	r := startLab(t, 30*time.Second)
	if err := r.l.Carrier(0, false); err != nil {
		t.Fatal(err)
	}
	if err := r.l.BlackHole(1, true); err != nil {
		t.Fatal(err)
	}
	waitStates(t, r, 10*time.Second, wan.Down, wan.Down)
	if err := r.l.Restore(0); err != nil {
		t.Fatal(err)
	}
	if err := r.l.Restore(1); err != nil {
		t.Fatal(err)
	}
	waitStates(t, r, 10*time.Second, wan.Up, wan.Up)
	if s := r.m.Snapshot(); s.Active != "wan1" {
		t.Errorf("both back: active %s, want wan1 (nothing to hold down for when the backup was dead too)", s.Active)
	}
	if err := posWorks(r.ctx, r.l); err != nil {
		t.Errorf("POS after both came back: %v", err)
	}
}

func waitStates(t *testing.T, r *labRun, timeout time.Duration, want ...wan.State) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := r.m.Snapshot()
		ok := true
		for i, st := range want {
			if s.WANs[i].State != st {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want states %v, got %s", want, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
