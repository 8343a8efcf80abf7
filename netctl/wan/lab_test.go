//go:build linux

package wan_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/wan"
	"github.com/branchgw/branchgw/netctl/wan/wanlab"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// kernelState lists what the manager owns in the gateway namespace, as text.
func kernelState(t *testing.T, l *netlab.Lab) []string {
	t.Helper()
	h, err := l.Handle(netlab.GW)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var out []string
	rules, err := h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Priority >= 5000 && r.Priority < 5300 {
			out = append(out, r.String())
		}
	}
	for table := 5100; table <= 5102; table++ {
		routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			out = append(out, r.String())
		}
	}
	ns, _ := l.NS(netlab.GW)
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == l.Prefix+"-wan" {
			out = append(out, "nft table "+tb.Name)
		}
	}
	return out
}

// labRun is one manager on one lab.
type labRun struct {
	l   *netlab.Lab
	m   *wan.Manager
	ev  *wanlab.EventLog
	ctx context.Context
}

// startLab builds a store, runs the WAN manager in its gateway and waits
// until wan1 is active with both WANs up. Cleanup stops the manager and
// checks that it removed everything it put in the kernel.
func startLab(t *testing.T, failback time.Duration) *labRun {
	t.Helper()
	return startLabWith(t, wanlab.LabWANs(), wanlab.LabFailover(failback))
}

func startLabWith(t *testing.T, wans []config.WAN, fo config.Failover) *labRun {
	t.Helper()
	l := netlab.ForTest(t, netlab.Options{})
	netlab.ServicesForTest(t, l, netlab.ServiceOptions{})
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("lab", l.Prefix, "test", t.Name())
	ctx, cancel := context.WithCancel(context.Background())
	m, ev, done, err := wanlab.LabManager(ctx, l, wans, fo, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if left := kernelState(t, l); len(left) > 0 {
			t.Errorf("manager left in the kernel: %v", left)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 40*time.Second)
	defer wcancel()
	if err := wanlab.WaitActive(wctx, m, "wan1", "wan1", "wan2"); err != nil {
		t.Fatal(err)
	}
	return &labRun{l: l, m: m, ev: ev, ctx: ctx}
}

func (r *labRun) waitEvent(t *testing.T, from int, timeout time.Duration, what string, match func(wan.Event) bool) (wan.Event, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	ev, i, err := r.ev.Wait(ctx, from, match)
	if err != nil {
		t.Fatalf("%s: %v; events: %v; now %s", what, err, r.ev.Events(), r.m.Snapshot())
	}
	return ev, i
}

func isKind(kind, to string) func(wan.Event) bool {
	return func(e wan.Event) bool { return e.Kind == kind && (to == "" || e.To == to) }
}

func isState(name string, st wan.State) func(wan.Event) bool {
	return func(e wan.Event) bool { return e.Kind == "wan_state" && e.WAN == name && e.To == string(st) }
}

// posWorks runs one echo transaction on a new TCP connection from pos1.
func posWorks(ctx context.Context, l *netlab.Lab) error {
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return pay(dctx, l, netlab.POS1, netlab.Server)
}

// pay runs one echo transaction on a new TCP connection from a till to
// the echo server at acquirer, within ctx's deadline.
func pay(ctx context.Context, l *netlab.Lab, till netlab.Node, acquirer netip.Addr) error {
	c, err := l.Dial(ctx, till, "tcp4", netip.AddrPortFrom(acquirer, netlab.POSPort).String())
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("txn\n")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	_, err = c.Read(buf)
	return err
}

// streamResumes starts a POS UDP stream, runs outage, and returns the
// stream's longest silence after the outage began and when the first
// transaction on a new TCP connection succeeded; it fails the test if the
// stream does not flow again within limit.
func streamResumes(t *testing.T, r *labRun, limit time.Duration, outage func() error) (gap, first time.Duration) {
	t.Helper()
	s, err := r.l.StartStream(r.ctx, netlab.POS1, fmt.Sprintf("%s:%d", netlab.Server, netlab.EchoPort), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := outage(); err != nil {
		t.Fatal(err)
	}
	txn := firstTransaction(r.ctx, r.l, start)
	deadline := time.Now().Add(limit)
	for !s.LastEcho().After(start.Add(100*time.Millisecond)) || s.Stats(start).MaxGap == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the POS stream did not resume within %v; %s", limit, r.m.Snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	return s.Stats(start).MaxGap, <-txn
}

// echoLine sends one line over c and reads it back.
func echoLine(c net.Conn, msg string) error {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", msg); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != msg+"\n" {
		return fmt.Errorf("echo %q, want %q", line, msg)
	}
	return nil
}

// ctMarks returns the WAN mark bits of the gateway's conntrack entries of
// the given connections (matched by the LAN side's source port).
func ctMarks(t *testing.T, r *labRun, conns ...net.Conn) []uint32 {
	t.Helper()
	h, err := r.l.Handle(netlab.GW)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	flows, err := h.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]uint32, len(conns))
	for i, c := range conns {
		port := uint16(c.LocalAddr().(*net.TCPAddr).Port)
		for _, f := range flows {
			if f.Forward.Protocol == unix.IPPROTO_TCP && f.Forward.SrcPort == port {
				out[i] = f.Mark & wan.DefaultLayout.MarkMask
			}
		}
	}
	return out
}

// firstTransaction starts a till that, from t0 on, opens a new connection
// and runs one transaction every attempt (each bounded at 300 ms) until
// one succeeds; the channel gets the time from t0.
func firstTransaction(ctx context.Context, l *netlab.Lab, t0 time.Time) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	go func() {
		for ctx.Err() == nil {
			actx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			err := posWorks(actx, l)
			cancel()
			if err == nil {
				out <- time.Since(t0)
				return
			}
		}
		out <- -1
	}()
	return out
}
