package wan

import (
	"testing"
	"time"
)

func TestMeterLoad(t *testing.T) {
	const up, down = 5e6, 20e6 // bit/s
	// feed adds readings every 50 ms for d at the given rates (bit/s).
	type phase struct {
		d            time.Duration
		rxBit, txBit float64
	}
	t0 := time.Unix(1000, 0)
	cases := []struct {
		name           string
		phases         []phase
		busy, alive    bool
		congested      bool
		rxMbit, txMbit float64
	}{
		{name: "no history", phases: nil},
		{name: "too short to judge", phases: []phase{{300 * time.Millisecond, 20e6, 5e6}}},
		{name: "idle line", phases: []phase{{2 * time.Second, 0, 0}}},
		{name: "light traffic", phases: []phase{{2 * time.Second, 2e6, 1e6}}, alive: true, rxMbit: 2, txMbit: 1},
		{name: "upload fills the line", phases: []phase{{2 * time.Second, 1e6, 4.5e6}},
			busy: true, alive: true, congested: true, rxMbit: 1, txMbit: 4.5},
		{name: "download fills the line", phases: []phase{{2 * time.Second, 18e6, 0.5e6}},
			busy: true, alive: true, congested: true, rxMbit: 18, txMbit: 0.5},
		// A black hole upstream: the LAN still sends at the line's rate,
		// nothing comes back. Busy, but not congested.
		{name: "black hole under upload", phases: []phase{{2 * time.Second, 18e6, 4.5e6}, {400 * time.Millisecond, 0, 4.5e6}},
			busy: true, rxMbit: 10.8, txMbit: 4.5},
		{name: "silent for less than aliveOver", phases: []phase{{2 * time.Second, 18e6, 4.5e6}, {100 * time.Millisecond, 0, 4.5e6}},
			busy: true, alive: true, congested: true, rxMbit: 16.2, txMbit: 4.5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var m meter
			at := t0
			var rx, tx float64
			m.add(counters{at: at})
			for _, p := range c.phases {
				for end := at.Add(p.d); at.Before(end); {
					at = at.Add(50 * time.Millisecond)
					rx += p.rxBit / 8 / 20
					tx += p.txBit / 8 / 20
					m.add(counters{at: at, rx: uint64(rx), tx: uint64(tx)})
				}
			}
			if c.phases == nil {
				m.reset()
			}
			l := m.load(up, down)
			if l.Busy != c.busy || l.Alive != c.alive || l.Congested() != c.congested {
				t.Errorf("busy %v alive %v congested %v, want %v %v %v (%+v)", l.Busy, l.Alive, l.Congested(), c.busy, c.alive, c.congested, l)
			}
			if d := l.RxBits/1e6 - c.rxMbit; d > 0.2 || d < -0.2 {
				t.Errorf("rx %.2f Mbit/s, want %.2f", l.RxBits/1e6, c.rxMbit)
			}
			if d := l.TxBits/1e6 - c.txMbit; d > 0.2 || d < -0.2 {
				t.Errorf("tx %.2f Mbit/s, want %.2f", l.TxBits/1e6, c.txMbit)
			}
		})
	}
}

func TestMeterRestartedCounters(t *testing.T) {
	var m meter
	t0 := time.Unix(1000, 0)
	for i := range 20 {
		m.add(counters{at: t0.Add(time.Duration(i) * 50 * time.Millisecond), rx: uint64(i) * 1e5, tx: uint64(i) * 1e5})
	}
	// The interface was re-created: its counters start again near zero.
	m.add(counters{at: t0.Add(time.Second), rx: 10, tx: 10})
	if l := m.load(5e6, 20e6); l.Busy || l.Alive || l.RxBits != 0 {
		t.Errorf("after a counter restart: %+v, want nothing judged", l)
	}
}

func TestMeterUnknownRates(t *testing.T) {
	var m meter
	t0 := time.Unix(1000, 0)
	for i := range 40 {
		m.add(counters{at: t0.Add(time.Duration(i) * 50 * time.Millisecond), rx: uint64(i) * 1e6, tx: uint64(i) * 1e6})
	}
	if l := m.load(0, 0); l.Busy || !l.Alive {
		t.Errorf("with no configured rates: %+v, want alive but never busy", l)
	}
}
