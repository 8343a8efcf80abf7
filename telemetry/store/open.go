package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// dsn opens the file with synchronous=FULL: in WAL mode NORMAL would skip
// the fsync at commit, and Append promises durability. WAL mode itself is
// set by openChecked, after auto_vacuum, which must come first.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "5000")
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Set("_query_only", "true")
		q.Del("_txlock")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// openChecked opens the database, migrates it, runs integrity_check and
// loads the stream state. A non-empty detail with the error says the file
// is corrupt (as opposed to, say, unreadable), so Open sets it aside.
func (s *Store) openChecked() (detail string, err error) {
	w, err := sql.Open("sqlite3", dsn(s.path, false))
	if err != nil {
		return "", err
	}
	// One connection, kept open: it is the single writer, and its pragmas
	// are per connection.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	fail := func(err error) (string, error) {
		w.Close()
		if isCorrupt(err) {
			return err.Error(), err
		}
		return "", err
	}
	for _, p := range []string{
		// Only takes effect on a new, empty file: lets recoverFull give
		// freed pages back to a full disk (incremental_vacuum).
		`PRAGMA auto_vacuum = INCREMENTAL`,
		`PRAGMA journal_mode = WAL`,
		`PRAGMA temp_store = MEMORY`,
		// Checkpoint every ~1 MiB of WAL and truncate it back afterwards, so
		// the WAL never eats a small disk.
		`PRAGMA wal_autocheckpoint = 256`,
		`PRAGMA journal_size_limit = 1048576`,
	} {
		if _, err := w.Exec(p); err != nil {
			return fail(fmt.Errorf("%s: %w", p, err))
		}
	}
	var mode string
	if err := w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fail(fmt.Errorf("journal mode: %w", err))
	}
	if mode != "wal" {
		return fail(fmt.Errorf("journal mode is %q, want wal", mode))
	}
	if msg, err := integrity(w); err != nil {
		return fail(fmt.Errorf("integrity_check: %w", err))
	} else if msg != "ok" {
		w.Close()
		return msg, fmt.Errorf("integrity_check: %s", msg)
	}
	if err := migrate(w); err != nil {
		return fail(err)
	}
	if err := s.load(w); err != nil {
		return fail(err)
	}
	r, err := sql.Open("sqlite3", dsn(s.path, true))
	if err != nil {
		return fail(err)
	}
	r.SetMaxOpenConns(4)
	s.w, s.r = w, r
	return "", nil
}

// integrity runs PRAGMA integrity_check and returns "ok" or its first lines.
func integrity(db *sql.DB) (string, error) {
	rows, err := db.Query(`PRAGMA integrity_check(8)`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return "", err
		}
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return strings.Join(lines, "; "), nil
}

// IntegrityCheck opens the file at path read-only and returns the result of
// PRAGMA integrity_check ("ok" when sound). Tests and gwctl use it on a file
// no Store has open.
func IntegrityCheck(path string) (string, error) {
	db, err := sql.Open("sqlite3", dsn(path, true))
	if err != nil {
		return "", err
	}
	defer db.Close()
	return integrity(db)
}

func isCorrupt(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB)
}

// dbFiles are the suffixes of a database's files: the file, its WAL and
// its shared memory.
var dbFiles = []string{"", "-wal", "-shm"}

// Remove deletes the store at path: its database files and its reserve. It
// must not be open.
func Remove(path string) {
	for _, suf := range append(dbFiles, ".reserve") {
		os.Remove(path + suf)
	}
}

// moveAside renames the database and its WAL and shared-memory files to
// <path>.<why>-<time>[-wal|-shm], keeping them for a post-mortem or a
// firmware that can read them.
func moveAside(path, why string, now time.Time) (string, error) {
	dst := path + "." + why + "-" + now.UTC().Format("20060102T150405.000")
	for _, suf := range dbFiles {
		if err := os.Rename(path+suf, dst+suf); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("move %s aside: %w", path+suf, err)
		}
	}
	return dst, nil
}

// load reads the epoch, streams, boots and per-stream totals, and registers
// this boot.
func (s *Store) load(w *sql.DB) error {
	s.wr = writerState{gapBound: maxGaps + 1} // unknown: the first eviction counts them
	s.byName = map[string]*streamState{}
	s.byID = map[int64]*streamState{}
	s.boots = map[int64]string{}
	rows, err := w.Query(`SELECT id, name, priority, next_seq FROM streams`)
	if err != nil {
		return fmt.Errorf("load streams: %w", err)
	}
	for rows.Next() {
		st := &streamState{}
		if err := rows.Scan(&st.id, &st.name, &st.priority, &st.nextSeq); err != nil {
			rows.Close()
			return fmt.Errorf("load streams: %w", err)
		}
		s.byName[st.name], s.byID[st.id] = st, st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load streams: %w", err)
	}
	for _, st := range s.byID {
		err := w.QueryRow(`SELECT COUNT(*), COALESCE(SUM(length(payload)), 0) FROM records WHERE id BETWEEN ? AND ?`,
			key(st.id, 0), key(st.id, maxSeq)).Scan(&st.records, &st.bytes)
		if err != nil {
			return fmt.Errorf("load stream %s: %w", st.name, err)
		}
		st.bytes += st.records * recordOverhead
		s.wr.used += st.bytes
	}
	if err := w.QueryRow(`SELECT id FROM epoch`).Scan(&s.epoch); err != nil {
		return fmt.Errorf("load epoch: %w", err)
	}
	if _, err := w.Exec(`INSERT OR IGNORE INTO boots(boot) VALUES (?)`, s.opts.BootID); err != nil {
		return fmt.Errorf("register boot: %w", err)
	}
	if err := w.QueryRow(`SELECT id FROM boots WHERE boot = ?`, s.opts.BootID).Scan(&s.bootRow); err != nil {
		return fmt.Errorf("register boot: %w", err)
	}
	rows, err = w.Query(`SELECT id, boot FROM boots`)
	if err != nil {
		return fmt.Errorf("load boots: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var b string
		if err := rows.Scan(&id, &b); err != nil {
			return fmt.Errorf("load boots: %w", err)
		}
		s.boots[id] = b
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load boots: %w", err)
	}
	return s.loadEvictions(w)
}

func (s *Store) loadEvictions(w *sql.DB) error {
	rows, err := w.Query(`SELECT records, bytes FROM evictions`)
	if err != nil {
		return fmt.Errorf("load evictions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n, b int64
		if err := rows.Scan(&n, &b); err != nil {
			return fmt.Errorf("load evictions: %w", err)
		}
		s.wr.evictedRecords += n
		s.wr.evictedBytes += b
	}
	return rows.Err()
}

// ensureReserve (re)creates the reserve file; failing is not fatal, the
// store just has less slack on a full disk.
func (s *Store) ensureReserve() {
	p := s.path + ".reserve"
	if fi, err := os.Stat(p); err == nil && fi.Size() >= s.opts.ReserveBytes {
		return
	}
	if err := os.WriteFile(p, make([]byte, s.opts.ReserveBytes), 0o640); err != nil {
		os.Remove(p)
		s.log.Warn("store: cannot hold reserve space for a full disk", "path", p, "err", err)
	}
}

func (s *Store) releaseReserve() { os.Remove(s.path + ".reserve") }

// mustJSON encodes the store's own alarm maps (strings and numbers), which
// cannot fail to encode.
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
