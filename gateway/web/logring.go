package web

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"
)

// LogLine is one recent log record.
type LogLine struct {
	Time  time.Time `json:"time"`
	Level string    `json:"level"`
	Text  string    `json:"text"`
}

// LogRing keeps the daemon's last log lines for the page, gwctl logs and
// the diagnostics bundle. Wrap the daemon's handler with Handler; pass
// Recent as Deps.Logs.
type LogRing struct {
	mu    sync.Mutex
	lines []LogLine
	next  int
	full  bool
}

// NewLogRing keeps the last n lines.
func NewLogRing(n int) *LogRing { return &LogRing{lines: make([]LogLine, max(n, 1))} }

func (r *LogRing) add(l LogLine) {
	r.mu.Lock()
	r.lines[r.next] = l
	r.next = (r.next + 1) % len(r.lines)
	r.full = r.full || r.next == 0
	r.mu.Unlock()
}

// Recent returns up to n lines, oldest first.
func (r *LogRing) Recent(n int) []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := r.next
	if r.full {
		size = len(r.lines)
	}
	n = min(n, size)
	out := make([]LogLine, 0, n)
	for i := size - n; i < size; i++ {
		out = append(out, r.lines[(r.next-size+i+len(r.lines))%len(r.lines)])
	}
	return out
}

// Handler returns a slog.Handler that passes records to next and keeps a
// text copy of those at level or above.
func (r *LogRing) Handler(next slog.Handler, level slog.Leveler) slog.Handler {
	return &ringHandler{next: next, ring: r, level: level}
}

type ringHandler struct {
	next   slog.Handler
	ring   *LogRing
	level  slog.Leveler
	attrs  []slog.Attr
	groups []string
}

func (h *ringHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() || h.next.Enabled(ctx, l)
}

func (h *ringHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= h.level.Level() {
		var b bytes.Buffer
		var th slog.Handler = slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})
		if len(h.attrs) > 0 {
			th = th.WithAttrs(h.attrs)
		}
		for _, g := range h.groups {
			th = th.WithGroup(g)
		}
		_ = th.Handle(ctx, rec)
		h.ring.add(LogLine{Time: rec.Time, Level: rec.Level.String(), Text: string(bytes.TrimRight(b.Bytes(), "\n"))})
	}
	if h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &c
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	c.groups = append(append([]string{}, h.groups...), name)
	return &c
}

// EventLog keeps the last events of the daemon's event stream (alarms,
// state changes, technician actions). Pass Add as Deps.Audit (and feed it
// the components' events), Recent as Deps.Events.
type EventLog struct {
	mu  sync.Mutex
	evs []Event
	max int
}

// NewEventLog keeps the last n events.
func NewEventLog(n int) *EventLog { return &EventLog{max: max(n, 1)} }

// Add appends an event.
func (l *EventLog) Add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.evs) >= l.max {
		l.evs = append(l.evs[:0], l.evs[len(l.evs)-l.max+1:]...)
	}
	l.evs = append(l.evs, e)
}

// Recent returns up to n events, oldest first.
func (l *EventLog) Recent(n int) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = min(n, len(l.evs))
	return append([]Event(nil), l.evs[len(l.evs)-n:]...)
}
