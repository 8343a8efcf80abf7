package store

import (
	"cmp"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
)

// Gap events are never evicted, so under long pressure they alone could
// outgrow the budget (issue 26, 8: 34 times the 64 KiB floor). Past
// maxGaps of them the oldest are merged: per stream and reason, one gap
// event whose range spans theirs and whose count is their sum (marked
// "merged"), and one that covers the merged events' own seqs in the event
// stream (reason "merged", count 0). Every evicted record stays
// explained; a range may now span records that were delivered, which head
// office has anyway.
const (
	maxGaps  = 32
	keepGaps = maxGaps / 2 // newest gap events left as they are
)

// gapEvent is what a buffer_eviction event says.
type gapEvent struct {
	Type     string `json:"type"` // buffer_eviction
	Stream   string `json:"stream"`
	Reason   string `json:"reason"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Count    int64  `json:"count"`
	Bytes    int64  `json:"bytes"`
}

// mergeGaps merges the oldest gap events once there may be more than
// maxGaps. s.wr.gapBound is an upper bound of their number (the uplink's
// deletes do not lower it), made exact whenever it passes maxGaps.
func (s *Store) mergeGaps(tx *sql.Tx, p *pending) error {
	if s.wr.gapBound+p.gaps <= maxGaps {
		return nil
	}
	ev, err := p.stream(tx, EventStream)
	if err != nil {
		return err
	}
	rows, err := tx.Query(`SELECT id, payload FROM records WHERE id BETWEEN ? AND ? AND NOT (`+notGap+`) ORDER BY id`,
		key(ev.id, 0), key(ev.id, maxSeq))
	if err != nil {
		return fmt.Errorf("merge gap events: %w", err)
	}
	type row struct {
		id  int64
		len int
		g   gapEvent
	}
	var all []row
	for rows.Next() {
		var r row
		var payload []byte
		if err := rows.Scan(&r.id, &payload); err != nil {
			rows.Close()
			return fmt.Errorf("merge gap events: %w", err)
		}
		if json.Unmarshal(payload, &r.g) != nil || r.g.Type != "buffer_eviction" || r.g.Stream == "" {
			continue // not one of ours: leave it
		}
		r.len = len(payload)
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("merge gap events: %w", err)
	}
	p.gaps = len(all) - s.wr.gapBound // the bound becomes the count
	if len(all) <= maxGaps {
		return nil
	}
	old := all[:len(all)-keepGaps]
	type by struct{ stream, reason string }
	merged := map[by]*gapEvent{}
	var order []by
	cover := func(stream, reason string, first, last uint64, count, bytes int64) {
		k := by{stream, reason}
		m := merged[k]
		if m == nil {
			m = &gapEvent{Stream: stream, Reason: reason, FirstSeq: first, LastSeq: last}
			merged[k] = m
			order = append(order, k)
		}
		m.FirstSeq, m.LastSeq = min(m.FirstSeq, first), max(m.LastSeq, last)
		m.Count += count
		m.Bytes += bytes
	}
	var removed int64
	for _, r := range old {
		cover(r.g.Stream, r.g.Reason, r.g.FirstSeq, r.g.LastSeq, r.g.Count, r.g.Bytes)
		if _, err := tx.Exec(`DELETE FROM records WHERE id = ?`, r.id); err != nil {
			return fmt.Errorf("merge gap events: %w", err)
		}
		removed += int64(r.len)
	}
	// The merged events' own seqs are gone from the event stream: cover
	// them, counted apart, since they were reports, not records lost.
	cover(EventStream, "merged", keySeq(old[0].id), keySeq(old[len(old)-1].id), 0, 0)
	p.add(ev, -int64(len(old)), -removed)
	slices.SortFunc(order, func(a, b by) int { return cmp.Or(cmp.Compare(a.stream, b.stream), cmp.Compare(a.reason, b.reason)) })
	for _, k := range order {
		m := merged[k]
		payload := mustJSON(map[string]any{
			"type": "buffer_eviction", "stream": m.Stream, "reason": m.Reason,
			"first_seq": m.FirstSeq, "last_seq": m.LastSeq, "count": m.Count, "bytes": m.Bytes,
			"merged": true,
		})
		if err := s.addEvent(tx, p, payload); err != nil {
			return fmt.Errorf("merge gap events: %w", err)
		}
	}
	p.gaps += len(order) - len(old)
	return nil
}
