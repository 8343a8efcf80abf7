//go:build linux

// Package wanlab runs the WAN manager on a netlab store, for the lab
// tests of netctl/wan and for `gwlab bench failover`.
package wanlab

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/wan"
)

// LabWANs is the WAN config of the netlab store: three probe types on
// wan1 and two on wan2, all aimed at the lab's cloud.
func LabWANs() []config.WAN {
	return []config.WAN{
		{Name: "wan1", Interface: netlab.WAN1If, Priority: 1, Probes: []config.Probe{
			{Type: "icmp", Target: netlab.TargetA.String()},
			{Type: "tcp", Target: fmt.Sprintf("%s:%d", netlab.Server, netlab.TLSPort)},
			{Type: "dns", Target: netlab.DNSServer.String(), Query: "probe.lab.example"},
		}},
		{Name: "wan2", Interface: netlab.WAN2If, Priority: 2, Probes: []config.Probe{
			{Type: "icmp", Target: netlab.TargetB.String()},
			{Type: "http", Target: fmt.Sprintf("http://%s/health", netlab.WebServer)},
		}},
	}
}

// LabFailover is the default failover config with another hold-down.
func LabFailover(failback time.Duration) config.Failover {
	fo := config.Defaults().Failover
	if failback > 0 {
		fo.FailbackAfter = config.Duration(failback)
	}
	return fo
}

// EventLog collects a manager's events for tests and benchmarks.
type EventLog struct {
	mu     sync.Mutex
	events []wan.Event
	notify chan struct{}
}

// NewEventLog returns an empty log.
func NewEventLog() *EventLog { return &EventLog{notify: make(chan struct{}, 1)} }

// Add is an Options.OnEvent.
func (e *EventLog) Add(ev wan.Event) {
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.mu.Unlock()
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// Events returns a copy of the events so far.
func (e *EventLog) Events() []wan.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]wan.Event(nil), e.events...)
}

// Wait returns the first event from index i on that matches, or an error
// when ctx ends first.
func (e *EventLog) Wait(ctx context.Context, from int, match func(wan.Event) bool) (wan.Event, int, error) {
	for {
		evs := e.Events()
		for i := from; i < len(evs); i++ {
			if match(evs[i]) {
				return evs[i], i, nil
			}
		}
		select {
		case <-ctx.Done():
			return wan.Event{}, 0, fmt.Errorf("no matching event: %w", ctx.Err())
		case <-e.notify:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// LabManager runs a Manager for the lab's gateway namespace until ctx
// ends; done is closed when Run has returned (and cleaned up).
func LabManager(ctx context.Context, l *netlab.Lab, wans []config.WAN, fo config.Failover, log *slog.Logger) (*wan.Manager, *EventLog, <-chan error, error) {
	ns, err := l.NS(netlab.GW)
	if err != nil {
		return nil, nil, nil, err
	}
	evs := NewEventLog()
	m, err := wan.New(wans, fo, log, wan.Options{NetNS: &ns, Layout: LabLayout(l), OnEvent: evs.Add, ReconcileEvery: time.Second})
	if err != nil {
		return nil, nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	return m, evs, done, nil
}

// LabLayout is the default layout with the nftables table named after the lab.
func LabLayout(l *netlab.Lab) wan.Layout {
	layout := wan.DefaultLayout
	layout.NftTable = l.Prefix + "-wan"
	return layout
}

// WaitActive waits until want carries new connections and every WAN in up
// is usable.
func WaitActive(ctx context.Context, m *wan.Manager, want string, up ...string) error {
	for {
		s := m.Snapshot()
		ok := s.Active == want
		for _, name := range up {
			for _, w := range s.WANs {
				if w.Name == name && !w.State.Usable() {
					ok = false
				}
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s active (%v usable): %w; now %s", want, up, ctx.Err(), s)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
