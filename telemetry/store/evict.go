package store

import (
	"database/sql"
	"fmt"
	"slices"
)

// evictChunk bounds the rows looked at per step of an eviction.
const evictChunk = 512

// gapMarker is in every gap event's payload. Gap events are never evicted:
// they are what explains the records that were, and evicting one would turn
// that loss into an unexplained one. Past maxGaps of them the oldest are
// merged (gapmerge.go), so they cannot fill the store.
const gapMarker = `"type":"buffer_eviction"`

// notGap is the SQL condition that keeps gap events out of an eviction.
const notGap = `instr(CAST(payload AS TEXT), '` + gapMarker + `') = 0`

// gap is a run of evicted records of one stream, reported to head office.
type gap struct {
	stream      *streamState
	first, last uint64
	count       int64
	bytes       int64
}

// evict deletes records until p.used <= target: always from the least
// important priority that still has records, and within it from the stream
// whose oldest record is oldest. Each evicted run becomes a gap event in the
// event stream, written in the same transaction, so the gap and the loss
// are committed together.
func (s *Store) evict(tx *sql.Tx, p *pending, target int64, reason string) error {
	var gaps []*gap
	for p.used > target {
		st, err := s.victim(tx, p)
		if err != nil {
			return err
		}
		if st == nil {
			break // nothing left to evict
		}
		rows, err := tx.Query(`SELECT id, length(payload) FROM records WHERE id BETWEEN ? AND ? AND `+notGap+` ORDER BY id LIMIT ?`,
			key(st.id, 0), key(st.id, maxSeq), evictChunk)
		if err != nil {
			return fmt.Errorf("evict %s: %w", st.name, err)
		}
		var first, last, n, b int64
		for rows.Next() && p.used-(b+n*recordOverhead) > target {
			var id, size int64
			if err := rows.Scan(&id, &size); err != nil {
				rows.Close()
				return fmt.Errorf("evict %s: %w", st.name, err)
			}
			if n == 0 {
				first = id
			}
			last = id
			n++
			b += size
		}
		rows.Close()
		if n == 0 {
			break
		}
		if _, err := tx.Exec(`DELETE FROM records WHERE id BETWEEN ? AND ? AND `+notGap, first, last); err != nil {
			return fmt.Errorf("evict %s: %w", st.name, err)
		}
		p.add(st, -n, -b)
		e := p.evicted[st.id]
		p.evicted[st.id] = [2]int64{e[0] + n, e[1] + b}
		i := slices.IndexFunc(gaps, func(g *gap) bool { return g.stream == st })
		if i < 0 {
			gaps = append(gaps, &gap{stream: st, first: keySeq(first)})
			i = len(gaps) - 1
		}
		g := gaps[i]
		g.last, g.count, g.bytes = keySeq(last), g.count+n, g.bytes+b
	}
	if err := s.recordGaps(tx, p, gaps, reason); err != nil {
		return err
	}
	return s.mergeGaps(tx, p)
}

// victim picks the stream to evict from next, or nil.
func (s *Store) victim(tx *sql.Tx, p *pending) (*streamState, error) {
	s.mu.RLock()
	ids := make([]int64, 0, len(s.byID))
	for id := range s.byID {
		ids = append(ids, id)
	}
	s.mu.RUnlock()
	for id := range p.streams {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	var best *streamState
	var bestTS int64
	for _, id := range ids {
		st := p.byID(id)
		if st == nil || st.records <= 0 {
			continue
		}
		if best != nil && st.priority < best.priority {
			continue
		}
		var ts int64
		err := tx.QueryRow(`SELECT ts FROM records WHERE id BETWEEN ? AND ? AND `+notGap+` ORDER BY id LIMIT 1`,
			key(id, 0), key(id, maxSeq)).Scan(&ts)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("evict: oldest of %s: %w", st.name, err)
		}
		if best == nil || st.priority > best.priority || ts < bestTS {
			best, bestTS = st, ts
		}
	}
	return best, nil
}

// recordGaps appends one buffer_eviction event per gap.
func (s *Store) recordGaps(tx *sql.Tx, p *pending, gaps []*gap, reason string) error {
	for _, g := range gaps {
		payload := mustJSON(map[string]any{
			"type": "buffer_eviction", "stream": g.stream.name, "reason": reason,
			"first_seq": g.first, "last_seq": g.last, "count": g.count, "bytes": g.bytes,
		})
		if err := s.addEvent(tx, p, payload); err != nil {
			return fmt.Errorf("record gap of %s: %w", g.stream.name, err)
		}
		p.gaps++
		msg := fmt.Sprintf("telemetry buffer evicted %d records (%d bytes) of stream %s, seq %d..%d (%s)",
			g.count, g.bytes, g.stream.name, g.first, g.last, reason)
		p.alarms = append(p.alarms, Alarm{Kind: "buffer_eviction", Message: msg, Time: s.opts.Now()})
	}
	return nil
}

// addEvent inserts one event record in tx: the store's own events, which
// the writer cannot Append (it would wait on itself).
func (s *Store) addEvent(tx *sql.Tx, p *pending, payload []byte) error {
	ev, err := p.stream(tx, EventStream)
	if err != nil {
		return err
	}
	ev.nextSeq++
	if _, err := tx.Exec(`INSERT INTO records(id, ts, boot, payload) VALUES (?, ?, ?, ?)`,
		key(ev.id, ev.nextSeq), s.opts.Now().UnixMilli(), s.bootRow, payload); err != nil {
		return err
	}
	p.add(ev, 1, int64(len(payload)))
	p.appended++
	return nil
}
