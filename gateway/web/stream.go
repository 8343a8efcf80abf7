package web

import (
	"net/http"
	"time"
)

const (
	// keepAlive is sent when nothing changed, so proxies and phones keep
	// the connection, and a dead client is noticed.
	keepAlive = 15 * time.Second
	// writeWait drops a client that does not take a message in time.
	writeWait = 10 * time.Second
)

// stream sends the status as Server-Sent Events: one "status" event with
// the whole status JSON each time the hub builds a new one. All clients
// share the hub's one encoding per tick.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		apiError(w, http.StatusServiceUnavailable, "too many live pages open; close one")
		return
	}
	s.hub.watchers.Add(1)
	defer s.hub.watchers.Add(-1)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// retry: the browser reconnects after 2 s when the daemon restarts.
	if !send([]byte("retry: 2000\n\n")) {
		return
	}
	var last *frame
	ka := time.NewTicker(keepAlive)
	defer ka.Stop()
	for {
		wake := s.hub.changed()
		f := s.hub.current(2 * s.hub.tick)
		if f != last && f.json != nil {
			last = f
			if !s.local && s.auth.peek(r) == nil {
				send([]byte("event: logout\ndata: {}\n\n"))
				return
			}
			msg := make([]byte, 0, len(f.json)+32)
			msg = append(msg, "event: status\ndata: "...)
			msg = append(msg, f.json...)
			msg = append(msg, "\n\n"...)
			if !send(msg) {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-wake:
		case <-ka.C:
			if !send([]byte(": keep-alive\n\n")) {
				return
			}
		}
	}
}
