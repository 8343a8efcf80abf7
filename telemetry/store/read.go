package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// Record is one stored record as the uplink reads it back.
type Record struct {
	Stream  string
	Seq     uint64
	Time    time.Time // when it was appended
	Boot    string    // boot id of the process that appended it
	Payload []byte    // JSON
}

// StreamInfo is one stream's state.
type StreamInfo struct {
	Name     string   `json:"name"`
	Priority Priority `json:"priority"`
	LastSeq  uint64   `json:"last_seq"` // the last seq appended, 0 for none
	Records  int64    `json:"records"`
	Bytes    int64    `json:"bytes"`
}

// Streams lists the streams, most important first.
func (s *Store) Streams() []StreamInfo {
	s.mu.RLock()
	out := make([]StreamInfo, 0, len(s.byID))
	for _, st := range s.byID {
		out = append(out, StreamInfo{Name: st.name, Priority: st.priority, LastSeq: st.nextSeq,
			Records: st.records, Bytes: st.bytes})
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b StreamInfo) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// LastSeq is the last seq appended to stream, 0 for none.
func (s *Store) LastSeq(stream string) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st := s.byName[stream]; st != nil {
		return st.nextSeq
	}
	return 0
}

// Read returns records of stream with after < seq <= upto (upto 0: no
// bound), in seq order: at most maxRecords, and no more once their payloads
// reach maxBytes (0: no bound), so a batch of big records reads only what it
// can send. The first record always comes, whatever its size.
func (s *Store) Read(ctx context.Context, stream string, after, upto uint64, maxRecords, maxBytes int) ([]Record, error) {
	s.mu.RLock()
	st := s.byName[stream]
	var id int64
	if st != nil {
		id = st.id
	}
	s.mu.RUnlock()
	if st == nil {
		return nil, nil
	}
	if upto == 0 || upto > maxSeq {
		upto = maxSeq
	}
	if after >= upto {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, ts, boot, payload FROM records WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`,
		key(id, after), key(id, upto), maxRecords)
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", stream, err)
	}
	defer rows.Close()
	var out []Record
	size := 0
	for (maxBytes <= 0 || size < maxBytes) && rows.Next() {
		var k, ts, boot int64
		var payload []byte
		if err := rows.Scan(&k, &ts, &boot, &payload); err != nil {
			return nil, fmt.Errorf("store: read %s: %w", stream, err)
		}
		out = append(out, Record{Stream: stream, Seq: keySeq(k), Time: time.UnixMilli(ts), Boot: s.bootName(boot), Payload: payload})
		size += len(payload)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read %s: %w", stream, err)
	}
	return out, nil
}

func (s *Store) bootName(id int64) string {
	s.mu.RLock()
	b, ok := s.boots[id]
	s.mu.RUnlock()
	if ok {
		return b
	}
	var name string
	if err := s.r.QueryRow(`SELECT boot FROM boots WHERE id = ?`, id).Scan(&name); err != nil {
		return "unknown"
	}
	s.mu.Lock()
	s.boots[id] = name
	s.mu.Unlock()
	return name
}

// Oldest returns when the oldest stored record was appended.
func (s *Store) Oldest(ctx context.Context) (time.Time, bool, error) {
	var ts sql.NullInt64
	// min over each stream's first record: cheap, each is one rowid seek.
	q := fmt.Sprintf(`SELECT MIN((SELECT ts FROM records WHERE id BETWEEN s.id << %d AND (s.id << %d) + %d ORDER BY id LIMIT 1)) FROM streams s`,
		seqBits, seqBits, int64(maxSeq)) // int64: an untyped constant overflows int on 32-bit ARM
	err := s.r.QueryRowContext(ctx, q).Scan(&ts)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: oldest record: %w", err)
	}
	if !ts.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(ts.Int64), true, nil
}

// Snapshot is the store's state for the status page and /metrics.
type Snapshot struct {
	Path            string       `json:"path"`
	Epoch           string       `json:"epoch"`
	Records         int64        `json:"records"`
	Bytes           int64        `json:"bytes"`
	Budget          int64        `json:"budget"`
	EffectiveBudget int64        `json:"effective_budget"` // lower than Budget after the disk filled up
	Streams         []StreamInfo `json:"streams"`
	EvictedRecords  int64        `json:"evicted_records"`
	EvictedBytes    int64        `json:"evicted_bytes"`
	DiskFullEvents  int64        `json:"disk_full_events"`
	CorruptMovedTo  string       `json:"corrupt_moved_to,omitempty"`
	NewerMovedTo    string       `json:"newer_moved_to,omitempty"` // a database from a newer gatewayd, after a rollback
	Commits         int64        `json:"commits"`
	Appended        int64        `json:"appended"`
	LastError       string       `json:"last_error,omitempty"`
}

// Snapshot returns the latest state; it never blocks on the writer.
func (s *Store) Snapshot() *Snapshot { return s.snap.Load() }

// publish is called by the writer (and Open) after state changes.
func (s *Store) publish() {
	sn := &Snapshot{
		Path: s.path, Epoch: s.epoch, Budget: s.budget, EffectiveBudget: s.wr.effBudget, Streams: s.Streams(),
		EvictedRecords: s.wr.evictedRecords, EvictedBytes: s.wr.evictedBytes, DiskFullEvents: s.wr.diskFull,
		CorruptMovedTo: s.corrupt, NewerMovedTo: s.newer, Commits: s.wr.commits, Appended: s.wr.appended, LastError: s.wr.lastErr,
	}
	for _, st := range sn.Streams {
		sn.Records += st.Records
		sn.Bytes += st.Bytes
	}
	s.snap.Store(sn)
}
