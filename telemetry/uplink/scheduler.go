package uplink

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/branchgw/branchgw/telemetry/store"
)

// cursor is where one stream stands on the current connection. Records up
// to boundary were in the store when the connection came up: they are the
// backlog, sent with historical true and, for bulk streams, at the replay
// rate. Records after it are live.
type cursor struct {
	boundary uint64
	backlog  uint64    // last backlog seq handed to a publish
	live     uint64    // last live seq handed to a publish
	since    time.Time // when live bulk records were first seen waiting
}

// scheduler decides what goes next on one connection, in this order:
//  0. batches the connection failed to publish, again;
//  1. live alarms and status, as soon as they exist;
//  2. backlog alarms and status;
//  3. backlog bulk records, at most one full batch per replay interval
//     (a batch the pacer made smaller counts for its share);
//  4. live bulk records, once a batch is full or has lingered.
//
// So a live alarm never waits behind the backlog, and the backlog drains
// at a capped rate in between live data.
type scheduler struct {
	u          *Uplink
	cur        map[string]*cursor
	nextReplay time.Time
	maxBytes   int // the batch size the pacer allows now

	mu    sync.Mutex
	redos []span
}

// span is a range of one stream's records to send again.
type span struct {
	stream      string
	first, last uint64
	historical  bool
}

// redo queues a batch whose publish failed while the connection stayed up
// (paho gives up on a publish it could not hand to the connection within
// the write timeout). The cursor has moved past it: without this its
// records waited for the next connection, and could be evicted meanwhile.
func (s *scheduler) redo(b *batch) {
	s.mu.Lock()
	s.redos = append(s.redos, span{b.stream, b.first, b.last, b.historical})
	s.mu.Unlock()
}

// nextRedo builds a batch from the first queued span, putting back what did
// not fit.
func (s *scheduler) nextRedo(ctx context.Context) (*batch, error) {
	for {
		s.mu.Lock()
		if len(s.redos) == 0 {
			s.mu.Unlock()
			return nil, nil
		}
		sp := s.redos[0]
		s.redos = s.redos[1:]
		s.mu.Unlock()
		pos := sp.first - 1
		b, err := s.build(ctx, sp.stream, &pos, sp.last, sp.historical)
		if pos < sp.last {
			s.mu.Lock()
			s.redos = append([]span{{sp.stream, pos + 1, sp.last, sp.historical}}, s.redos...)
			s.mu.Unlock()
		}
		if b != nil || err != nil {
			return b, err
		}
	}
}

func (u *Uplink) newScheduler() *scheduler {
	s := &scheduler{u: u, cur: map[string]*cursor{}}
	for _, st := range u.deps.Store.Streams() {
		s.cur[st.Name] = &cursor{boundary: st.LastSeq, live: st.LastSeq}
	}
	return s
}

// idleWake is how long the sender sleeps when nothing is due and no timer
// is pending; a store notification wakes it earlier.
const idleWake = time.Second

// next returns the next batch of at most maxBytes, or nil and how long to
// wait before asking again.
func (s *scheduler) next(ctx context.Context, maxBytes int) (*batch, time.Duration, error) {
	s.maxBytes = maxBytes
	if b, err := s.nextRedo(ctx); b != nil || err != nil { // 0
		return b, 0, err
	}
	streams := s.u.deps.Store.Streams()
	for _, st := range streams {
		if s.cur[st.Name] == nil {
			// A stream born on this connection: all of it is live.
			s.cur[st.Name] = &cursor{}
		}
	}
	wake := idleWake
	now := s.u.deps.Now()
	replaying := false
	defer func() { s.u.replaying.Store(replaying) }()

	for _, st := range streams { // 1
		c := s.cur[st.Name]
		if st.Priority < store.PriorityBulk && st.LastSeq > c.live {
			if b, err := s.build(ctx, st.Name, &c.live, 0, false); b != nil || err != nil {
				return b, 0, err
			}
		}
	}
	for _, st := range streams { // 2
		c := s.cur[st.Name]
		if st.Priority < store.PriorityBulk && c.backlog < c.boundary {
			if b, err := s.build(ctx, st.Name, &c.backlog, c.boundary, true); b != nil || err != nil {
				return b, 0, err
			}
		}
	}
	for _, st := range streams { // 3
		c := s.cur[st.Name]
		if st.Priority < store.PriorityBulk || c.backlog >= c.boundary {
			continue
		}
		replaying = true
		if now.Before(s.nextReplay) {
			wake = min(wake, s.nextReplay.Sub(now))
			break
		}
		b, err := s.build(ctx, st.Name, &c.backlog, c.boundary, true)
		if err != nil {
			return nil, 0, err
		}
		if b != nil {
			if s.nextReplay.Before(now) {
				s.nextReplay = now
			}
			s.nextReplay = s.nextReplay.Add(s.u.replayGap(b))
			return b, 0, nil
		}
	}
	for _, st := range streams { // 4
		c := s.cur[st.Name]
		if st.Priority < store.PriorityBulk || st.LastSeq <= c.live {
			continue
		}
		if c.since.IsZero() {
			c.since = now
		}
		due := c.since.Add(s.u.deps.Linger)
		if st.LastSeq-c.live < uint64(s.u.batchRecs) && now.Before(due) {
			wake = min(wake, due.Sub(now))
			continue
		}
		b, err := s.build(ctx, st.Name, &c.live, 0, false)
		if err != nil {
			return nil, 0, err
		}
		c.since = time.Time{}
		if b != nil {
			if c.live < st.LastSeq {
				c.since = now // the rest has waited as long already
			}
			return b, 0, nil
		}
	}
	return nil, wake, nil
}

// replayGap is the replay interval's share that b takes: a batch full in
// records or in bytes takes all of it. The cap stays telemetry's
// replay_per_second full batches a second, however small the pacer makes
// them on a slow line.
func (u *Uplink) replayGap(b *batch) time.Duration {
	share := max(float64(len(b.payload))/float64(u.batchByte), float64(b.records)/float64(u.batchRecs))
	return time.Duration(float64(u.replay) * min(share, 1))
}

// build reads the records after *pos (up to upto, 0 for all) and encodes a
// batch, moving *pos past what it took. Records evicted meanwhile are simply
// skipped: their gap event tells head office.
func (s *scheduler) build(ctx context.Context, stream string, pos *uint64, upto uint64, historical bool) (*batch, error) {
	// The last seq before the read: an empty read then proves nothing up to
	// it is left. Taken after, it could jump over records committed in
	// between (issue 26, 6).
	last := s.u.deps.Store.LastSeq(stream)
	read := func() ([]store.Record, error) {
		return s.u.deps.Store.Read(ctx, stream, *pos, upto, s.u.batchRecs, s.maxBytes)
	}
	recs, err := read()
	if err != nil {
		return nil, err
	}
	// Records the broker acknowledged but the store still holds are
	// delivered: skip them.
	for len(recs) > 0 && s.u.acked.count() > 0 {
		kept := slices.DeleteFunc(slices.Clone(recs), func(r store.Record) bool { return s.u.acked.has(stream, r.Seq) })
		if len(kept) > 0 {
			recs = kept
			break
		}
		*pos = recs[len(recs)-1].Seq
		if recs, err = read(); err != nil {
			return nil, err
		}
	}
	if len(recs) == 0 {
		if upto != 0 {
			*pos = upto
		} else {
			*pos = max(*pos, last)
		}
		return nil, nil
	}
	b := encode(s.u.deps.Identity.GatewayID, s.u.deps.Store.Epoch(), s.u.topic(stream), recs, historical, s.maxBytes)
	*pos = b.last
	return b, nil
}
