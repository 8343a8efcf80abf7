//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/qos/qosbench"
	"github.com/branchgw/branchgw/netctl/wan"
	"github.com/branchgw/branchgw/netctl/wan/wanlab"
)

// cmdBench measures failover on a fresh lab with the WAN manager running
// for the gateway namespace, and prints the figures side by side with the
// detection times of mwan3 and pfSense computed from their defaults.
func cmdBench(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	var n int
	var failback, lossFor time.Duration
	var only string
	if len(args) > 0 && args[0] == "qos" {
		return cmdBenchQoS(ctx, args[1:], stdout)
	}
	// Accept the flags after the word, too: `gwlab bench failover -n 5`.
	if len(args) > 0 && args[0] == "failover" {
		args = append(args[1:], "failover")
	}
	fs, _, err := flags("bench", args, func(fs *flag.FlagSet) {
		fs.IntVar(&n, "n", 20, "repetitions of each outage")
		fs.DurationVar(&failback, "failback", 3*time.Second, "failback hold-down during the runs (the default config has 30s)")
		fs.DurationVar(&lossFor, "loss-for", 60*time.Second, "how long each random-loss run lasts")
		fs.StringVar(&only, "only", "carrier,blackhole,loaded,loss", "scenarios to run, comma-separated (loaded: a black hole on a line the office and the guest fill)")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "failover" {
		return usagef("bench: want `gwlab bench failover` or `gwlab bench qos`")
	}
	if n < 1 {
		return usagef("-n %d: want at least 1", n)
	}
	l, err := netlab.New(ctx, netlab.Options{Log: log})
	if err != nil {
		return err
	}
	defer l.Close()
	s, err := l.StartServices(ctx, netlab.ServiceOptions{})
	if err != nil {
		return err
	}
	defer s.Close()
	mlog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mctx, stop := context.WithCancel(ctx)
	// The WANs at their rates with QoS shaping the active one, as in a
	// store: a full line is told from a dead one by its counters.
	wans := wanlab.RatedWANs()
	m, evs, done, err := wanlab.LabManager(mctx, l, wans, wanlab.LabFailover(failback), mlog)
	if err != nil {
		stop()
		return err
	}
	defer func() { stop(); <-done }()
	_, stopQoS, err := wanlab.StartQoS(mctx, l, m, wans, mlog)
	if err != nil {
		return err
	}
	defer stopQoS()
	srv, err := qosbench.StartServers(l)
	if err != nil {
		return err
	}
	defer srv.Close()
	b := &bench{l: l, m: m, ev: evs, hold: failback, out: stdout}
	fmt.Fprintf(stdout, "gwlab bench failover: lab %s, %d repetitions, probes every %v, hold-down %v\n",
		l.Prefix, n, wanlab.LabFailover(0).ProbeInterval.D(), failback)
	idle, err := idleCPU(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  idle cost: %.2f%% of one core (manager probing 5 targets, plus the cloud servers answering)\n", idle)

	want := map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s != "carrier" && s != "blackhole" && s != "loaded" && s != "loss" {
			return usagef("-only %q: want carrier, blackhole, loaded and/or loss", s)
		}
		want[s] = true
	}
	var load []*qosbench.Bulk
	saturate := func() error {
		for _, from := range []struct {
			node     netlab.Node
			up, down int
		}{{netlab.Office, 2, 2}, {netlab.Guest, 1, 2}} {
			bl, err := qosbench.StartBulk(l, from.up, from.down, from.node)
			if err != nil {
				return err
			}
			load = append(load, bl)
		}
		time.Sleep(2 * time.Second) // the transfers reach the line's rate
		return nil
	}
	unload := func() {
		for _, bl := range load {
			bl.Stop()
		}
		load = nil
	}
	defer unload()
	outages := []struct {
		key, name string
		// prepare runs before the POS stream starts (nil: nothing).
		prepare, start, stop func() error
		gaps, first          []time.Duration
		back                 []time.Duration
		detect               []time.Duration
	}{
		{key: "carrier", name: "carrier loss", start: func() error { return l.Carrier(0, false) }, stop: func() error { return l.Carrier(0, true) }},
		{key: "blackhole", name: "black hole", start: func() error { return l.BlackHole(0, true) }, stop: func() error { return l.BlackHole(0, false) }},
		{key: "loaded", name: "loaded hole", prepare: saturate, start: func() error { return l.BlackHole(0, true) },
			stop: func() error { unload(); return l.BlackHole(0, false) }},
	}
	for k := range outages {
		o := &outages[k]
		if !want[o.key] {
			continue
		}
		for i := range n {
			r, err := b.once(ctx, o.prepare, o.start, o.stop)
			if err != nil {
				return fmt.Errorf("%s #%d: %w", o.name, i+1, err)
			}
			o.gaps, o.first, o.back = append(o.gaps, r.gap), append(o.first, r.firstTxn), append(o.back, r.failback)
			fmt.Fprintf(stdout, "  %-12s #%-2d failover after %7s  gap %7s  first POS txn %7s  failback %7s\n", o.name, i+1,
				ms(r.detect), ms(r.gap), ms(r.firstTxn), ms(r.failback))
			o.detect = append(o.detect, r.detect)
		}
	}
	falses := []int{-1, -1}
	for j, pct := range []int{5, 10} {
		if !want["loss"] {
			break
		}
		f, err := b.lossRun(ctx, pct, lossFor)
		if err != nil {
			return err
		}
		falses[j] = f
		fmt.Fprintf(stdout, "  loss %2d%% for %v: %d false failovers\n", pct, lossFor, f)
	}

	fmt.Fprintf(stdout, "\n%-44s %9s %9s %9s %9s   goal\n", "figure (N="+fmt.Sprint(n)+")", "p50", "p95", "p99", "max")
	row := func(name string, d []time.Duration, goal string) {
		if len(d) == 0 {
			return
		}
		fmt.Fprintf(stdout, "%-44s %9s %9s %9s %9s   %s\n", name, ms(pct(d, 50)), ms(pct(d, 95)), ms(pct(d, 99)), ms(slices.Max(d)), goal)
	}
	row("failover decided, carrier loss", outages[0].detect, "")
	row("failover decided, black hole", outages[1].detect, "")
	row("failover decided, black hole on a full line", outages[2].detect, "p95 <= 3s")
	row("POS UDP gap (10 ms stream), carrier loss", outages[0].gaps, "p95 <= 300ms")
	row("POS UDP gap (10 ms stream), black hole", outages[1].gaps, "p95 <= 3s, p99 <= 5s")
	row("POS UDP gap, black hole on a full line", outages[2].gaps, "p95 <= 3s, p99 <= 5s")
	row("first POS txn on a new connection, carrier", outages[0].first, "<= 6s")
	row("first POS txn on a new connection, black hole", outages[1].first, "<= 6s")
	row(fmt.Sprintf("time to failback (hold-down %v)", failback), slices.Concat(outages[0].back, outages[1].back, outages[2].back), "hold-down + probe proof")
	if want["loss"] {
		fmt.Fprintf(stdout, "%-44s %d at 5%%, %d at 10%% (%v each)   goal 0\n", "false failovers under random loss", falses[0], falses[1], lossFor)
	}
	fmt.Fprintf(stdout, "%-44s %9s   (5 failed checks x 10 s interval + 4 s timeout, one target)\n", "mwan3 defaults, dead upstream", "~54s")
	fmt.Fprintf(stdout, "%-44s %9s   (20%% loss of a 60 s period = 12 s, + 2 s loss interval, + 1 s alert)\n", "pfSense/dpinger defaults, dead upstream", "~15s")
	return nil
}

type bench struct {
	l    *netlab.Lab
	m    *wan.Manager
	ev   *wanlab.EventLog
	hold time.Duration
	out  io.Writer
}

type benchResult struct{ detect, gap, firstTxn, failback time.Duration }

// once runs one outage: the POS stream's longest silence, the first
// transaction that succeeds on a new connection, and the time from the
// end of the outage to failback.
func (b *bench) once(ctx context.Context, prepare, start, stop func() error) (benchResult, error) {
	var r benchResult
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := wanlab.WaitActive(wctx, b.m, "wan1", "wan1", "wan2"); err != nil {
		return r, err
	}
	// A failback is only final after another hold-down: an outage sooner
	// would (rightly) count as a flap and double the hold-down.
	time.Sleep(b.hold + 500*time.Millisecond)
	if prepare != nil {
		if err := prepare(); err != nil {
			return r, err
		}
	}
	s, err := b.l.StartStream(ctx, netlab.POS1, fmt.Sprintf("%s:%d", netlab.Server, netlab.EchoPort), 10*time.Millisecond)
	if err != nil {
		return r, err
	}
	defer s.Stop()
	time.Sleep(300 * time.Millisecond)
	from := len(b.ev.Events())
	t0 := time.Now()
	if err := start(); err != nil {
		return r, err
	}
	// Started after the outage is in place, so no attempt can slip through
	// before it.
	firstTxn := make(chan time.Duration, 1)
	go func() { firstTxn <- b.firstTransaction(wctx, t0) }()
	fo, i, err := b.ev.Wait(wctx, from, func(e wan.Event) bool { return e.Kind == "failover" })
	if err != nil {
		return r, err
	}
	r.detect = fo.Time.Sub(t0)
	for !s.LastEcho().After(fo.Time) {
		if wctx.Err() != nil {
			return r, errors.New("the POS stream did not resume after failover")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.gap = s.Stats(t0).MaxGap
	r.firstTxn = <-firstTxn
	t1 := time.Now()
	if err := stop(); err != nil {
		return r, err
	}
	back, _, err := b.ev.Wait(wctx, i, func(e wan.Event) bool { return e.Kind == "failback" })
	if err != nil {
		return r, err
	}
	r.failback = back.Time.Sub(t1)
	return r, nil
}

// firstTransaction tries a new POS connection and one transaction every
// attempt (each bounded at 500 ms) until one succeeds.
func (b *bench) firstTransaction(ctx context.Context, t0 time.Time) time.Duration {
	addr := fmt.Sprintf("%s:%d", netlab.Server, netlab.POSPort)
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		c, err := b.l.Dial(actx, netlab.POS1, "tcp4", addr)
		cancel()
		if err != nil {
			continue
		}
		_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 4)
		_, err = c.Write([]byte("txn\n"))
		if err == nil {
			_, err = io.ReadFull(c, buf)
		}
		c.Close()
		if err == nil {
			return time.Since(t0)
		}
	}
	return 0
}

// lossRun puts pct% random loss on wan1 for d and counts failovers.
func (b *bench) lossRun(ctx context.Context, pct int, d time.Duration) (int, error) {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := wanlab.WaitActive(wctx, b.m, "wan1", "wan1", "wan2"); err != nil {
		return 0, err
	}
	from := len(b.ev.Events())
	if err := b.l.Loss(0, pct); err != nil {
		return 0, err
	}
	sleep(ctx, d)
	if err := b.l.Loss(0, 0); err != nil {
		return 0, err
	}
	n := 0
	for _, e := range b.ev.Events()[from:] {
		if e.Kind == "failover" {
			n++
		}
	}
	return n, ctx.Err()
}

// idleCPU is this process's CPU use over d, in percent of one core.
func idleCPU(ctx context.Context, d time.Duration) (float64, error) {
	var before, after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		return 0, err
	}
	start := time.Now()
	sleep(ctx, d)
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		return 0, err
	}
	cpu := time.Duration(after.Utime.Nano() - before.Utime.Nano() + after.Stime.Nano() - before.Stime.Nano())
	return 100 * cpu.Seconds() / time.Since(start).Seconds(), ctx.Err()
}

// pct is the p-th percentile (nearest rank).
func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
