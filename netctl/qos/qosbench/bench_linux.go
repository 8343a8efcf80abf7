//go:build linux

package qosbench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
)

// Options configure Run.
type Options struct {
	Lab *netlab.Lab
	// Warmup lets the queues fill before a loaded phase is measured;
	// Phase is each phase's measured length.
	Warmup, Phase time.Duration
	// Interval is the POS request interval (default 10 ms).
	Interval time.Duration
	// Up and Down are the bulk flows per loaded node (default 2 each).
	Up, Down int
	// Loaders are the nodes that saturate the line (default office, guest).
	Loaders []netlab.Node
	// LineUp and LineDown are the line rates in bit/s, for the shares.
	LineUp, LineDown uint64
	// StartQoS installs the QoS under test and returns its stop function.
	StartQoS func(ctx context.Context) (stop func() error, err error)
	// Reconfigure, when set, is called every ReconfigureEvery during an
	// extra loaded phase with QoS, to show reloads do not drop POS traffic.
	Reconfigure      func(i int) error
	ReconfigureEvery time.Duration
	// Shaper, when set, returns the bytes the QoS has sent up and down
	// so far, all classes, as the shaper counts them (whole frames): how
	// much of the shaped rate is used, next to the bulk goodput.
	Shaper func() (up, down uint64)
	// ModemDrops, when set, returns the packets the ISP's queues (the
	// modem's buffer) have dropped so far: a POS loss with QoS is either
	// there, the line overrun, or the gateway's doing.
	ModemDrops func() uint64
}

// Phase is one measured phase.
type Phase struct {
	Name string
	Latency
	// UpBits and DownBits are the bulk throughput in bit/s.
	UpBits, DownBits float64
	// ShaperUpBits and ShaperDownBits are what passed the QoS's shaper
	// in bit/s, all classes and headers (0 without QoS).
	ShaperUpBits, ShaperDownBits float64
	// ModemDrops counts the packets the modem's buffer dropped.
	ModemDrops uint64
	// Reconfigs counts reconfigurations made during the phase.
	Reconfigs int
}

// Result is a whole run.
type Result struct {
	Phases           []Phase
	LineUp, LineDown uint64
	// ShapedUp and ShapedDown are the QoS's rates in bit/s, as configured
	// for the loaded phase (0 when unknown).
	ShapedUp, ShapedDown uint64
}

// Phase returns the phase called name.
func (r Result) Phase(name string) Phase {
	for _, p := range r.Phases {
		if p.Name == name {
			return p
		}
	}
	return Phase{}
}

// Phase names.
const (
	Idle        = "idle"
	LoadedNoQoS = "loaded, no QoS"
	LoadedQoS   = "loaded, QoS"
	Reconfig    = "loaded, QoS, reconfiguring"
)

// Shares are a phase's throughput as fractions of the shaped rates.
type Shares struct {
	// ShaperDown and ShaperUp are what passed the shaper (all classes,
	// whole frames); GoodDown and GoodUp the bulk goodput alone.
	ShaperDown, ShaperUp, GoodDown, GoodUp float64
}

// Shares returns p's throughput against r's shaped rates (0 where a rate
// is unknown).
func (r Result) Shares(p Phase) Shares {
	of := func(bits float64, rate uint64) float64 {
		if rate == 0 {
			return 0
		}
		return bits / float64(rate)
	}
	return Shares{
		ShaperDown: of(p.ShaperDownBits, r.ShapedDown), ShaperUp: of(p.ShaperUpBits, r.ShapedUp),
		GoodDown: of(p.DownBits, r.ShapedDown), GoodUp: of(p.UpBits, r.ShapedUp),
	}
}

// Table prints the phases side by side.
func (r Result) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-32s %5s %4s %9s %9s %9s %12s %12s %13s\n", "phase", "sent", "lost", "p50", "p99", "max", "bulk up", "bulk down", "shaper up/dn")
	for _, p := range r.Phases {
		up, down, shaper := "-", "-", "-"
		if p.UpBits > 0 || p.DownBits > 0 {
			up = fmt.Sprintf("%.1fM %3.0f%%", p.UpBits/1e6, 100*p.UpBits/float64(max(r.LineUp, 1)))
			down = fmt.Sprintf("%.1fM %3.0f%%", p.DownBits/1e6, 100*p.DownBits/float64(max(r.LineDown, 1)))
		}
		if p.ShaperUpBits > 0 && r.ShapedUp > 0 && r.ShapedDown > 0 {
			sh := r.Shares(p)
			shaper = fmt.Sprintf("%3.0f%% / %3.0f%%", 100*sh.ShaperUp, 100*sh.ShaperDown)
		}
		name := p.Name
		if p.Reconfigs > 0 {
			name = fmt.Sprintf("%s (%d)", p.Name, p.Reconfigs)
		}
		fmt.Fprintf(&b, "%-32s %5d %4d %9s %9s %9s %12s %12s %13s\n", name, p.Sent, p.Lost,
			ms(p.P50), ms(p.P99), ms(p.Max), up, down, shaper)
	}
	b.WriteString("(bulk: goodput in Mbit/s and share of the line rate; shaper: all classes, whole frames, share of the shaped rate)\n")
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

// Run measures idle, loaded without QoS, loaded with QoS (and, with
// Reconfigure, loaded with QoS while reconfiguring), in that order.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Lab == nil || o.StartQoS == nil {
		return Result{}, errors.New("qosbench: Lab and StartQoS are required")
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Millisecond
	}
	if o.Up == 0 && o.Down == 0 {
		o.Up, o.Down = 2, 2
	}
	if len(o.Loaders) == 0 {
		o.Loaders = []netlab.Node{netlab.Office, netlab.Guest}
	}
	res := Result{LineUp: o.LineUp, LineDown: o.LineDown}
	srv, err := StartServers(o.Lab)
	if err != nil {
		return res, err
	}
	defer srv.Close()
	probe, err := StartProbe(o.Lab, netlab.POS1, netlab.Payment, o.Interval)
	if err != nil {
		return res, err
	}
	defer probe.Stop()
	sleep := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	// measure runs one phase; bulk may be nil (idle).
	measure := func(name string, bulk *Bulk, warmup time.Duration, during func() int) error {
		if err := sleep(warmup); err != nil {
			return err
		}
		from := probe.Mark()
		var u0, d0 int64
		if bulk != nil {
			u0, d0 = bulk.Bytes()
		}
		var su0, sd0, md0 uint64
		if o.Shaper != nil {
			su0, sd0 = o.Shaper()
		}
		if o.ModemDrops != nil {
			md0 = o.ModemDrops()
		}
		t0 := time.Now()
		n := 0
		if during != nil {
			n = during()
		} else if err := sleep(o.Phase); err != nil {
			return err
		}
		el := time.Since(t0).Seconds()
		to := probe.Mark()
		p := Phase{Name: name, Reconfigs: n}
		if bulk != nil {
			u1, d1 := bulk.Bytes()
			p.UpBits, p.DownBits = float64(u1-u0)*8/el, float64(d1-d0)*8/el
		}
		if o.ModemDrops != nil {
			p.ModemDrops = o.ModemDrops() - md0
		}
		if o.Shaper != nil {
			// Counters restart with the QoS: a phase that saw them go
			// back has no figure.
			if su1, sd1 := o.Shaper(); su1 > su0 && sd1 > sd0 {
				p.ShaperUpBits, p.ShaperDownBits = float64(su1-su0)*8/el, float64(sd1-sd0)*8/el
			}
		}
		// Answers still on their way count: give them a second.
		if err := sleep(time.Second); err != nil {
			return err
		}
		p.Latency = probe.Stats(from, to)
		res.Phases = append(res.Phases, p)
		return nil
	}
	if err := sleep(o.Interval * 10); err != nil {
		return res, err
	}
	if err := measure(Idle, nil, 0, nil); err != nil {
		return res, err
	}
	bulk, err := StartBulk(o.Lab, o.Up, o.Down, o.Loaders...)
	if err != nil {
		return res, err
	}
	err = measure(LoadedNoQoS, bulk, o.Warmup, nil)
	bulk.Stop()
	if err != nil {
		return res, err
	}
	// QoS is measured as it runs in a store, on from the start: the
	// transfers are restarted under it after the modem's buffers drained,
	// not left with the windows they grew into a 200 ms queue.
	if err := sleep(time.Second); err != nil {
		return res, err
	}
	stop, err := o.StartQoS(ctx)
	if err != nil {
		return res, fmt.Errorf("qosbench: start qos: %w", err)
	}
	bulk, err = StartBulk(o.Lab, o.Up, o.Down, o.Loaders...)
	if err != nil {
		return res, errors.Join(err, stop())
	}
	defer bulk.Stop()
	err = measure(LoadedQoS, bulk, o.Warmup, nil)
	if err == nil && o.Reconfigure != nil {
		every := max(o.ReconfigureEvery, 50*time.Millisecond)
		var rerr error
		err = measure(Reconfig, bulk, 0, func() int {
			n := 0
			for end := time.Now().Add(o.Phase); time.Now().Before(end); n++ {
				if rerr = o.Reconfigure(n); rerr != nil {
					return n
				}
				if sleep(every) != nil {
					return n
				}
			}
			return n
		})
		err = errors.Join(err, rerr)
	}
	return res, errors.Join(err, stop())
}
