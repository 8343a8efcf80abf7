package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds every request body; the API takes small JSON only.
const maxBody = 4 << 10

// handler routes the API. On the socket every request is trusted (the
// socket's mode is the access control); on the LAN everything but the
// health endpoint, the page shell and login needs a session, and every
// action also needs the session's CSRF token.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /assets/{file}", s.asset)
	mux.HandleFunc("POST /api/v1/login", s.login)
	mux.HandleFunc("POST /api/v1/logout", s.logout)
	mux.HandleFunc("GET /api/v1/session", s.sessionInfo)

	view := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.viewer(h)) }
	view("GET /api/v1/status", s.status)
	view("GET /api/v1/snapshot", s.snapshot)
	view("GET /api/v1/history", s.historyJSON)
	view("GET /api/v1/events", s.events)
	view("GET /api/v1/logs", s.logs)
	view("GET /api/v1/runbook", s.runbook)
	mux.Handle("GET /api/v1/stream", s.watcher(http.HandlerFunc(s.stream)))
	mux.Handle("GET /metrics", s.metricsAuth(s.metrics()))

	act := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.actor(h)) }
	act("POST /api/v1/wan/{name}/test", s.testWAN)
	act("POST /api/v1/wan/{name}/force", s.forceWAN)
	act("POST /api/v1/components/{name}/restart", s.restart)
	act("POST /api/v1/reboot", s.reboot)
	act("POST /api/v1/diagnostics", s.diagnostics)

	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		// The path may exist with another method: say so rather than 404.
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pat := mux.Handler(probe); pat != "/api/" && pat != "" {
				w.Header().Set("Allow", m)
				apiError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, m))
				return
			}
		}
		apiError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s (gwctl help lists what there is)", r.Method, r.URL.Path))
	})
	return s.secure(mux)
}

// secure adds the security headers and turns a handler panic into a 500
// instead of a dropped connection.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if s.tls() {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.deps.Logger.Error("web: handler panicked", "path", r.URL.Path, "panic", v)
				apiError(w, http.StatusInternalServerError, "internal error; see the daemon log")
			}
		}()
		if !s.local && s.misdirected(w, r) {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether a LAN request's Host names the box: an IP
// address (a browser's origin is then that address, so another site's
// script cannot read the answer) or one of web.hostnames. A name a DNS
// rebinding attack points at the box is refused before any handler runs.
func (s *Server) hostAllowed(hostport string) bool {
	host := strings.TrimSuffix(strings.ToLower(hostName(hostport)), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return host != "" && slices.Contains(s.cfg.Hostnames, host)
}

// hostName is a Host header's host: without its port, and an IPv6
// address without its brackets.
func hostName(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// misdirected answers 421 and reports true when r's Host does not name
// the box.
func (s *Server) misdirected(w http.ResponseWriter, r *http.Request) bool {
	if s.hostAllowed(r.Host) {
		return false
	}
	host := r.Host
	if len(host) > 64 {
		host = host[:64] + "…"
	}
	apiError(w, http.StatusMisdirectedRequest, fmt.Sprintf("host %q: this page answers to its IP address and web.hostnames only", host))
	return true
}

// viewer lets a request through if it may see the state.
func (s *Server) viewer(next http.Handler) http.Handler { return s.loggedIn(s.auth.session, next) }

// watcher is viewer for the live stream: opening it (the browser reopens
// it by itself) does not count as the technician's use of the session.
func (s *Server) watcher(next http.Handler) http.Handler { return s.loggedIn(s.auth.peek, next) }

func (s *Server) loggedIn(session func(*http.Request) *session, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.local && session(r) == nil {
			apiError(w, http.StatusUnauthorized, "log in first (POST /api/v1/login)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// actor lets an action through: a session and its CSRF token on the LAN.
func (s *Server) actor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.local {
			sess := s.auth.session(r)
			if sess == nil {
				apiError(w, http.StatusUnauthorized, "log in first (POST /api/v1/login)")
				return
			}
			if !csrfOK(r, sess) {
				s.audit(r, "action_refused", "refused %s %s: missing or wrong CSRF token", r.Method, r.URL.Path)
				apiError(w, http.StatusForbidden, "missing or wrong "+csrfHeader+" header; reload the page")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// audit records who did what in the event stream and the log.
func (s *Server) audit(r *http.Request, kind, format string, args ...any) {
	who := "gwctl"
	if !s.local {
		who = "technician at " + clientIP(r)
	}
	msg := who + ": " + fmt.Sprintf(format, args...)
	s.deps.Logger.Info("web: audit", "kind", kind, "msg", msg)
	if s.deps.Audit != nil {
		s.deps.Audit(Event{Time: s.deps.Now(), Source: s.Name(), Kind: kind, Message: msg})
	}
}

// apiError is the one error shape of the API: {"error": "one sentence"}.
func apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// writeJSON renders into a buffer first so a failure never sends half a body.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encoding state: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeRaw(w, code, append(b, '\n'))
}

func writeRaw(w http.ResponseWriter, code int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b)
}

// readJSON decodes a small JSON body strictly: an unknown field or a
// second value is an error, so a typo never silently does nothing.
// isJSON reports whether a Content-Type is JSON: "application/json", with
// parameters or none ("; charset=utf-8", as browsers and fetch libraries
// send it), in any case, and in UTF-8 if a charset is named.
func isJSON(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	cs, named := params["charset"]
	return err == nil && mt == "application/json" && (!named || strings.EqualFold(cs, "utf-8"))
}

func readJSON(r *http.Request, into any) error {
	if r.ContentLength == 0 && r.Body == http.NoBody {
		return nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body over %d bytes", maxBody)
		}
		return fmt.Errorf("reading the request body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return fmt.Errorf("content type %q: send application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("bad JSON body: %w", err)
	}
	if dec.More() {
		return errors.New("bad JSON body: more than one value")
	}
	return nil
}

// current is the latest status, or an error response.
func (s *Server) current(w http.ResponseWriter) *frame {
	f := s.hub.current(time.Second)
	if f.err != nil || f.st == nil {
		apiError(w, http.StatusServiceUnavailable, fmt.Sprintf("status unavailable: %v", f.err))
		return nil
	}
	return f
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	if f := s.current(w); f != nil {
		writeRaw(w, http.StatusOK, f.json)
	}
}

func (s *Server) snapshot(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.deps.Snapshot())
}

func (s *Server) historyJSON(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.hub.history())
}

// count reads the n query parameter: how many entries, 1..1000.
func count(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("n")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, fmt.Errorf("n=%q: want a number from 1 to 1000", v)
	}
	return n, nil
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	n, err := count(r, 100)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	ev := []Event{}
	if s.deps.Events != nil {
		ev = append(ev, s.deps.Events(n)...)
	}
	writeJSON(w, http.StatusOK, ev)
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	n, err := count(r, 200)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	ls := []LogLine{}
	if s.deps.Logs != nil {
		ls = append(ls, s.deps.Logs(n)...)
	}
	writeJSON(w, http.StatusOK, ls)
}

func (s *Server) runbook(w http.ResponseWriter, _ *http.Request) {
	type entry struct {
		Kind     string `json:"kind"`
		WhatToDo string `json:"what_to_do"`
	}
	out := make([]entry, len(Runbook))
	for i, r := range Runbook {
		out[i] = entry(r)
	}
	writeJSON(w, http.StatusOK, out)
}
