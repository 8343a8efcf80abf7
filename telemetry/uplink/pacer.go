package uplink

import (
	"sync"
	"time"
)

// pacer fits what one connection sends to what its line delivers. It
// measures the delivery rate from PUBACKs and, from that rate,
//   - bounds the bytes in flight to about inflightTime of the line, so a
//     new alarm queues behind half a second of backlog, not behind the
//     whole window (issue 26: 16 batches of 128 KiB are 17 s at 1 Mbit/s);
//   - sizes each batch to half that, so one batch crosses even a 64 kbit/s
//     line well within the write timeout (a 128 KiB batch needs 16 s there,
//     paho gives it 10 s and then drops the connection).
//
// The rate is the best delivery rate seen over rateWindow, as TCP's BBR
// does: a sample is the bytes acknowledged from a batch's send to its
// PUBACK, over the time since the PUBACK before its send. (Timed from the
// send, the batches ahead of it, half across already, counted in full: the
// estimate came out three times the line.) When in flight is below the
// line's bandwidth-delay product a sample shows what was sent, not the
// line, and the bound grows by inflightTime/RTT at each round trip until it
// reaches the line; but at most to twice what one sample moved, as TCP's
// slow start doubles, because a small batch into an idle line measures the
// line's burst, not its rate (3 KB through a 1 Mbit/s token bucket in 8 ms
// made the bound 1.5 s of that line).
type pacer struct {
	mu          sync.Mutex
	inflight    int       // bytes sent and not yet acknowledged or failed
	delivered   int64     // bytes acknowledged on this connection
	deliveredAt time.Time // the last PUBACK, or the send into an empty pipe
	samples     []rateSample
	minBatch    int // smallest batch the pacer asks for
	maxBatch    int // telemetry.batch_bytes
	maxFlight   int // most bytes in flight: mqtt.inflight batches of maxBatch
	room        chan struct{}
}

// rateSample is one delivery rate measurement.
type rateSample struct {
	at    time.Time
	bps   float64 // bytes per second
	moved int64   // bytes it measured
}

const (
	// inflightTime is the line time the bytes in flight may take.
	inflightTime = 500 * time.Millisecond
	// rateWindow is how long a rate sample counts: long enough for several
	// batches at 64 kbit/s, short enough to forget a failover's faster line.
	rateWindow = 2 * time.Second
	// minFlight is the bound before any rate is known, and its floor: 8 KiB
	// is a second of a 64 kbit/s line.
	minFlight = 8 << 10
)

// sendTicket is what the pacer needs back when the batch's fate is known.
type sendTicket struct {
	bytes       int
	delivered   int64     // pacer.delivered when it was sent
	deliveredAt time.Time // pacer.deliveredAt when it was sent
}

func newPacer(maxBatch, window int) *pacer {
	return &pacer{
		minBatch: min(2<<10, maxBatch), maxBatch: maxBatch, maxFlight: max(maxBatch*window, minFlight),
		room: make(chan struct{}, 1),
	}
}

// limitLocked is the bytes in flight allowed now.
func (p *pacer) limitLocked(now time.Time) int {
	best, moved := 0.0, int64(0)
	kept := p.samples[:0]
	for _, s := range p.samples {
		if now.Sub(s.at) <= rateWindow {
			kept = append(kept, s)
			best, moved = max(best, s.bps), max(moved, s.moved)
		}
	}
	p.samples = kept
	limit := min(int64(best*inflightTime.Seconds()), 2*moved)
	return int(min(max(limit, minFlight), int64(p.maxFlight)))
}

// batchBytes is how big the next batch may be, or 0 while the bytes in
// flight leave no room for one.
func (p *pacer) batchBytes(now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	limit := p.limitLocked(now)
	size := min(max(limit/2, p.minBatch), p.maxBatch)
	if p.inflight > 0 && p.inflight+size > limit {
		return 0
	}
	return size
}

// sent counts a batch of n bytes handed to the connection.
func (p *pacer) sent(n int, now time.Time) sendTicket {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inflight <= 0 {
		p.deliveredAt = now // an idle pipe: its clock starts now
	}
	p.inflight += n
	return sendTicket{bytes: n, delivered: p.delivered, deliveredAt: p.deliveredAt}
}

// acked counts a PUBACK and takes a rate sample from it.
func (p *pacer) acked(t sendTicket, now time.Time) {
	p.mu.Lock()
	p.inflight -= t.bytes
	p.delivered += int64(t.bytes)
	p.deliveredAt = now
	if d := now.Sub(t.deliveredAt); d > 0 {
		moved := p.delivered - t.delivered
		p.samples = append(p.samples, rateSample{at: now, bps: float64(moved) / d.Seconds(), moved: moved})
	}
	p.mu.Unlock()
	p.wake()
}

// failed counts a batch that was not acknowledged. Like a loss in TCP it
// means the line took less than we thought: the rate is measured afresh.
func (p *pacer) failed(t sendTicket) {
	p.mu.Lock()
	p.inflight -= t.bytes
	p.samples = p.samples[:0]
	p.mu.Unlock()
	p.wake()
}

func (p *pacer) wake() {
	select {
	case p.room <- struct{}{}:
	default:
	}
}
