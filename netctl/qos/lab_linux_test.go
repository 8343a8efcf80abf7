//go:build linux

package qos_test

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/qos"
	"github.com/branchgw/branchgw/netctl/qos/qosbench"
)

// labShape and labConfig are the benchmark's lab and QoS config.
var labShape = qosbench.LabShape

func labConfig() qos.Config { return qosbench.LabConfig() }

// runQoS starts a QoS in the lab's gateway and stops it in t.Cleanup
// (after which nothing of it may be left: checked by the tests that care).
func runQoS(t testing.TB, l *netlab.Lab, cfg qos.Config) (*qos.QoS, func() error) {
	t.Helper()
	return runQoSEvery(t, l, cfg, 100*time.Millisecond)
}

// runQoSEvery is runQoS with the QoS's pass interval.
func runQoSEvery(t testing.TB, l *netlab.Lab, cfg qos.Config, interval time.Duration) (*qos.QoS, func() error) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testLog{t}, nil))
	q, stop, err := qosbench.StartLabQoS(context.Background(), l, cfg, log, interval)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("qos run: %v", err)
		}
	})
	return q, stop
}

type testLog struct{ t testing.TB }

func (w testLog) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kernelView is what the gateway's kernel holds of QoS.
type kernelView struct {
	rootHTB map[string]bool // device -> HTB 1: at root
	ingress map[string]bool // device -> ingress qdisc
	classes map[string]int  // device -> HTB classes
	ifb     bool
	table   bool
	chains  int
}

func readKernel(t *testing.T, l *netlab.Lab) kernelView {
	t.Helper()
	h, err := l.Handle(netlab.GW)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	v := kernelView{rootHTB: map[string]bool{}, ingress: map[string]bool{}, classes: map[string]int{}}
	for _, dev := range []string{netlab.WAN1If, netlab.WAN2If, qos.DefaultIFB} {
		link, err := h.LinkByName(dev)
		if err != nil {
			continue
		}
		if dev == qos.DefaultIFB {
			v.ifb = true
		}
		qs, err := h.QdiscList(link)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			switch q.(type) {
			case *netlink.Htb:
				v.rootHTB[dev] = v.rootHTB[dev] || q.Attrs().Parent == netlink.HANDLE_ROOT
			case *netlink.Ingress:
				v.ingress[dev] = true
			}
		}
		cs, err := h.ClassList(link, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if _, ok := c.(*netlink.HtbClass); ok {
				v.classes[dev]++
			}
		}
	}
	ns, err := l.NS(netlab.GW)
	if err != nil {
		t.Fatal(err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := c.ListTableOfFamily(qos.DefaultTable, nftables.TableFamilyINet)
	if err == nil && tab != nil {
		v.table = true
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range chains {
			if ch.Table.Name == qos.DefaultTable {
				v.chains++
			}
		}
	}
	return v
}

// udpBurst sends n echo requests from node to dst and waits for the answers.
func udpBurst(t *testing.T, l *netlab.Lab, from netlab.Node, dst netip.Addr, n int) int {
	t.Helper()
	c, err := l.Dial(context.Background(), from, "udp4", netip.AddrPortFrom(dst, netlab.EchoPort).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := 0
	buf := make([]byte, 64)
	for range n {
		if _, err := c.Write(buf[:32]); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(buf); err == nil {
			got++
		}
	}
	return got
}

// TestLabQoS: with QoS on, the tc and nftables objects exist as configured,
// POS packets land in the pos class both ways, the guest is capped at its
// ceiling, shaping follows failover, and stop removes everything.
func TestLabQoS(t *testing.T) {
	l := netlab.ForTest(t, netlab.Options{ISP: labShape})
	netlab.ServicesForTest(t, l, netlab.ServiceOptions{})
	srv, err := qosbench.StartServers(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg := labConfig()
	q, stop := runQoS(t, l, cfg)

	v := readKernel(t, l)
	if !v.rootHTB[netlab.WAN1If] || !v.ingress[netlab.WAN1If] || !v.ifb || !v.rootHTB[qos.DefaultIFB] {
		t.Fatalf("shaping objects missing: %+v", v)
	}
	if v.classes[netlab.WAN1If] != 6 || v.classes[qos.DefaultIFB] != 6 {
		t.Errorf("classes: want 6 (parent and five) on each side, got %v", v.classes)
	}
	if !v.table || v.chains != 1 {
		t.Errorf("nftables: table %v chains %d, want the table with its classify chain", v.table, v.chains)
	}
	s := q.Snapshot()
	if s.UpBits != 4.5e6 || s.DownBits != 16e6 || s.Leaf == "" {
		t.Errorf("snapshot: up %d down %d leaf %q, want 4.5 Mbit/s and 16 Mbit/s", s.UpBits, s.DownBits, s.Leaf)
	}
	t.Logf("leaf qdisc: %s", s.Leaf)

	// POS: by device on upload, by the payment set on download.
	if err := q.AddPaymentIP(netlab.Payment, time.Hour); err != nil {
		t.Fatal(err)
	}
	const n = 50
	if got := udpBurst(t, l, netlab.POS1, netlab.Payment, n); got != n {
		dumpGW(t, l)
		t.Fatalf("pos echo: %d of %d answered", got, n)
	}
	// The office's echo to another server is default, not pos.
	if got := udpBurst(t, l, netlab.Office, netlab.Server, n); got != n {
		t.Fatalf("office echo: %d of %d answered", got, n)
	}
	waitFor(t, "pos counters", func() bool {
		up, down := q.Snapshot().Class(qos.ClassPOS)
		return up.Packets >= n && down.Packets >= n
	})
	up, down := q.Snapshot().Class(qos.ClassPOS)
	defUp, defDown := q.Snapshot().Class(qos.ClassDefault)
	t.Logf("pos class: up %d pkts, down %d pkts; default: up %d, down %d", up.Packets, down.Packets, defUp.Packets, defDown.Packets)
	if up.Packets > n+10 || down.Packets > n+10 || defUp.Packets < n || defDown.Packets < n {
		t.Errorf("office traffic leaked into pos, or missed default: pos %d/%d default %d/%d", up.Packets, down.Packets, defUp.Packets, defDown.Packets)
	}

	// Guest: uploads capped at its ceiling (50% of the shaped rate).
	g0, _ := q.Snapshot().Class(qos.ClassGuest)
	t0 := time.Now()
	b, err := qosbench.StartBulk(l, 2, 0, netlab.Guest)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	g1, _ := q.Snapshot().Class(qos.ClassGuest)
	elapsed := time.Since(t0)
	b.Stop()
	rate := float64(g1.Bytes-g0.Bytes) * 8 / elapsed.Seconds()
	share := rate / float64(s.UpBits)
	t.Logf("guest upload: %.2f Mbit/s = %.0f%% of the shaped rate (ceiling %d%%), drops %d", rate/1e6, share*100, 50, g1.Drops)
	if g1.Packets == g0.Packets || share > 0.6 {
		t.Errorf("guest upload share %.2f: want traffic in the guest class, capped near 0.5", share)
	}

	// Failover: shaping moves to wan2 at wan2's rate.
	if err := q.SetActiveWAN("wan2"); err != nil {
		t.Fatal(err)
	}
	v = readKernel(t, l)
	if v.rootHTB[netlab.WAN1If] || v.ingress[netlab.WAN1If] || !v.rootHTB[netlab.WAN2If] || !v.ingress[netlab.WAN2If] {
		t.Errorf("after failover: %+v, want shaping on wan2 only", v)
	}
	if s := q.Snapshot(); s.UpBits != 1.8e6 || s.DownBits != 8e6 || s.Interface != netlab.WAN2If {
		t.Errorf("after failover: %s up %d down %d", s.Interface, s.UpBits, s.DownBits)
	}
	if err := q.SetActiveWAN("wan9"); err == nil {
		t.Error("unknown wan accepted")
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	v = readKernel(t, l)
	if len(v.rootHTB) > 0 || len(v.ingress) > 0 || v.ifb || v.table {
		t.Errorf("left behind after stop: %+v", v)
	}
	if s := q.Snapshot(); s.Active {
		t.Error("snapshot says active after stop")
	}
}

// TestLabCleanup: Cleanup, what `gatewayd cleanup` runs after a crash,
// removes a running QoS's objects from the kernel, and a stop after it
// finds nothing left to remove and reports no error.
func TestLabCleanup(t *testing.T) {
	l := netlab.ForTest(t, netlab.Options{ISP: labShape})
	cfg := labConfig()
	// No passes during the test: one would repair what Cleanup removed.
	q, stop := runQoSEvery(t, l, cfg, time.Hour)
	if err := q.AddPaymentIP(netlab.Payment, time.Hour); err != nil {
		t.Fatal(err)
	}
	if v := readKernel(t, l); !v.table || !v.ifb || !v.rootHTB[netlab.WAN1If] {
		t.Fatalf("not installed: %+v", v)
	}
	ns, err := l.NS(netlab.GW)
	if err != nil {
		t.Fatal(err)
	}
	if err := qos.Cleanup(cfg, qos.Options{NetNS: int(ns)}, nil); err != nil {
		t.Fatal(err)
	}
	if v := readKernel(t, l); v.table || v.ifb || len(v.rootHTB) > 0 || len(v.ingress) > 0 {
		t.Errorf("left after cleanup: %+v", v)
	}
	// A second cleanup, with nothing there, is fine too.
	if err := qos.Cleanup(cfg, qos.Options{NetNS: int(ns)}, nil); err != nil {
		t.Errorf("second cleanup: %v", err)
	}
	if err := stop(); err != nil {
		t.Errorf("stop after cleanup: %v", err)
	}
}
