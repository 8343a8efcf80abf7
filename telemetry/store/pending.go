package store

import (
	"database/sql"
	"fmt"
)

// pending is a transaction's view of the stream state: copies of the
// streams it touched, applied to the Store only after the commit succeeded.
type pending struct {
	s        *Store
	streams  map[int64]*streamState
	created  map[int64]bool
	used     int64
	appended int64
	evicted  map[int64][2]int64 // stream id → records, bytes evicted
	gaps     int                // change in the number of gap events
	alarms   []Alarm            // raised once the transaction commits
}

func (s *Store) newPending() *pending {
	return &pending{s: s, streams: map[int64]*streamState{}, created: map[int64]bool{},
		used: s.wr.used, evicted: map[int64][2]int64{}}
}

// existing returns the stream's tentative state, or nil if it has none.
func (p *pending) existing(name string) *streamState {
	for _, st := range p.streams {
		if st.name == name {
			return st
		}
	}
	p.s.mu.RLock()
	cur := p.s.byName[name]
	p.s.mu.RUnlock()
	if cur == nil {
		return nil
	}
	c := *cur
	p.streams[c.id] = &c
	return &c
}

func (p *pending) byID(id int64) *streamState {
	if st, ok := p.streams[id]; ok {
		return st
	}
	p.s.mu.RLock()
	cur := p.s.byID[id]
	p.s.mu.RUnlock()
	if cur == nil {
		return nil
	}
	c := *cur
	p.streams[id] = &c
	return &c
}

// stream returns the tentative state of name, creating the stream.
func (p *pending) stream(tx *sql.Tx, name string) (*streamState, error) {
	if st := p.existing(name); st != nil {
		return st, nil
	}
	prio, ok := p.s.opts.Priorities[name]
	if !ok {
		prio = DefaultPriority(name)
	}
	res, err := tx.Exec(`INSERT INTO streams(name, priority, next_seq) VALUES (?, ?, 0)`, name, prio)
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", name, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", name, err)
	}
	if id >= maxStream {
		return nil, fmt.Errorf("create stream %s: too many streams", name)
	}
	st := &streamState{id: id, name: name, priority: prio}
	p.streams[id], p.created[id] = st, true
	return st, nil
}

// add counts n records of b payload bytes into (or, negative, out of) st.
func (p *pending) add(st *streamState, n, b int64) {
	size := b + n*recordOverhead
	st.records += n
	st.bytes += size
	p.used += size
}

// flush writes the touched streams' sequence counters.
func (p *pending) flush(tx *sql.Tx) error {
	for id, st := range p.streams {
		if _, err := tx.Exec(`UPDATE streams SET next_seq = ? WHERE id = ?`, st.nextSeq, id); err != nil {
			return fmt.Errorf("stream %s: %w", st.name, err)
		}
	}
	for id, e := range p.evicted {
		if _, err := tx.Exec(`INSERT INTO evictions(stream, records, bytes) VALUES (?, ?, ?)
			ON CONFLICT(stream) DO UPDATE SET records = records + excluded.records, bytes = bytes + excluded.bytes`,
			id, e[0], e[1]); err != nil {
			return fmt.Errorf("eviction totals: %w", err)
		}
	}
	return nil
}

// apply makes a committed transaction's state the Store's.
func (s *Store) apply(p *pending) {
	s.mu.Lock()
	for id, st := range p.streams {
		if cur := s.byID[id]; cur != nil {
			*cur = *st
		} else {
			c := *st
			s.byID[id], s.byName[st.name] = &c, &c
		}
	}
	s.mu.Unlock()
	s.wr.used = p.used
	s.wr.gapBound += p.gaps
	s.wr.commits++
	s.wr.appended += p.appended
	for _, e := range p.evicted {
		s.wr.evictedRecords += e[0]
		s.wr.evictedBytes += e[1]
	}
	for _, a := range p.alarms {
		s.log.Warn("store: "+a.Message, "path", s.path)
		if s.opts.OnAlarm != nil {
			s.opts.OnAlarm(a)
		}
	}
}
