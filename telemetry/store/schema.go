package store

import (
	"database/sql"
	"fmt"
)

// Records are keyed by one integer, stream id << seqBits | seq, so the table's
// own rowid B-tree orders them by (stream, seq): no second index to write on
// every append, and a range of one stream is a rowid range. 2^44 seqs is 11
// years of a stream appending 50,000 records a second.
const (
	seqBits   = 44
	maxSeq    = 1<<seqBits - 1
	maxStream = 1 << (62 - seqBits)
)

func key(stream int64, seq uint64) int64 { return stream<<seqBits | int64(seq) }
func keySeq(k int64) uint64              { return uint64(k & maxSeq) }

// migrations take the schema from version i to i+1 (PRAGMA user_version).
// Append only: a shipped migration never changes, because boxes in the field
// have already run it.
var migrations = []string{
	// 1: streams, boots and records.
	`CREATE TABLE streams (
		id       INTEGER PRIMARY KEY,
		name     TEXT NOT NULL UNIQUE,
		priority INTEGER NOT NULL,
		next_seq INTEGER NOT NULL
	);
	CREATE TABLE boots (
		id   INTEGER PRIMARY KEY,
		boot TEXT NOT NULL UNIQUE
	);
	CREATE TABLE records (
		id      INTEGER PRIMARY KEY, -- key(stream, seq)
		ts      INTEGER NOT NULL,    -- unix milliseconds at append
		boot    INTEGER NOT NULL,    -- boots.id of the process that appended it
		payload BLOB NOT NULL
	);`,
	// 2: totals of what eviction threw away, kept across restarts for the
	// status page and head office.
	`CREATE TABLE evictions (
		stream  INTEGER PRIMARY KEY,
		records INTEGER NOT NULL,
		bytes   INTEGER NOT NULL
	);`,
	// 3: the database's epoch, drawn once when it is made. Seqs start over
	// only in a new database, so (gateway, epoch, stream, seq) never
	// repeats: head office's dedupe key (README, MQTT contract).
	`CREATE TABLE epoch (id TEXT NOT NULL);
	INSERT INTO epoch (id) VALUES (lower(hex(randomblob(8))));`,
}

// SchemaVersion is the schema version this build writes.
var SchemaVersion = len(migrations)

// migrate brings the database to SchemaVersion, one transaction per step,
// and refuses a database written by a newer build rather than guess.
func migrate(db *sql.DB) error {
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this gatewayd's %d: %w", v, len(migrations), ErrNewerSchema)
	}
	for ; v < len(migrations); v++ {
		tx, err := db.Begin()
		if err != nil {
			return fmt.Errorf("migrate to schema %d: %w", v+1, err)
		}
		if _, err := tx.Exec(migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema %d: %w", v+1, err)
		}
		// PRAGMA takes no bound parameters; v is our own integer.
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to schema %d: %w", v+1, err)
		}
	}
	return nil
}
