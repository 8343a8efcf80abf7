//go:build linux

package qosbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/qos"
)

// LabShape is the line the benchmark wants on wan1: 20 Mbit/s
// down, 5 up, behind a modem's 200 ms buffer; wan2 is slower.
var LabShape = [2]netlab.ISPShape{
	{Down: netlab.Shape{RateBits: 20e6}, Up: netlab.Shape{RateBits: 5e6}},
	{Down: netlab.Shape{RateBits: 10e6}, Up: netlab.Shape{RateBits: 2e6}},
}

// LabConfig is gatewayd's QoS for the lab: pos1 by MAC and IP, the guest
// zone's subnet, the lab's two WANs at their ISP rates.
func LabConfig() qos.Config {
	return qos.Config{
		Enabled:               true,
		MarginPercent:         10,
		DownloadMarginPercent: 20,
		Classes: []qos.Class{
			{Name: qos.ClassPOS, RatePercent: 20, CeilPercent: 100},
			{Name: qos.ClassInteractive, RatePercent: 20, CeilPercent: 100},
			{Name: qos.ClassDefault, RatePercent: 30, CeilPercent: 100},
			{Name: qos.ClassBulk, RatePercent: 20, CeilPercent: 90},
			{Name: qos.ClassGuest, RatePercent: 10, CeilPercent: 50},
		},
		Rules: []qos.Rule{
			{Class: qos.ClassInteractive, Proto: "udp", Ports: []qos.PortRange{{Lo: 53, Hi: 53}}, DSCP: -1},
			{Class: qos.ClassBulk, DSCP: 8},
		},
		WANs: []qos.WAN{
			{Name: "wan1", Interface: netlab.WAN1If, Up: LabShape[0].Up.RateBits, Down: LabShape[0].Down.RateBits},
			{Name: "wan2", Interface: netlab.WAN2If, Up: LabShape[1].Up.RateBits, Down: LabShape[1].Down.RateBits},
		},
		POSIPs:       []netip.Addr{netlab.HostAddr[netlab.POS1]},
		POSMACs:      []net.HardwareAddr{mustMAC(netlab.HostMAC[netlab.POS1])},
		GuestSubnets: []netip.Prefix{netip.MustParsePrefix("198.18.10.128/25")},
	}
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// LabOptions configure RunLab.
type LabOptions struct {
	// Prefix names the lab (default a new one); Log gets the lab's and the
	// QoS's log lines (default: discarded).
	Prefix string
	Log    *slog.Logger
	// RTT is added to both lines, half each way, with netem (needs
	// sch_netem: `gwlab vm` has it, this lab's kernel may not).
	RTT time.Duration
	// Warmup and Phase are as in Options.
	Warmup, Phase time.Duration
	// Reconfigure adds the phase that reloads the QoS every 100 ms with
	// other margins, ceilings and rates, under load.
	Reconfigure bool
}

// LabResult is a RunLab run with what it ran on.
type LabResult struct {
	Result
	Kernel string        // uname -r
	Leaf   string        // the leaf qdisc the QoS picked
	RTT    time.Duration // the netem round trip added
}

// RunLab builds a lab with LabShape (plus RTT), starts its servers and
// runs the phases with gatewayd's QoS (package qos, as the daemon runs it,
// in the gateway's namespace), then removes the lab.
func RunLab(ctx context.Context, o LabOptions) (LabResult, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	shape := LabShape
	for i := range shape {
		shape[i].Down.Delay, shape[i].Up.Delay = o.RTT/2, o.RTT/2
	}
	res := LabResult{RTT: o.RTT, Kernel: kernelRelease()}
	l, err := netlab.New(ctx, netlab.Options{Prefix: o.Prefix, ISP: shape, Log: log})
	if err != nil {
		return res, err
	}
	defer l.Close()
	svc, err := l.StartServices(ctx, netlab.ServiceOptions{})
	if err != nil {
		return res, err
	}
	defer svc.Close()
	var q *qos.QoS
	var shapedUp, shapedDown uint64
	opts := Options{
		Lab: l, Warmup: o.Warmup, Phase: o.Phase,
		LineUp: shape[0].Up.RateBits, LineDown: shape[0].Down.RateBits,
		StartQoS: func(ctx context.Context) (func() error, error) {
			var stop func() error
			var err error
			q, stop, err = StartLabQoS(ctx, l, LabConfig(), log, 100*time.Millisecond)
			if err != nil {
				return nil, err
			}
			// The loaded phase's figures, before any reconfiguration.
			s := q.Snapshot()
			res.Leaf, shapedUp, shapedDown = s.Leaf, s.UpBits, s.DownBits
			return stop, q.AddPaymentIP(netlab.Payment, time.Hour)
		},
		ModemDrops: func() uint64 { d, u := ModemDrops(l, netlab.ISP1); return d + u },
		Shaper: func() (up, down uint64) {
			if q == nil {
				return 0, 0
			}
			s := q.Snapshot()
			for _, c := range s.Upload {
				up += c.Bytes
			}
			for _, c := range s.Download {
				down += c.Bytes
			}
			return up, down
		},
	}
	if o.Reconfigure {
		// Alternate rates, margins and a class's ceiling: every reload
		// rewrites classes and leaves under live traffic.
		opts.Reconfigure = func(i int) error {
			c := LabConfig()
			c.MarginPercent = 10 + 5*(i%2)
			c.Classes[3].CeilPercent = 90 - 30*(i%2)
			c.WANs[0].Up = uint64(5e6 - 5e5*(i%3))
			return q.Reload(c)
		}
		opts.ReconfigureEvery = 100 * time.Millisecond
	}
	res.Result, err = Run(ctx, opts)
	res.ShapedUp, res.ShapedDown = shapedUp, shapedDown
	return res, err
}

// StartLabQoS runs a QoS for the lab's gateway namespace until the
// returned stop is called, once its shaping is installed.
func StartLabQoS(ctx context.Context, l *netlab.Lab, cfg qos.Config, log *slog.Logger, every time.Duration) (*qos.QoS, func() error, error) {
	ns, err := l.NS(netlab.GW)
	if err != nil {
		return nil, nil, err
	}
	q, err := qos.New(cfg, log, qos.Options{NetNS: int(ns), Interval: every})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	var stopped bool
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			runErr = <-done
		}
		return runErr
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if s := q.Snapshot(); s.Active && s.Error == "" {
			return q, stop, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, errors.Join(fmt.Errorf("qosbench: shaping not installed after 10 s: %s", q.Snapshot().Error), stop())
		}
	}
}

// ModemDrops returns the drops of an ISP's queues (netlab.ISP1 or ISP2):
// down is the modem's queue towards the store, up the one towards the
// core.
func ModemDrops(l *netlab.Lab, isp netlab.Node) (down, up uint64) {
	h, err := l.Handle(isp)
	if err != nil {
		return 0, 0
	}
	defer h.Close()
	count := func(dev string) uint64 {
		link, err := h.LinkByName(dev)
		if err != nil {
			return 0
		}
		qs, err := h.QdiscList(link)
		if err != nil {
			return 0
		}
		var n uint64
		for _, q := range qs {
			if st := q.Attrs().Statistics; st != nil && st.Queue != nil {
				n += uint64(st.Queue.Drops)
			}
		}
		return n
	}
	return count(netlab.ISPDownIf), count(netlab.ISPUpIf)
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}
