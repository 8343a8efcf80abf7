package gateway

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/inspect"
	"github.com/branchgw/branchgw/netctl/qos"
	"github.com/branchgw/branchgw/netctl/wan"
	"github.com/branchgw/branchgw/netctl/zones"
)

// zonesPart is the zone firewall as a supervised component.
type zonesPart struct{ *zones.Firewall }

func (zonesPart) Name() string { return "zones" }

// Reload hands the firewall its part of the new config; the firewall swaps
// its ruleset in one transaction or keeps the old one.
func (z zonesPart) Reload(cfg *config.Config) error {
	zc, err := zones.ConfigFrom(cfg)
	if err != nil {
		return err
	}
	return z.Firewall.Reload(zc)
}

// paymentSetTTL bounds how long the firewall keeps a payment IP if the
// daemon stops refreshing the set; inspection removes expired answers itself.
const paymentSetTTL = 24 * time.Hour

// paymentFanout hands inspection's payment IP set to the firewall (and QoS)
// off the capture goroutine: the latest set wins, none blocks capture.
type paymentFanout struct {
	latest chan []netip.Addr
	sinks  []func(map[netip.Addr]time.Duration) error
	onErr  func(error)
}

func newPaymentFanout(onErr func(error)) *paymentFanout {
	return &paymentFanout{latest: make(chan []netip.Addr, 1), onErr: onErr}
}

// PaymentIPs implements inspect.PaymentSink.
func (p *paymentFanout) PaymentIPs(ips []netip.Addr) {
	for {
		select {
		case p.latest <- ips:
			return
		default: // replace a set nobody has taken yet
			select {
			case <-p.latest:
			default:
			}
		}
	}
}

// Name implements Component.
func (p *paymentFanout) Name() string { return "payment-set" }

// Run delivers sets until ctx is done.
func (p *paymentFanout) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ips := <-p.latest:
			m := make(map[netip.Addr]time.Duration, len(ips))
			for _, ip := range ips {
				m[ip] = paymentSetTTL
			}
			for _, sink := range p.sinks {
				if err := sink(m); err != nil {
					p.onErr(err)
				}
			}
		}
	}
}

// qosPart is traffic shaping as a supervised component.
type qosPart struct{ *qos.QoS }

func (qosPart) Name() string { return "qos" }

// Reload hands QoS its part of the new config.
func (q qosPart) Reload(cfg *config.Config) error {
	qc, err := qosConfig(cfg)
	if err != nil {
		return err
	}
	return q.QoS.Reload(qc)
}

// qosConfig is QoS's part of the config, with the flows of the WAN
// probes, which QoS keeps in the top class.
func qosConfig(cfg *config.Config) (qos.Config, error) {
	qc, err := qos.FromConfig(cfg)
	for _, f := range wan.ProbeFlows(cfg.WAN) {
		qc.Probes = append(qc.Probes, qos.Probe(f))
	}
	return qc, err
}

// networkParts builds the firewall, QoS and packet inspection, wired
// together through the payment IP set; QoS follows the active WAN.
func networkParts(cfg *config.Config, g *Gateway) ([]Part, error) {
	zc, err := zones.ConfigFrom(cfg)
	if err != nil {
		return nil, err
	}
	fw, err := zones.New(zc, g.log.With("component", "zones"), zones.Options{
		Emit: func(e zones.Event) { g.Emit("event", e) },
	})
	if err != nil {
		return nil, err
	}
	fan := newPaymentFanout(func(err error) { g.log.Warn("payment set not applied", "err", err) })
	fan.sinks = append(fan.sinks, fw.SetPaymentIPs)
	parts := []Part{
		{Component: zonesPart{fw}, Snapshot: func() any { return fw.Snapshot() }},
		{Component: fan},
	}
	if cfg.QoS.Enabled {
		qc, err := qosConfig(cfg)
		if err != nil {
			return nil, err
		}
		q, err := qos.New(qc, g.log.With("component", "qos"), qos.Options{})
		if err != nil {
			return nil, err
		}
		g.qos = q
		fan.sinks = append(fan.sinks, func(ips map[netip.Addr]time.Duration) error {
			var errs []error
			for ip, ttl := range ips {
				errs = append(errs, q.AddPaymentIP(ip, ttl))
			}
			return errors.Join(errs...)
		})
		parts = append(parts, Part{Component: qosPart{q}, Snapshot: func() any { return q.Snapshot() }})
	}
	if cfg.Inspect.Enabled {
		in, err := newRebuilt("inspect", cfg,
			func(c *config.Config) any { return inspect.ConfigFrom(c) },
			func(c *config.Config) (*inspect.Inspector, error) {
				return inspect.New(inspect.ConfigFrom(c), g.log.With("component", "inspect"), inspect.Deps{
					OnAlarm: func(a inspect.Alarm) { g.Emit("event", a) },
					Payment: fan,
					// Per-minute top apps/devices and inventory changes: the
					// low-priority "flows" stream, first to go under pressure.
					OnSummary: func(s inspect.Summary) { g.Emit("flows", s) },
				})
			}, g.supervisorRestart)
		if err != nil {
			return nil, err
		}
		// A reload's inspector keeps the DNS answers seen so far, so the
		// payment set survives it (and a new payment domain's known
		// addresses join at once).
		in.carry = func(old, next *inspect.Inspector) { next.Learn(old.Answers()) }
		parts = append(parts, Part{Component: in, Snapshot: func() any { return in.current().Snapshot() }})
	}
	return parts, nil
}
