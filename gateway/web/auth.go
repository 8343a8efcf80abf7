package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/branchgw/branchgw/gateway/passwd"
)

const (
	cookieName = "bgw_session"
	csrfHeader = "X-CSRF-Token"
	// sessionIdle ends a session the technician has not used for 15
	// minutes, as PCI DSS 4.0 (8.2.8) asks; the page's own refreshes do not
	// count as use (backgroundHeader).
	sessionIdle = 15 * time.Minute
	// backgroundHeader marks a request the page makes by itself (a timed
	// refresh): it needs a session but does not keep it alive.
	backgroundHeader = "X-Bgw-Background"
	sessionMax       = 12 * time.Hour
	maxSessions      = 16
	// A client is locked out after lockAfter failed logins, for lockFirst,
	// doubling with each further failure up to lockMax; failures are
	// forgotten after failWindow without a failure or a lock.
	lockAfter  = 5
	lockFirst  = time.Minute
	lockMax    = 15 * time.Minute
	failWindow = 15 * time.Minute
	// basicTTL is how long a verified /metrics basic-auth password is
	// remembered, so a scraper does not cost a PBKDF2 run every 15 s.
	basicTTL = 10 * time.Minute
)

type session struct {
	csrf     string
	created  time.Time
	lastSeen time.Time
	// hash is the password hash it logged in against: a new password ends
	// it (issue 18, 4).
	hash string
}

type failures struct {
	n           int
	last, until time.Time
}

// auth holds the technician sessions and the login rate limiter. The
// password check itself is PBKDF2 (gateway/passwd), constant-time; only
// one runs at a time, so a flood of logins cannot eat the box's CPU.
type auth struct {
	now      func() time.Time
	hash     func() string
	verify   chan struct{}
	mu       sync.Mutex
	sessions map[string]*session
	fails    map[string]*failures
	basic    map[[32]byte]time.Time
}

func newAuth(now func() time.Time, hash func() string) *auth {
	return &auth{now: now, hash: hash, verify: make(chan struct{}, 1),
		sessions: map[string]*session{}, fails: map[string]*failures{}, basic: map[[32]byte]time.Time{}}
}

func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails on Linux (getrandom)
	return base64.RawURLEncoding.EncodeToString(b)
}

func clientIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// admit counts an attempt from ip as a failure before its password is
// checked, and reports how long ip must wait when it is locked out. Counted
// first, parallel guesses cannot all pass the lock while the checks queue
// (issue 18, 3: 40 at once were all checked). A right password forgets
// the count again (succeeded).
func (a *auth) admit(ip string) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	f := a.fails[ip]
	if f != nil && now.Before(f.until) {
		return f.until.Sub(now)
	}
	// Forgotten only after a window quiet of failures and of locks, so the
	// lock keeps doubling up to lockMax instead of starting over each time
	// a 15-minute lock runs out.
	if f == nil || now.Sub(later(f.last, f.until)) > failWindow {
		f = &failures{}
		a.fails[ip] = f
	}
	f.n++
	f.last = now
	if f.n >= lockAfter {
		f.until = now.Add(min(lockFirst<<min(f.n-lockAfter, 10), lockMax))
	}
	// Keep the table bounded: forget clients quiet for a window.
	if len(a.fails) > 1024 {
		for k, v := range a.fails {
			if now.Sub(later(v.last, v.until)) > failWindow {
				delete(a.fails, k)
			}
		}
	}
	return 0
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// succeeded forgets ip's failures after a right password.
func (a *auth) succeeded(ip string) {
	a.mu.Lock()
	delete(a.fails, ip)
	a.mu.Unlock()
}

// check verifies a password, one check at a time.
func (a *auth) check(r *http.Request, password string) bool {
	h := a.hash()
	if h == "" {
		return false
	}
	select {
	case a.verify <- struct{}{}:
	case <-r.Context().Done():
		return false
	}
	defer func() { <-a.verify }()
	return passwd.Verify(h, password)
}

// login checks the password of a request admit let through and opens a
// session.
func (a *auth) login(r *http.Request, password string) (tok string, s *session, ok bool) {
	h := a.hash()
	if !a.check(r, password) {
		return "", nil, false
	}
	a.succeeded(clientIP(r))
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(now)
	if len(a.sessions) >= maxSessions { // drop the least recently used
		var oldest string
		for k, v := range a.sessions {
			if oldest == "" || v.lastSeen.Before(a.sessions[oldest].lastSeen) {
				oldest = k
			}
		}
		delete(a.sessions, oldest)
	}
	tok = token()
	s = &session{csrf: token(), created: now, lastSeen: now, hash: h}
	a.sessions[tok] = s
	return tok, s, true
}

func (a *auth) expireLocked(now time.Time) {
	for k, v := range a.sessions {
		if now.Sub(v.lastSeen) > sessionIdle || now.Sub(v.created) > sessionMax {
			delete(a.sessions, k)
		}
	}
}

// session returns the request's live session, or nil. The request counts
// as the technician's use, unless it carries backgroundHeader.
func (a *auth) session(r *http.Request) *session {
	return a.lookup(r, r.Header.Get(backgroundHeader) == "")
}

// peek returns the request's live session without counting as use: the
// live stream's frames, and its reconnects, keep nobody logged in.
func (a *auth) peek(r *http.Request) *session { return a.lookup(r, false) }

func (a *auth) lookup(r *http.Request, use bool) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	if s == nil {
		return nil
	}
	if now.Sub(s.lastSeen) > sessionIdle || now.Sub(s.created) > sessionMax || s.hash != a.hash() {
		delete(a.sessions, c.Value)
		return nil
	}
	if use {
		s.lastSeen = now
	}
	return s
}

func (a *auth) logout(r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
}

// csrfOK checks the action's token against the session's.
func csrfOK(r *http.Request, s *session) bool {
	got := r.Header.Get(csrfHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// basicOK checks HTTP basic auth (for a Prometheus scraper), remembering
// a verified password for basicTTL. Wrong passwords count toward the same
// lock as logins; wait says how long a locked-out client must wait, and
// tried whether a password was given at all.
func (a *auth) basicOK(r *http.Request) (ok, tried bool, wait time.Duration) {
	_, pw, given := r.BasicAuth()
	if !given {
		return false, false, 0
	}
	key := sha256.Sum256([]byte(a.hash() + "\x00" + pw))
	now := a.now()
	a.mu.Lock()
	exp, hit := a.basic[key]
	a.mu.Unlock()
	if hit && now.Before(exp) {
		return true, true, 0
	}
	ip := clientIP(r)
	if d := a.admit(ip); d > 0 {
		return false, true, d
	}
	if !a.check(r, pw) {
		return false, true, 0
	}
	a.succeeded(ip)
	a.mu.Lock()
	if len(a.basic) > 8 {
		clear(a.basic)
	}
	a.basic[key] = now.Add(basicTTL)
	a.mu.Unlock()
	return true, true, 0
}
