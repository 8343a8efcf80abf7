package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"
)

type reqKind int

const (
	kindAppend reqKind = iota
	kindDelete
)

// request is one append or delete waiting for the writer.
type request struct {
	kind        reqKind
	stream      string
	payload     []byte
	ts          int64
	first, last uint64 // delete range
	seq         uint64 // assigned on commit
	done        chan error
}

// maxBatchBytes bounds the payload of one commit, so one transaction never
// needs a large WAL (big records are rare, but 4096 of them would be 256 MiB).
const maxBatchBytes = 2 << 20

// minBudget is the floor of the effective budget after a full disk: below
// it the store would evict every record it is given.
const minBudget = 64 << 10

// writerState belongs to the writer goroutine (and to Open before it starts).
type writerState struct {
	used           int64 // budget bytes of all records
	effBudget      int64 // budget, lowered after the disk filled up
	evictedRecords int64
	evictedBytes   int64
	diskFull       int64
	commits        int64
	appended       int64
	lastErr        string
	reservePending bool // recreate the reserve after the next good commit
	gapBound       int  // at least the number of gap events (gapmerge.go)
}

func (s *Store) newAppend(stream string, payload []byte) (*request, error) {
	switch {
	case !streamRE.MatchString(stream):
		return nil, fmt.Errorf("store: stream %q: %w: name must match %s", stream, ErrBadRecord, streamRE)
	case len(payload) > MaxPayload:
		return nil, fmt.Errorf("store: stream %s: %w: payload of %d bytes exceeds %d", stream, ErrBadRecord, len(payload), MaxPayload)
	case !json.Valid(payload):
		return nil, fmt.Errorf("store: stream %s: %w: payload is not valid JSON", stream, ErrBadRecord)
	}
	return &request{kind: kindAppend, stream: stream, payload: payload,
		ts: s.opts.Now().UnixMilli(), done: make(chan error, 1)}, nil
}

// Append stores one record (a JSON value) in stream and returns its
// sequence number once the record is durable on disk. payload is not
// retained after Append returns.
func (s *Store) Append(ctx context.Context, stream string, payload []byte) (uint64, error) {
	r, err := s.newAppend(stream, payload)
	if err != nil {
		return 0, err
	}
	if err := s.submit(ctx, r); err != nil {
		return 0, err
	}
	return r.seq, nil
}

// Entry is one record for AppendAll.
type Entry struct {
	Stream  string
	Payload []byte
	Time    time.Time // when it happened; zero for now
}

// AppendAll stores entries in their order, in as few commits as the writer
// makes of them, and returns once each is durable or has failed: errs[i] is
// entry i's error (ErrBadRecord ones were never submitted). An outbox in
// front of the store uses it, so a burst of events shares one fsync.
func (s *Store) AppendAll(ctx context.Context, entries []Entry) (errs []error) {
	errs = make([]error, len(entries))
	reqs := make([]*request, len(entries))
	for i, e := range entries {
		r, err := s.newAppend(e.Stream, e.Payload)
		if err != nil {
			errs[i] = err
			continue
		}
		if !e.Time.IsZero() {
			r.ts = e.Time.UnixMilli()
		}
		reqs[i] = r
	}
	for i, r := range reqs {
		if r != nil {
			errs[i] = s.enqueue(ctx, r)
			if errs[i] != nil {
				reqs[i] = nil
			}
		}
	}
	for i, r := range reqs {
		if r != nil {
			errs[i] = s.wait(ctx, r)
		}
	}
	return errs
}

// Delete removes the records first..last of stream (the uplink calls it
// after the broker's PUBACK). It returns once the deletion is committed.
func (s *Store) Delete(ctx context.Context, stream string, first, last uint64) error {
	if first > last || last > maxSeq {
		return fmt.Errorf("store: delete %s %d..%d: %w: bad range", stream, first, last, ErrBadRecord)
	}
	return s.submit(ctx, &request{kind: kindDelete, stream: stream, first: first, last: last, done: make(chan error, 1)})
}

func (s *Store) submit(ctx context.Context, r *request) error {
	if err := s.enqueue(ctx, r); err != nil {
		return err
	}
	return s.wait(ctx, r)
}

// enqueue hands r to the writer.
func (s *Store) enqueue(ctx context.Context, r *request) error {
	select {
	case s.reqs <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return ErrClosed
	}
}

// wait waits for the writer's verdict on r.
func (s *Store) wait(ctx context.Context, r *request) error {
	select {
	case err := <-r.done:
		return err
	case <-s.done: // the writer exited; a last commit may have raced us
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer is the only goroutine that writes. Whatever queued up while the
// last commit was being fsync'd goes into the next transaction.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*request, 0, s.opts.MaxBatch)
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		case <-s.stop:
			s.drain(batch[:0])
			return
		}
		bytes := len(batch[0].payload)
	fill:
		for len(batch) < s.opts.MaxBatch && bytes < maxBatchBytes {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				bytes += len(r.payload)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// drain commits what was queued before Close.
func (s *Store) drain(batch []*request) {
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
			if len(batch) == s.opts.MaxBatch {
				s.commit(batch)
				batch = batch[:0]
			}
		default:
			if len(batch) > 0 {
				s.commit(batch)
			}
			return
		}
	}
}

func (s *Store) commit(batch []*request) {
	p, err := s.tryCommit(batch)
	if isFull(err) {
		s.log.Warn("store: disk full", "err", err)
		s.recoverFull(batch)
		p, err = s.tryCommit(batch)
		if isFull(err) {
			err = fmt.Errorf("%w (%v)", ErrFull, err)
		}
	}
	if err != nil {
		s.wr.lastErr = err.Error()
		s.log.Error("store: commit failed", "records", len(batch), "err", err)
		err = fmt.Errorf("store: commit: %w", err)
	} else {
		s.apply(p)
		if s.wr.reservePending {
			s.wr.reservePending = false
			s.ensureReserve()
		}
		s.regainBudget()
	}
	// The snapshot first: a caller whose Append returned sees its record.
	s.publish()
	for _, r := range batch {
		r.done <- err
	}
	if err == nil && p.appended > 0 {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// isFull reports a full disk: SQLite's SQLITE_FULL, or an I/O error whose
// errno is ENOSPC.
func isFull(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrFull || errors.Is(se.SystemErrno, syscall.ENOSPC)
	}
	return errors.Is(err, syscall.ENOSPC)
}

// tryCommit writes the batch in one transaction. Nothing in memory changes
// until apply, so a failed commit leaves the state as it was.
func (s *Store) tryCommit(batch []*request) (*pending, error) {
	tx, err := s.w.Begin()
	if err != nil {
		return nil, err
	}
	p := s.newPending()
	if err := s.write(tx, p, batch); err != nil {
		tx.Rollback()
		return nil, err
	}
	if p.used > s.wr.effBudget {
		if err := s.evict(tx, p, s.wr.effBudget-s.wr.effBudget/16, "budget"); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	if err := p.flush(tx); err != nil {
		tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		tx.Rollback()
		return nil, err
	}
	return p, nil
}

func (s *Store) write(tx *sql.Tx, p *pending, batch []*request) error {
	ins, err := tx.Prepare(`INSERT INTO records(id, ts, boot, payload) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, r := range batch {
		switch r.kind {
		case kindAppend:
			st, err := p.stream(tx, r.stream)
			if err != nil {
				return err
			}
			if st.nextSeq >= maxSeq {
				return fmt.Errorf("stream %s: sequence numbers exhausted", r.stream)
			}
			st.nextSeq++
			r.seq = st.nextSeq
			if _, err := ins.Exec(key(st.id, r.seq), r.ts, s.bootRow, r.payload); err != nil {
				return fmt.Errorf("insert %s/%d: %w", r.stream, r.seq, err)
			}
			p.add(st, 1, int64(len(r.payload)))
			p.appended++
		case kindDelete:
			st := p.existing(r.stream)
			if st == nil {
				continue
			}
			lo, hi := key(st.id, r.first), key(st.id, r.last)
			var n, b int64
			if err := tx.QueryRow(`SELECT COUNT(*), COALESCE(SUM(length(payload)), 0) FROM records WHERE id BETWEEN ? AND ?`,
				lo, hi).Scan(&n, &b); err != nil {
				return fmt.Errorf("delete %s %d..%d: %w", r.stream, r.first, r.last, err)
			}
			if n == 0 {
				continue
			}
			if _, err := tx.Exec(`DELETE FROM records WHERE id BETWEEN ? AND ?`, lo, hi); err != nil {
				return fmt.Errorf("delete %s %d..%d: %w", r.stream, r.first, r.last, err)
			}
			p.add(st, -n, -b)
		}
	}
	return nil
}

// walRoom is the disk a raised budget leaves for the WAL between
// checkpoints (recoverFull keeps it near 128 KiB).
const walRoom = 256 << 10

// regainBudget raises a budget that a full disk cut, as the disk gets room
// again (another file was removed): by half of the free space beyond the
// WAL's and the reserve's room, up to the configured budget. Half, because
// a stored byte takes more than a byte of disk (pages, indexes); the
// budget then evicts before the disk fills again.
func (s *Store) regainBudget() {
	if s.wr.effBudget >= s.budget {
		return
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(s.path), &st); err != nil {
		return
	}
	room := (int64(st.Bavail)*int64(st.Bsize) - 2*s.opts.ReserveBytes - walRoom) / 2
	b := min(s.budget, s.wr.used+room)
	if b <= s.wr.effBudget {
		return
	}
	s.wr.effBudget = b
	if b == s.budget {
		s.log.Info("store: the disk has room again; store budget back to its configured size", "path", s.path, "budget", b)
	}
}

// recoverFull makes room after the disk filled up. Deleting rows alone
// frees no disk space (SQLite keeps the pages for reuse) and the WAL needs
// space to regrow, so: give back the reserve so SQLite can write at all,
// checkpoint and truncate the WAL, evict an eighth of the store (at least
// twice the failed batch), return the freed pages to the
// file system (incremental_vacuum, then checkpoint again), and from now on
// keep the store below what is left, with a smaller WAL.
func (s *Store) recoverFull(batch []*request) {
	s.wr.diskFull++
	s.releaseReserve()
	s.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	var need int64
	for _, r := range batch {
		need += int64(len(r.payload)) + recordOverhead
	}
	free := max(s.wr.used/8, 2*need)
	target := max(s.wr.used-free, 0)
	tx, err := s.w.Begin()
	if err == nil {
		p := s.newPending()
		err = s.evict(tx, p, target, "disk_full")
		if err == nil {
			// In the same transaction as the room it makes: an alarm
			// Appended later would wait on the writer, and an OnAlarm alone
			// never reached head office.
			err = s.addEvent(tx, p, mustJSON(map[string]any{"type": "disk_full", "target_bytes": target,
				"message": fmt.Sprintf("telemetry disk full: evicting down to %d bytes to go on recording", target)}))
		}
		if err == nil {
			err = p.flush(tx)
		}
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			tx.Rollback()
		} else {
			s.apply(p)
		}
	}
	if verr := s.vacuum(); verr != nil && err == nil {
		err = verr
	}
	if _, cerr := s.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); cerr != nil && err == nil {
		err = fmt.Errorf("checkpoint: %w", cerr)
	}
	s.wr.effBudget = min(s.wr.effBudget, max(s.wr.used, minBudget))
	// A smaller WAL from now on: it regrows between checkpoints, and that
	// room is what a full disk lacks. Costs a few more checkpoints.
	s.w.Exec(`PRAGMA wal_autocheckpoint = 32`)
	s.w.Exec(`PRAGMA journal_size_limit = 131072`)
	// The reserve comes back after the next successful commit, not now:
	// the retry needs the room first.
	s.wr.reservePending = true
	msg := fmt.Sprintf("telemetry disk full: evicted down to %d bytes; store budget now %d bytes", s.wr.used, s.wr.effBudget)
	if err != nil {
		msg += fmt.Sprintf(" (eviction failed: %v)", err)
	}
	s.log.Warn("store: "+msg, "path", s.path)
	if s.opts.OnAlarm != nil {
		s.opts.OnAlarm(Alarm{Kind: "disk_full", Message: msg, Time: s.opts.Now()})
	}
}

// vacuum returns the free pages to the file system (at the next
// checkpoint). incremental_vacuum frees one page per result row, so the rows
// must be read to the end; Exec would stop after the first.
func (s *Store) vacuum() error {
	rows, err := s.w.Query(`PRAGMA incremental_vacuum`)
	if err != nil {
		return fmt.Errorf("incremental_vacuum: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("incremental_vacuum: %w", err)
	}
	return nil
}
