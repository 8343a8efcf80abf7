package wan

import "time"

// A line that the store's own traffic fills drops probes the way a dead
// one does; what tells them apart is the interface's byte counters. A
// congested line carries traffic near its rate in at least one direction
// and keeps receiving from upstream; a dead one (a black hole, an ISP
// outage) receives nothing, however much the LAN still tries to send.

// Congestion thresholds.
const (
	// busyShare of the configured rate, in either direction, over
	// busyOver makes a line busy: the shaper runs at the rate less a
	// margin of 10-20%, so a line the store fills sits well above it.
	busyShare = 0.5
	busyOver  = time.Second
	// aliveOver is how recent upstream traffic must be: shorter than the
	// probe timeout, so the losses of a line that went silent count.
	aliveOver = 300 * time.Millisecond
	// aliveBytes is more than stray ARP or one late retransmission.
	aliveBytes = 3000
)

// counters is one reading of a WAN's interface byte counters.
type counters struct {
	at     time.Time
	rx, tx uint64
}

// meter keeps the last few seconds of a WAN's counters, read with the
// carrier poll.
type meter struct {
	s    [64]counters
	n, i int
}

func (m *meter) add(c counters) {
	if m.n > 0 {
		last := m.s[(m.i+len(m.s)-1)%len(m.s)]
		if c.rx < last.rx || c.tx < last.tx {
			m.n = 0 // the interface was re-created: its counters restarted
		}
	}
	m.s[m.i] = c
	m.i = (m.i + 1) % len(m.s)
	m.n = min(m.n+1, len(m.s))
}

func (m *meter) reset() { m.n = 0 }

// back returns the sample k readings before the newest (0 is the newest).
func (m *meter) back(k int) counters { return m.s[(m.i+2*len(m.s)-1-k)%len(m.s)] }

// since returns the bytes received and sent from the oldest reading no
// older than d before the newest up to the newest, and the time between.
func (m *meter) since(d time.Duration) (rx, tx uint64, span time.Duration) {
	if m.n < 2 {
		return 0, 0, 0
	}
	newest := m.back(0)
	from := newest
	for k := 1; k < m.n; k++ {
		c := m.back(k)
		if newest.at.Sub(c.at) > d {
			break
		}
		from = c
	}
	return newest.rx - from.rx, newest.tx - from.tx, newest.at.Sub(from.at)
}

// load is what the counters say about a line.
type load struct {
	// RxBits and TxBits are the rates over busyOver, bit/s.
	RxBits, TxBits float64
	// Busy: at least busyShare of the configured rate in a direction.
	Busy bool
	// Alive: more than aliveBytes received within aliveOver.
	Alive bool
}

// Congested is a busy line that still receives: its probe losses are the
// store's own traffic, not an outage.
func (l load) Congested() bool { return l.Busy && l.Alive }

// load judges the line against its configured rates (bit/s; 0: unknown,
// never busy in that direction).
func (m *meter) load(rateUp, rateDown uint64) load {
	var l load
	rx, tx, span := m.since(busyOver)
	if span < busyOver/2 {
		return l // too little history to judge
	}
	l.RxBits = float64(rx) * 8 / span.Seconds()
	l.TxBits = float64(tx) * 8 / span.Seconds()
	l.Busy = rateDown > 0 && l.RxBits >= busyShare*float64(rateDown) ||
		rateUp > 0 && l.TxBits >= busyShare*float64(rateUp)
	recent, _, _ := m.since(aliveOver)
	l.Alive = recent > aliveBytes
	return l
}
