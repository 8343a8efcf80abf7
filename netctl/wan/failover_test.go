//go:build linux

package wan_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/wan"
	"github.com/branchgw/branchgw/netctl/wan/wanlab"
)

func TestLabCarrierLossFailsOver(t *testing.T) {
	t.Parallel()
	r := startLab(t, 30*time.Second)
	gap, first := streamResumes(t, r, 10*time.Second, func() error { return r.l.Carrier(0, false) })
	ev, _ := r.waitEvent(t, 0, 5*time.Second, "failover", isKind("failover", "wan2"))
	t.Logf("carrier loss: POS stream gap %v, first transaction on a new connection after %v; %s (%s), %d conntrack entries flushed",
		gap, first, ev.Kind, ev.Reason, ev.Flushed)
	if first < 0 || first > gap+time.Second {
		t.Errorf("first POS transaction after %v, want within the gap %v + 1s", first, gap)
	}
	s := r.m.Snapshot()
	if s.Active != "wan2" || s.WANs[0].State != wan.Down || s.WANs[0].Carrier {
		t.Errorf("after carrier loss: %s", s)
	}
	if err := posWorks(r.ctx, r.l); err != nil {
		t.Errorf("a new POS connection after failover: %v", err)
	}
}

// Failback waits for the hold-down; a long-lived connection opened on the
// backup keeps running across it, while new connections take the primary.
func TestLabFailbackAfterHoldDown(t *testing.T) {
	t.Parallel()
	const hold = 4 * time.Second
	r := startLab(t, hold)
	if err := r.l.Carrier(0, false); err != nil {
		t.Fatal(err)
	}
	_, i := r.waitEvent(t, 0, 5*time.Second, "failover", isKind("failover", "wan2"))

	// A till's long-lived connection, opened while on the backup.
	long, err := r.l.Dial(r.ctx, netlab.POS1, "tcp4", fmt.Sprintf("%s:%d", netlab.Server, netlab.POSPort))
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	if err := echoLine(long, "on backup"); err != nil {
		t.Fatal(err)
	}

	if err := r.l.Carrier(0, true); err != nil {
		t.Fatal(err)
	}
	upEv, j := r.waitEvent(t, i, 10*time.Second, "wan1 up", isState("wan1", wan.Up))
	// Failback counts from the last time wan1 became Up before it.
	back, k := r.waitEvent(t, j, 3*hold, "failback", isKind("failback", "wan1"))
	for _, ev := range r.ev.Events()[j:k] {
		if isState("wan1", wan.Up)(ev) {
			upEv = ev
		}
	}
	if waited := back.Time.Sub(upEv.Time); waited < hold {
		t.Errorf("failback %v after wan1 came up, before the %v hold-down", waited, hold)
	}
	t.Logf("failback %v after wan1 came back up (hold-down %v): %s", back.Time.Sub(upEv.Time), hold, back.Reason)

	if err := echoLine(long, "after failback"); err != nil {
		t.Errorf("the connection opened on the backup broke at failback: %v", err)
	}
	// A new connection goes out of wan1: its conntrack entry carries wan1's mark.
	c, err := r.l.Dial(r.ctx, netlab.POS1, "tcp4", fmt.Sprintf("%s:%d", netlab.Server, netlab.POSPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := echoLine(c, "new"); err != nil {
		t.Fatal(err)
	}
	marks := ctMarks(t, r, long, c)
	if marks[0] != wan.DefaultLayout.Mark(1) || marks[1] != wan.DefaultLayout.Mark(0) {
		t.Errorf("conntrack marks: long-lived %#x (want wan2 %#x), new %#x (want wan1 %#x)",
			marks[0], wan.DefaultLayout.Mark(1), marks[1], wan.DefaultLayout.Mark(0))
	}
}

func TestLabBlackHoleFailsOver(t *testing.T) {
	t.Parallel()
	r := startLab(t, 30*time.Second)
	gap, first := streamResumes(t, r, 15*time.Second, func() error { return r.l.BlackHole(0, true) })
	ev, _ := r.waitEvent(t, 0, 5*time.Second, "failover", isKind("failover", "wan2"))
	t.Logf("black hole: POS stream gap %v, first transaction on a new connection after %v; %s (%s), %d conntrack entries flushed",
		gap, first, ev.Kind, ev.Reason, ev.Flushed)
	if first < 0 || first > gap+time.Second {
		t.Errorf("first POS transaction after %v, want within the gap %v + 1s", first, gap)
	}
	s := r.m.Snapshot()
	if s.Active != "wan2" || s.WANs[0].State != wan.Down || !s.WANs[0].Carrier {
		t.Errorf("after black hole: %s", s)
	}
	if err := posWorks(r.ctx, r.l); err != nil {
		t.Errorf("a new POS connection after failover: %v", err)
	}
}

// A metered standby (LTE) is probed through its cheapest target every 5 s,
// within the monthly budget, and at the full rate once it carries traffic.
func TestLabMeteredStandby(t *testing.T) {
	t.Parallel()
	wans := wanlab.LabWANs()
	wans[1].Metered = true
	r := startLabWith(t, wans, wanlab.LabFailover(30*time.Second))
	s := r.m.Snapshot()
	lte := s.WANs[1]
	if !lte.Frugal || s.ActiveMetered {
		t.Errorf("metered standby: frugal %v, active metered %v", lte.Frugal, s.ActiveMetered)
	}
	if lte.Budget.StandbyMB >= 50 || lte.Budget.ActiveMB <= lte.Budget.StandbyMB {
		t.Errorf("budget %+v: want standby under 50 MB a month", lte.Budget)
	}
	t.Logf("LTE probe budget: %.1f MB/month on standby, %.0f MB/month while active", lte.Budget.StandbyMB, lte.Budget.ActiveMB)
	if err := r.l.Carrier(0, false); err != nil {
		t.Fatal(err)
	}
	r.waitEvent(t, 0, 5*time.Second, "failover", isKind("failover", "wan2"))
	s = r.m.Snapshot()
	if s.WANs[1].Frugal || !s.ActiveMetered {
		t.Errorf("metered and active: frugal %v, active metered %v", s.WANs[1].Frugal, s.ActiveMetered)
	}
}

// A WAN whose interface is missing (an LTE modem not enumerated yet) is
// reported down and does not stop the manager.
func TestLabMissingInterface(t *testing.T) {
	t.Parallel()
	l := netlab.ForTest(t, netlab.Options{})
	netlab.ServicesForTest(t, l, netlab.ServiceOptions{})
	wans := wanlab.LabWANs()
	wans[1].Interface = "wwan0"
	ctx, cancel := context.WithCancel(context.Background())
	m, _, done, err := wanlab.LabManager(ctx, l, wans, wanlab.LabFailover(0), nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := wanlab.WaitActive(wctx, m, "wan1", "wan1"); err != nil {
		t.Fatal(err)
	}
	waitStates(t, &labRun{m: m}, 5*time.Second, wan.Up, wan.Down)
	if w := m.Snapshot().WANs[1]; !strings.Contains(w.Reason, "not present") {
		t.Errorf("missing interface: %s (%s)", w.State, w.Reason)
	}
}
