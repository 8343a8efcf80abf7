package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"reflect"
	"strings"
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

// Record adds a component's event of any type (wan.Event, zones.Event,
// inspect.Alarm, …): the source is the Go package that defines its type,
// the kind, time and message come from its JSON fields of those names
// (message, detail or reason for the message), and the whole value is kept
// as Detail. It is meant to sit beside the daemon's telemetry Emit.
func (l *EventLog) Record(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	e := Event{Source: "gateway", Detail: b}
	if t := reflect.TypeOf(v); t != nil {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if p := t.PkgPath(); p != "" {
			e.Source = path.Base(p)
		}
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	str := func(keys ...string) string {
		for _, k := range keys {
			if s, ok := m[k].(string); ok && s != "" {
				return s
			}
		}
		return ""
	}
	e.Kind = cmp.Or(str("kind", "Kind"), "event")
	if t, err := time.Parse(time.RFC3339Nano, str("time", "Time")); err == nil {
		e.Time = t
	} else {
		e.Time = time.Now()
	}
	e.Message = str("message", "Message", "detail", "Detail")
	if to := str("to"); e.Message == "" && to != "" {
		e.Message = strings.TrimSpace(fmt.Sprintf("%s %s → %s: %s", str("wan"), str("from"), to, str("reason")))
	}
	if e.Message == "" {
		e.Message = str("reason", "Reason")
	}
	l.Add(e)
}
