//go:build linux

package scenario

import (
	"context"
	"sync"
	"time"
)

// monitor watches the daemon from the technician's side: the status page
// every HealthEvery, the WAN state every PollEvery, resources every second.
type monitor struct {
	gw *daemon
	p  Params

	mu       sync.Mutex
	polled   []WANObs
	switches []Switch
	checks   []Check
	boot     string
}

func (m *monitor) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { every(ctx, m.p.HealthEvery, m.check) })
	wg.Go(func() { every(ctx, m.p.PollEvery, m.poll) })
	wg.Go(func() { every(ctx, time.Second, func(context.Context) { m.sample() }) })
	wg.Wait()
}

func every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *monitor) sample() { m.gw.sample() }

func (m *monitor) check(ctx context.Context) {
	c := Check{At: time.Now()}
	if err := m.gw.healthz(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		c.Err = err.Error()
	}
	m.mu.Lock()
	m.checks = append(m.checks, c)
	m.mu.Unlock()
}

// poll records every WAN state and active-WAN change the API shows, once.
func (m *monitor) poll(ctx context.Context) {
	s, err := m.gw.snapshot(ctx)
	if err != nil || s.Parts.WAN == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range s.Parts.WAN.WANs {
		o := WANObs{WAN: w.Name, State: w.State, Since: w.Since}
		if !containsObs(m.polled, o) {
			m.polled = append(m.polled, o)
		}
	}
	// A new boot starts on its own choice of WAN: not a switch.
	sw := Switch{To: s.Parts.WAN.Active, Since: s.Parts.WAN.ActiveSince, Initial: s.BootID != m.boot}
	m.boot = s.BootID
	if n := len(m.switches); sw.To != "" && (n == 0 || m.switches[n-1].To != sw.To) {
		m.switches = append(m.switches, sw)
	}
}

func containsObs(os []WANObs, o WANObs) bool {
	for i := len(os) - 1; i >= 0; i-- {
		if os[i].WAN == o.WAN && os[i].State == o.State && os[i].Since.Equal(o.Since) {
			return true
		}
	}
	return false
}

func (m *monitor) results() ([]WANObs, []Switch, []Check) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]WANObs(nil), m.polled...), append([]Switch(nil), m.switches...), append([]Check(nil), m.checks...)
}
