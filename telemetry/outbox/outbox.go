// Package outbox lets the daemon's components record events without
// waiting on the disk. Put queues a record and returns at once; Run moves
// the queue into the telemetry store, a burst in one commit, and holds it
// while no store is open (starting, restarting, set aside). The queue is
// bounded: what does not fit is dropped, counted, and reported to head
// office as an events_dropped event once the store takes records again.
//
// Before it, Emit appended synchronously: the WAN manager's event handler,
// which must not block, waited on an fsync (or a 5 s timeout behind a
// stuck disk) before QoS followed the new WAN (issue 26, 7).
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/branchgw/branchgw/telemetry/store"
)

// Store is where the outbox delivers: *store.Store.
type Store interface {
	AppendAll(ctx context.Context, entries []store.Entry) []error
}

// Snapshot is the queue's state for the status page and /metrics.
type Snapshot struct {
	Queued   int   `json:"queued"`
	Capacity int   `json:"capacity"`
	Stored   int64 `json:"stored"`
	Dropped  int64 `json:"dropped"` // since start: the queue was full
}

// Outbox is the queue. Put is safe from any goroutine; run one Run.
type Outbox struct {
	q   chan store.Entry
	log *slog.Logger
	now func() time.Time

	held       atomic.Int64 // taken from q, not yet stored
	stored     atomic.Int64
	dropped    atomic.Int64
	unreported atomic.Int64 // dropped and not yet in an events_dropped event
	firstDrop  atomic.Int64 // unix ms of the first unreported drop
	lastDrop   atomic.Int64
}

const (
	// maxBatch bounds the records handed to the store at once.
	maxBatch = 512
	// retryEvery is how often Run tries again while no store takes records.
	retryEvery = 200 * time.Millisecond
	// flushTimeout bounds the last delivery when Run is stopped.
	flushTimeout = 2 * time.Second
)

// New makes an outbox that holds up to capacity records.
func New(capacity int, log *slog.Logger) *Outbox {
	return &Outbox{q: make(chan store.Entry, max(capacity, 1)), log: log, now: time.Now}
}

// Put queues payload (JSON) for stream and never waits. It reports false
// when the queue is full and the record was dropped.
func (o *Outbox) Put(stream string, payload []byte) bool {
	now := o.now()
	select {
	case o.q <- store.Entry{Stream: stream, Payload: payload, Time: now}:
		return true
	default:
	}
	o.dropped.Add(1)
	if o.unreported.Add(1) == 1 {
		o.firstDrop.Store(now.UnixMilli())
		o.log.Warn("outbox: queue full, dropping events until the store catches up", "capacity", cap(o.q))
	}
	o.lastDrop.Store(now.UnixMilli())
	return false
}

// Snapshot returns the current counts.
func (o *Outbox) Snapshot() Snapshot {
	return Snapshot{Queued: len(o.q) + int(o.held.Load()), Capacity: cap(o.q),
		Stored: o.stored.Load(), Dropped: o.dropped.Load()}
}

// Run delivers the queue to the store current returns (nil while none is
// open) until ctx ends, then makes one last bounded attempt.
func (o *Outbox) Run(ctx context.Context, current func() Store) error {
	var batch []store.Entry
	for ctx.Err() == nil {
		if len(batch) == 0 {
			select {
			case e := <-o.q:
				batch = append(batch, e)
			case <-ctx.Done():
				continue
			}
		}
		batch = o.take(batch)
		if batch = o.deliver(ctx, current(), batch); len(batch) > 0 {
			select {
			case <-time.After(retryEvery):
			case <-ctx.Done():
			}
		}
	}
	fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	o.deliver(fctx, current(), o.take(batch))
	return nil
}

// take adds what waits in the queue to batch, up to maxBatch.
func (o *Outbox) take(batch []store.Entry) []store.Entry {
	for len(batch) < maxBatch {
		select {
		case e := <-o.q:
			batch = append(batch, e)
		default:
			o.held.Store(int64(len(batch)))
			return batch
		}
	}
	o.held.Store(int64(len(batch)))
	return batch
}

// deliver appends batch, led by an events_dropped event when drops wait to
// be reported, and returns what must be tried again.
func (o *Outbox) deliver(ctx context.Context, st Store, batch []store.Entry) []store.Entry {
	if st == nil || len(batch) == 0 {
		return batch
	}
	n := o.unreported.Load()
	if n > 0 {
		batch = append([]store.Entry{o.dropEvent(n)}, batch...)
	}
	errs := st.AppendAll(ctx, batch)
	keep := batch[:0]
	for i, err := range errs {
		switch {
		case err == nil && i == 0 && n > 0:
			o.unreported.Add(-n)
		case err == nil:
			o.stored.Add(1)
		case i == 0 && n > 0:
			// The report goes again with the next delivery, counting anew.
		case errors.Is(err, store.ErrBadRecord):
			o.log.Error("outbox: record refused by the store", "stream", batch[i].Stream, "err", err)
		default:
			keep = append(keep, batch[i])
		}
	}
	o.held.Store(int64(len(keep)))
	return keep
}

// dropEvent reports n records dropped since the last report.
func (o *Outbox) dropEvent(n int64) store.Entry {
	first, last := time.UnixMilli(o.firstDrop.Load()).UTC(), time.UnixMilli(o.lastDrop.Load()).UTC()
	b, _ := json.Marshal(map[string]any{ // strings and numbers: cannot fail
		"type": "events_dropped", "dropped": n, "first": first, "last": last,
		"message": fmt.Sprintf("%d events dropped between %s and %s: the queue in front of the telemetry store was full", n, first.Format(time.RFC3339), last.Format(time.RFC3339)),
	})
	return store.Entry{Stream: store.EventStream, Payload: b, Time: o.now()}
}
