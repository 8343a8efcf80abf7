//go:build linux

package wanlab

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/qos"
	"github.com/branchgw/branchgw/netctl/qos/qosbench"
	"github.com/branchgw/branchgw/netctl/wan"
)

// RatedWANs is LabWANs with each WAN at its line's rates
// (netlab.DefaultShapes), as a store configures them.
func RatedWANs() []config.WAN {
	wans := LabWANs()
	for i, s := range netlab.DefaultShapes {
		wans[i].RateUp, wans[i].RateDown = config.Rate(s.Up.RateBits), config.Rate(s.Down.RateBits)
	}
	return wans
}

// StartQoS runs gatewayd's QoS for the lab's gateway at the lines' rates,
// with the probe flows of wans in the top class and the lab's acquirer in
// the payment set (as inspection would learn it), and moves the shaping
// to m's active WAN on every switch, within 20 ms, as gatewayd does on
// each switch event. stop ends both.
func StartQoS(ctx context.Context, l *netlab.Lab, m *wan.Manager, wans []config.WAN, log *slog.Logger) (q *qos.QoS, stop func() error, err error) {
	cfg := qosbench.LabConfig()
	for i, s := range netlab.DefaultShapes {
		cfg.WANs[i].Up, cfg.WANs[i].Down = s.Up.RateBits, s.Down.RateBits
	}
	for _, f := range wan.ProbeFlows(wans) { // as gatewayd's qosConfig does
		cfg.Probes = append(cfg.Probes, qos.Probe(f))
	}
	q, stopQoS, err := qosbench.StartLabQoS(ctx, l, cfg, log, 0) // the daemon's interval
	if err != nil {
		return nil, nil, err
	}
	if err := q.AddPaymentIP(netlab.Payment, time.Hour); err != nil {
		return nil, nil, err
	}
	fctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		shaped := ""
		for fctx.Err() == nil {
			if a := m.Snapshot().Active; a != "" && a != shaped {
				if err := q.SetActiveWAN(a); err != nil {
					log.Error("wanlab: qos does not follow the active WAN", "wan", a, "err", err)
				}
				shaped = a
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	return q, func() error { cancel(); wg.Wait(); return stopQoS() }, nil
}
