// Package store is the SQLite store-and-forward buffer of telemetry. Every
// record is durable (fsync'd) when Append returns; the uplink reads records
// back per stream and deletes them once the broker has acknowledged them.
//
// One goroutine owns the write connection. Concurrent Appends queue up while
// it commits, and the next transaction takes all of them: one fsync per batch
// (group commit) instead of one per record. The database is kept under a
// byte budget by evicting the oldest records of the least important streams,
// and every eviction is itself recorded as a gap event in the event stream.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// Priority ranks streams: a lower value is more important, sent first and
// evicted last.
type Priority int

// The priorities of DESIGN.md: alarms and events over status over bulk data.
const (
	PriorityAlarm  Priority = 0
	PriorityStatus Priority = 1
	PriorityBulk   Priority = 2
)

// EventStream carries alarms, including the store's own (eviction, corrupt
// file set aside); the uplink publishes it on …/event.
const EventStream = "event"

// StatusStream carries periodic status records.
const StatusStream = "status"

// MaxPayload bounds one record, so any record fits in one 128 KB MQTT message
// with its batch envelope.
const MaxPayload = 64 << 10

// recordOverhead is what a record costs beyond its payload in the budget's
// accounting: key, timestamp, boot and B-tree cell header.
const recordOverhead = 24

// Errors a caller can match with errors.Is.
var (
	ErrClosed      = errors.New("store closed")
	ErrBadRecord   = errors.New("bad record")
	ErrFull        = errors.New("store full: disk has no space even after eviction")
	ErrNewerSchema = errors.New("database from a newer gatewayd")
)

// DefaultPriority is the priority of a stream without an explicit one.
func DefaultPriority(stream string) Priority {
	switch stream {
	case EventStream:
		return PriorityAlarm
	case StatusStream:
		return PriorityStatus
	}
	return PriorityBulk
}

var streamRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Options are the store's injected dependencies and tuning knobs; the zero
// value is the daemon's setting.
type Options struct {
	// BootID identifies this run of the daemon; every record carries the
	// boot id it was appended in, for head office's dedupe key.
	BootID string
	// Priorities overrides DefaultPriority per stream.
	Priorities map[string]Priority
	// MaxBatch bounds records per commit; 1 turns group commit off (the
	// benchmark's comparison). Default 4096.
	MaxBatch int
	// ReserveBytes is disk space held in a side file and given back when the
	// disk is full, so eviction itself has room to run. Default 256 KiB.
	ReserveBytes int64
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnAlarm receives the store's alarms, which are also appended to
	// EventStream already. It runs on the writer goroutine: it must return
	// quickly and must not call Append (that would wait on itself).
	OnAlarm func(Alarm)
}

// Alarm is something the operator should know about the store.
type Alarm struct {
	Kind    string // "store_corrupt", "buffer_eviction", "disk_full"
	Message string
	Time    time.Time
}

// Store is the buffer. All methods are safe for concurrent use.
type Store struct {
	path   string
	log    *slog.Logger
	opts   Options
	budget int64

	w, r *sql.DB
	reqs chan *request
	stop chan struct{}
	done chan struct{}
	once sync.Once

	notify chan struct{}
	snap   atomic.Pointer[Snapshot]

	// mu guards the maps the readers use; the writer goroutine updates them
	// after each commit.
	mu      sync.RWMutex
	byName  map[string]*streamState
	byID    map[int64]*streamState
	boots   map[int64]string
	bootRow int64
	epoch   string // the database's, see migration 3
	corrupt string // where a corrupt file was moved at open, if one was
	newer   string // where a file of a newer schema was moved at open

	wr writerState // owned by the writer goroutine
}

type streamState struct {
	id       int64
	name     string
	priority Priority
	nextSeq  uint64 // committed
	records  int64
	bytes    int64
}

// Open opens or creates the store at cfg.StorePath. A file that fails
// integrity_check is renamed aside (<path>.corrupt-<time>), an alarm raised
// and a fresh store started: telemetry must keep flowing.
func Open(cfg config.Telemetry, log *slog.Logger, opts Options) (*Store, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 4096
	}
	if opts.ReserveBytes <= 0 {
		opts.ReserveBytes = 256 << 10
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BootID == "" {
		opts.BootID = "unknown"
	}
	for name := range opts.Priorities {
		if !streamRE.MatchString(name) {
			return nil, fmt.Errorf("store: stream %q: %w: name must match %s", name, ErrBadRecord, streamRE)
		}
	}
	s := &Store{
		path:   cfg.StorePath,
		log:    log,
		opts:   opts,
		budget: int64(cfg.Budget),
		reqs:   make(chan *request, 4*opts.MaxBatch),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		notify: make(chan struct{}, 1),
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return nil, fmt.Errorf("store %s: %w", s.path, err)
	}
	detail, err := s.openChecked()
	if isFull(err) {
		// The disk filled up while we were down: the reserve is what lets
		// SQLite open (WAL, shared memory) and evict.
		log.Warn("store: disk full at open, releasing the reserve", "path", s.path, "err", err)
		s.releaseReserve()
		detail, err = s.openChecked()
	}
	var newer string
	switch {
	case err != nil && detail != "":
		s.corrupt, err = s.setAside("corrupt", detail)
	case errors.Is(err, ErrNewerSchema):
		// A firmware rollback: the version we left migrated the file, and
		// guessing at its schema could lose or garble records. Keep it for
		// that version, and go on recording in a fresh database (a new
		// epoch, so its seqs never collide with the old file's).
		newer = err.Error()
		s.newer, err = s.setAside("newer", newer)
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", s.path, err)
	}
	s.wr.effBudget = s.budget
	s.ensureReserve()
	s.publish()
	go s.writer()
	if s.corrupt != "" {
		s.alarm(context.Background(), "store_corrupt", map[string]any{
			"moved_to": s.corrupt, "problem": detail,
		}, fmt.Sprintf("telemetry store was corrupt (%s); moved to %s, started a fresh one", detail, s.corrupt))
	}
	if s.newer != "" {
		s.alarm(context.Background(), "store_newer_schema", map[string]any{
			"moved_to": s.newer, "problem": newer,
		}, fmt.Sprintf("telemetry store was written by a newer gatewayd (%s); moved to %s, started a fresh one", newer, s.newer))
	}
	return s, nil
}

// setAside moves the database that failed to open to <path>.<why>-<time>
// and opens a fresh one in its place; it returns where the old one went.
func (s *Store) setAside(why, problem string) (string, error) {
	moved, err := moveAside(s.path, why, s.opts.Now())
	if err != nil {
		return "", fmt.Errorf("%s (%s), and it cannot be moved aside: %w", why, problem, err)
	}
	s.log.Error("store: database moved aside, starting a fresh one", "why", why, "path", s.path, "moved_to", moved, "problem", problem)
	if _, err := s.openChecked(); err != nil {
		return "", fmt.Errorf("fresh database after moving the %s one aside: %w", why, err)
	}
	return moved, nil
}

// Close stops the writer after the queued requests and closes the files.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		err = errors.Join(s.r.Close(), s.w.Close())
	})
	return err
}

// Epoch names this database: a new one, after a corrupt file was set aside
// or the file was lost, has another. With the gateway, stream and seq it is
// head office's dedupe key, which never repeats.
func (s *Store) Epoch() string { return s.epoch }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Notify is signalled after each commit that appended records.
func (s *Store) Notify() <-chan struct{} { return s.notify }

// alarm tells the callback and appends the alarm to the event stream
// without waiting for it (the writer goroutine itself may raise alarms).
func (s *Store) alarm(ctx context.Context, kind string, fields map[string]any, msg string) {
	a := Alarm{Kind: kind, Message: msg, Time: s.opts.Now()}
	if s.opts.OnAlarm != nil {
		s.opts.OnAlarm(a)
	}
	fields["type"] = kind
	fields["message"] = msg
	r, err := s.newAppend(EventStream, mustJSON(fields))
	if err != nil {
		return
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
	case <-s.stop:
	}
}
