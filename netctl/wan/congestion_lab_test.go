//go:build linux

package wan_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/qos"
	"github.com/branchgw/branchgw/netctl/qos/qosbench"
	"github.com/branchgw/branchgw/netctl/wan"
	"github.com/branchgw/branchgw/netctl/wan/wanlab"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// loadedLab is a store whose WAN manager and QoS run as in gatewayd, with
// the QoS following the active WAN, and whose wan2 is the LTE line of
// netlab.DefaultShapes (20/5 Mbit/s), configured at its rates.
type loadedLab struct {
	*labRun
	q *qos.QoS
}

func startLoadedLab(t *testing.T) *loadedLab {
	t.Helper()
	wans := wanlab.RatedWANs()
	wans[1].Metered = true // the LTE line
	r := startLabWith(t, wans, wanlab.LabFailover(0))
	srv, err := qosbench.StartServers(r.l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	q, stop, err := wanlab.StartQoS(r.ctx, r.l, r.m, wans, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("qos: %v", err)
		}
	})
	return &loadedLab{labRun: r, q: q}
}

// queueDrops are the drops of every queue on wan2's path: the modem's
// (isp2) both ways and each QoS class's.
type queueDrops struct {
	modemDown, modemUp uint64
	up, down           map[string]uint64
}

func (r *loadedLab) drops() queueDrops {
	d := queueDrops{up: map[string]uint64{}, down: map[string]uint64{}}
	d.modemDown, d.modemUp = qosbench.ModemDrops(r.l, netlab.ISP2)
	s := r.q.Snapshot()
	for _, c := range s.Upload {
		d.up[c.Class] = c.Drops
	}
	for _, c := range s.Download {
		d.down[c.Class] = c.Drops
	}
	return d
}

func (d queueDrops) since(o queueDrops) string {
	s := fmt.Sprintf("modem down %d up %d; qos", d.modemDown-o.modemDown, d.modemUp-o.modemUp)
	for _, c := range []string{qos.ClassPOS, qos.ClassInteractive, qos.ClassDefault, qos.ClassBulk, qos.ClassGuest} {
		s += fmt.Sprintf(" %s %d/%d", c, d.up[c]-o.up[c], d.down[c]-o.down[c])
	}
	return s + " (up/down)"
}

// onLoadedBackup pulls wan1's cable and, once the store is on wan2, fills
// wan2; it returns the index of the failover event.
func onLoadedBackup(t *testing.T) (*loadedLab, int) {
	t.Helper()
	r := startLoadedLab(t)
	if err := r.l.Carrier(0, false); err != nil {
		t.Fatal(err)
	}
	_, from := r.waitEvent(t, 0, 5*time.Second, "failover to wan2", isKind("failover", "wan2"))
	r.saturate(t)
	return r, from
}

// saturate fills the active line from the office (2 uploads, 2 downloads)
// and the guest (1 and 2), as a backup upload and streaming would.
func (r *loadedLab) saturate(t *testing.T) {
	t.Helper()
	b, err := qosbench.StartBulk(r.l, 2, 2, netlab.Office)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	g, err := qosbench.StartBulk(r.l, 1, 2, netlab.Guest)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
}

// tills has both POS terminals pay every 500 ms until the phase ends,
// each payment a new TCP connection given its full 3 s (the scenario's POS
// timeout), also when the phase ends meanwhile; wg waits for the last.
type tills struct {
	ok, failed atomic.Int64
	wg         sync.WaitGroup
	mu         sync.Mutex
	errs       []string // the failures, with when and which till
}

func startTills(ctx context.Context, l *netlab.Lab, end time.Time) *tills {
	ts := &tills{}
	for _, node := range []netlab.Node{netlab.POS1, netlab.POS2} {
		ts.wg.Go(func() {
			for at := time.Now(); at.Before(end) && ctx.Err() == nil; at = at.Add(500 * time.Millisecond) {
				time.Sleep(time.Until(at))
				pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				err := pay(pctx, l, node, netlab.Payment)
				cancel()
				switch {
				case ctx.Err() != nil:
					return // the test is over
				case err != nil:
					ts.failed.Add(1)
					ts.mu.Lock()
					ts.errs = append(ts.errs, fmt.Sprintf("%s %s (started %s): %v", time.Now().Format("15:04:05.000"), node, at.Format("15:04:05.000"), err))
					ts.mu.Unlock()
				default:
					ts.ok.Add(1)
				}
			}
		})
	}
	return ts
}

// probeCounts sums a WAN's probes sent and lost since start.
func probeCounts(s *wan.Snapshot, name string) (sent, lost int) {
	for _, w := range s.WANs {
		if w.Name == name {
			for _, e := range w.Targets {
				sent += e.Sent
				lost += e.Lost
			}
		}
	}
	return sent, lost
}

// TestCongestedBackupLineStays is the store day's false failover: wan1 is
// pulled, then flaps, while the office and the guest fill the LTE line
// (wan2) that carries the store. A line full of the store's own traffic is
// not a dead line: traffic stays on wan2, the tills keep paying, and the
// probes, which ride in the top class, keep answering.
func TestCongestedBackupLineStays(t *testing.T) {
	r, from := onLoadedBackup(t)
	time.Sleep(2 * time.Second) // the transfers reach the line's rate
	sent0, lost0 := probeCounts(r.m.Snapshot(), "wan2")
	drops0 := r.drops()

	end := time.Now().Add(30 * time.Second)
	ctx, cancel := context.WithDeadline(r.ctx, end)
	defer cancel()
	ts := startTills(r.ctx, r.l, end)
	flap := time.NewTicker(time.Second)
	up := false
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-flap.C:
			up = !up
			if err := r.l.Carrier(0, up); err != nil {
				t.Fatal(err)
			}
		}
	}
	flap.Stop()
	ts.wg.Wait()
	s := r.m.Snapshot()
	sent, lost := probeCounts(s, "wan2")
	sent, lost = sent-sent0, lost-lost0
	for _, w := range s.WANs {
		if w.Name == "wan2" {
			t.Logf("wan2 under load: rx %.1f Mbit/s, tx %.1f Mbit/s, congested %v", w.RxBits/1e6, w.TxBits/1e6, w.Congested)
		}
	}
	t.Logf("drops while loaded: %s", r.drops().since(drops0))
	ok, failed := ts.ok.Load(), ts.failed.Load()
	t.Logf("POS: %d paid, %d failed; wan2 probes: %d of %d lost", ok, failed, lost, sent)
	for _, e := range ts.errs {
		t.Logf("POS failure: %s", e)
	}

	for _, e := range r.ev.Events()[from+1:] {
		if (e.Kind == "failover" || e.Kind == "failback") && e.From == "wan2" {
			t.Errorf("moved away from the loaded wan2: %s %s -> %s: %s", e.Kind, e.From, e.To, e.Reason)
		}
	}
	if total := ok + failed; total == 0 || float64(ok) < 0.99*float64(total) {
		t.Errorf("POS success %d of %d, want ≥ 99 %%", ok, total)
	}
	if limit := config.Defaults().Failover.LossDownPercent; sent == 0 || 100*lost >= limit*sent {
		t.Errorf("wan2 probe loss %d of %d under load, want below loss_down_percent (%d %%)", lost, sent, limit)
	}
}

// TestCongestedBackupLineBlackHole: the congestion rule must not hide an
// outage. wan2 carries the store, full of its traffic, with wan1 back but
// inside its hold-down; then wan2's ISP drops everything upstream, and
// the store moves to wan1 within the black-hole goal.
func TestCongestedBackupLineBlackHole(t *testing.T) {
	r, from := onLoadedBackup(t)
	if err := r.l.Carrier(0, true); err != nil {
		t.Fatal(err)
	}
	_, from = r.waitEvent(t, from, 10*time.Second, "wan1 back up", isState("wan1", wan.Up))
	time.Sleep(2 * time.Second)
	if a := r.m.Snapshot().Active; a != "wan2" {
		t.Fatalf("active is %s before the black hole, want wan2 (hold-down)", a)
	}
	start := time.Now()
	if err := r.l.BlackHole(1, true); err != nil {
		t.Fatal(err)
	}
	ev, _ := r.waitEvent(t, from, 15*time.Second, "failover from the dead wan2", isKind("failover", "wan1"))
	t.Logf("black hole on the loaded wan2: failover after %v (%s)", time.Since(start).Round(time.Millisecond), ev.Reason)
}

// dropProbesOf makes the lab's cloud drop everything sent to addrs, so
// the probes aimed at them fail while other traffic on the same line
// flows; the returned func lifts it.
func dropProbesOf(t *testing.T, l *netlab.Lab, addrs ...netip.Addr) func() {
	t.Helper()
	ns, err := l.NS(netlab.Cloud)
	if err != nil {
		t.Fatal(err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: l.Prefix + "-dropprobes"})
	ch := c.AddChain(&nftables.Chain{Name: "in", Table: tb, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityFilter})
	for _, a := range addrs {
		b := a.As4()
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[:]},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	lift := func() {
		c.DelTable(tb)
		_ = c.Flush()
	}
	t.Cleanup(lift)
	return lift
}

// TestLabStaysWhenBothLinesLookBad: wan1 has just come back from a pull
// (inside its hold-down) while wan2 carries the store; then wan2's probes
// fail although its traffic still flows. Moving to a line that may flap
// would trade a working line for a doubtful one: the manager stays on wan2
// and raises the "stay" alarm, and the tills keep paying there.
func TestLabStaysWhenBothLinesLookBad(t *testing.T) {
	r := startLab(t, 30*time.Second)
	srv, err := qosbench.StartServers(r.l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if err := r.l.Carrier(0, false); err != nil {
		t.Fatal(err)
	}
	_, from := r.waitEvent(t, 0, 5*time.Second, "failover to wan2", isKind("failover", "wan2"))
	if err := r.l.Carrier(0, true); err != nil {
		t.Fatal(err)
	}
	_, from = r.waitEvent(t, from, 10*time.Second, "wan1 back up", isState("wan1", wan.Up))
	b, err := qosbench.StartBulk(r.l, 0, 1, netlab.Office) // the store's traffic on wan2
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	lift := dropProbesOf(t, r.l, netlab.TargetB, netlab.WebServer) // wan2's probe targets
	_, from = r.waitEvent(t, from, 10*time.Second, "wan2 fails its probes", isState("wan2", wan.Down))
	stay, _ := r.waitEvent(t, from, 2*time.Second, "the stay alarm", isKind("stay", "wan2"))
	t.Logf("stay: %s", stay.Reason)
	time.Sleep(3 * time.Second)
	s := r.m.Snapshot()
	if s.Active != "wan2" || s.Staying != "wan2" {
		t.Errorf("while wan2 fails its probes but carries traffic: active %s, staying %q; want wan2 for both", s.Active, s.Staying)
	}
	for _, e := range r.ev.Events()[from:] {
		if e.Kind == "failover" {
			t.Errorf("moved onto the damped wan1: %s -> %s: %s", e.From, e.To, e.Reason)
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, 3*time.Second)
	defer cancel()
	if err := pay(ctx, r.l, netlab.POS1, netlab.Payment); err != nil {
		t.Errorf("a payment while staying on wan2: %v", err)
	}
	lift()
	r.waitEvent(t, from, 10*time.Second, "wan2 answers again", isState("wan2", wan.Up))
	if s := r.m.Snapshot(); s.Staying != "" {
		t.Errorf("still staying after wan2 recovered: %q", s.Staying)
	}
}
