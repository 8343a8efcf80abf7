package web

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"
)

// every endpoint of the API, as method and path, with a valid body.
var endpoints = []struct{ method, path, body string }{
	{"GET", "/api/v1/status", ""},
	{"GET", "/api/v1/snapshot", ""},
	{"GET", "/api/v1/history", ""},
	{"GET", "/api/v1/events", ""},
	{"GET", "/api/v1/logs", ""},
	{"GET", "/api/v1/runbook", ""},
	{"GET", "/api/v1/stream", ""},
	{"GET", "/metrics", ""},
	{"POST", "/api/v1/wan/wan1/test", "{}"},
	{"POST", "/api/v1/wan/wan2/force", `{"minutes":5}`},
	{"POST", "/api/v1/components/wan/restart", "{}"},
	{"POST", "/api/v1/reboot", `{"confirm":true}`},
	{"POST", "/api/v1/diagnostics", `{"capture_seconds":0}`},
}

func TestUnauthenticatedRefused(t *testing.T) {
	f, _, ts := newLAN(t)
	c := newClient(t, ts)
	for _, e := range endpoints {
		code, _, body := c.req(e.method, e.path, e.body)
		if code != http.StatusUnauthorized || !strings.Contains(body, "log in") {
			t.Errorf("%s %s without login: %d %q, want 401 with a hint", e.method, e.path, code, body)
		}
	}
	if calls := f.Calls(); len(calls) > 0 {
		t.Errorf("actions ran without login: %v", calls)
	}
	// What stays public: health, the page shell (no data) and login.
	for _, p := range []string{"/healthz", "/", "/assets/app.js", "/assets/style.css", "/api/v1/session"} {
		if code, _, body := c.req("GET", p, ""); code != 200 || strings.Contains(body, "store-1") {
			t.Errorf("GET %s: %d (public, and must carry no state)", p, code)
		}
	}
}

func TestEveryEndpointLoggedIn(t *testing.T) {
	f, _, ts := newLAN(t)
	c := newClient(t, ts)
	c.login()
	for _, e := range endpoints {
		if e.path == "/api/v1/stream" {
			continue // never ends; TestSSE covers it
		}
		code, hdr, body := c.req(e.method, e.path, e.body, csrfHeader, c.csrf)
		if code != 200 {
			t.Errorf("%s %s: %d %s", e.method, e.path, code, body)
		}
		if ct := hdr.Get("Content-Type"); strings.HasPrefix(e.path, "/api/") && e.path != "/api/v1/diagnostics" &&
			ct != "application/json" {
			t.Errorf("%s %s: content type %q", e.method, e.path, ct)
		}
	}
	want := []string{"test wan1", "force wan2 5m0s", "restart wan", "reboot"}
	if got := f.Calls(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("actions ran %q, want %q", got, want)
	}
	// Every action is audited to the event stream.
	var n int
	for _, e := range f.events.Recent(100) {
		if e.Kind == "action" {
			n++
		}
	}
	if n != 5 {
		t.Errorf("%d actions audited, want 5: %+v", n, f.events.Recent(100))
	}
}

func TestLogin(t *testing.T) {
	_, _, ts := newLAN(t)
	c := newClient(t, ts)
	for _, tc := range []struct {
		name, body string
		hdr        []string
		code       int
		want       string
	}{
		{"form post", "password=x", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "as JSON"},
		{"not JSON", "{", nil, 400, "bad JSON"},
		{"unknown field", `{"pass":"x"}`, nil, 400, "unknown field"},
		{"empty", `{"password":""}`, nil, 400, "empty"},
		{"wrong", `{"password":"nope"}`, nil, 401, "wrong password"},
	} {
		code, _, body := c.req("POST", "/api/v1/login", tc.body, tc.hdr...)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	// The right password: an HttpOnly, SameSite=Strict cookie and a CSRF token.
	code, hdr, body := c.req("POST", "/api/v1/login", `{"password":"`+testPassword+`"}`)
	if code != 200 {
		t.Fatalf("login: %d %s", code, body)
	}
	ck := hdr.Get("Set-Cookie")
	for _, w := range []string{cookieName + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(ck, w) {
			t.Errorf("cookie %q lacks %s", ck, w)
		}
	}
	_, _, body = c.req("GET", "/api/v1/session", "")
	if !strings.Contains(body, `"logged_in": true`) || !strings.Contains(body, `"csrf"`) {
		t.Errorf("session after login: %s", body)
	}
	// Logout needs the token, then ends the session.
	if code, _, _ := c.req("POST", "/api/v1/logout", "{}"); code != 403 {
		t.Errorf("logout without CSRF: %d", code)
	}
	var s struct{ CSRF string }
	json.Unmarshal([]byte(body), &s)
	c.req("POST", "/api/v1/logout", "{}", csrfHeader, s.CSRF)
	if code, _, _ := c.req("GET", "/api/v1/status", ""); code != 401 {
		t.Errorf("status after logout: %d", code)
	}
}

func TestLoginRateLimit(t *testing.T) {
	_, _, ts := newLAN(t)
	c := newClient(t, ts)
	for i := range lockAfter {
		if code, _, _ := c.req("POST", "/api/v1/login", `{"password":"guess"}`); code != 401 {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	// Locked: even the right password is refused until the lock ends,
	// and the answer says how long to wait.
	code, hdr, body := c.req("POST", "/api/v1/login", `{"password":"`+testPassword+`"}`)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || !strings.Contains(body, "try again in") {
		t.Errorf("after %d failures: %d %q Retry-After %q", lockAfter, code, body, hdr.Get("Retry-After"))
	}
}

func TestCSRF(t *testing.T) {
	f, _, ts := newLAN(t)
	c := newClient(t, ts)
	c.login()
	for _, tok := range []string{"", "wrong", c.csrf + "x"} {
		for _, e := range endpoints {
			if e.method != "POST" {
				continue
			}
			code, _, body := c.req(e.method, e.path, e.body, csrfHeader, tok)
			if code != http.StatusForbidden || !strings.Contains(body, csrfHeader) {
				t.Errorf("%s with token %q: %d %s", e.path, tok, code, body)
			}
		}
	}
	if calls := f.Calls(); len(calls) > 0 {
		t.Errorf("actions ran without a valid CSRF token: %v", calls)
	}
}

func TestBadRequests(t *testing.T) {
	f, _, ts := newLAN(t)
	c := newClient(t, ts)
	c.login()
	big := `{"minutes":` + strings.Repeat(" ", maxBody) + `5}`
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/api/v1/wan/wan1/force", "", 400, "minutes"},
		{"POST", "/api/v1/wan/wan1/force", `{"minutes":-1}`, 400, "from 1 to 1440"},
		{"POST", "/api/v1/wan/wan1/force", `{"minutes":1441}`, 400, "from 1 to 1440"},
		{"POST", "/api/v1/wan/wan1/force", `{"minutes":"ten"}`, 400, "bad JSON"},
		{"POST", "/api/v1/wan/wan1/force", `{"minutes":5,"wan":"x"}`, 400, "unknown field"},
		{"POST", "/api/v1/wan/wan1/force", `{"minutes":5}{"minutes":6}`, 400, "more than one"},
		{"POST", "/api/v1/wan/wan1/force", big, 400, "over 4096 bytes"},
		{"POST", "/api/v1/wan/wan9/force", `{"minutes":5}`, 404, `no WAN named "wan9" (have wan1, wan2)`},
		{"POST", "/api/v1/wan/wan9/test", `{}`, 404, "no WAN named"},
		{"POST", "/api/v1/components/nope/restart", `{}`, 404, `no component "nope"`},
		{"POST", "/api/v1/reboot", `{}`, 400, "confirm"},
		{"POST", "/api/v1/reboot", `{"confirm":"yes"}`, 400, "bad JSON"},
		{"POST", "/api/v1/diagnostics", `{"capture_seconds":61}`, 400, "want 0 to 60"},
		{"GET", "/api/v1/events?n=0", "", 400, "from 1 to 1000"},
		{"GET", "/api/v1/logs?n=abc", "", 400, "from 1 to 1000"},
		{"GET", "/api/v1/nothing", "", 404, "no endpoint"},
		{"GET", "/api/v2/status", "", 404, "no endpoint"},
		{"DELETE", "/api/v1/status", "", 405, "use GET"},
		{"GET", "/api/v1/reboot", "", 405, "use POST"},
		{"GET", "/assets/../../etc/passwd", "", 404, ""},
	} {
		code, hdr, body := c.req(tc.method, tc.path, tc.body, csrfHeader, c.csrf)
		var e struct{ Error string }
		if json.Unmarshal([]byte(body), &e) == nil && e.Error != "" {
			body = e.Error
		}
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s %.40q: %d %q, want %d with %q", tc.method, tc.path, tc.body, code, body, tc.code, tc.want)
		}
		if code >= 400 && strings.HasPrefix(tc.path, "/api/") && hdr.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: error is not JSON: %q", tc.method, tc.path, hdr.Get("Content-Type"))
		}
	}
	if calls := f.Calls(); len(calls) > 0 {
		t.Errorf("bad requests changed something: %v", calls)
	}
}

func TestSecurityHeaders(t *testing.T) {
	_, _, ts := newLAN(t)
	c := newClient(t, ts)
	_, hdr, body := c.req("GET", "/", "")
	csp := hdr.Get("Content-Security-Policy")
	for _, w := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, w) {
			t.Errorf("CSP %q lacks %s", csp, w)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	if hdr.Get("X-Frame-Options") != "DENY" || hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: %v", hdr)
	}
	// No inline script, no outside URL in the page.
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		b := string(pageAssets[name].body)
		if strings.Contains(b, "http://") && !strings.Contains(b, "http://www.w3.org/2000/svg") || strings.Contains(b, "https://") {
			t.Errorf("%s refers to another site", name)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " on") && strings.Contains(body, "onclick=") {
		t.Error("index.html has inline script")
	}
}

func TestSocketTrusted(t *testing.T) {
	f := newFakeGW(t)
	s := NewSocket(configWeb(), f.deps())
	c := newClient(t, httptestServer(t, s))
	for _, e := range endpoints {
		if e.path == "/api/v1/stream" {
			continue
		}
		if code, _, body := c.req(e.method, e.path, e.body); code != 200 {
			t.Errorf("socket %s %s: %d %s", e.method, e.path, code, body)
		}
	}
	if code, _, _ := c.req("POST", "/api/v1/login", `{"password":"x"}`); code != 400 {
		t.Errorf("login on the socket: %d", code)
	}
}

func TestSessionExpiry(t *testing.T) {
	f := newFakeGW(t)
	d := f.deps()
	advance := fakeClock(&d)
	s := NewLAN(configWeb(), d)
	c := newClient(t, httptestServer(t, s))
	c.login()
	advance(sessionIdle - time.Minute) // used just in time: still valid, and renewed
	if code, _, _ := c.req("GET", "/api/v1/status", ""); code != 200 {
		t.Fatalf("status within the idle limit: %d", code)
	}
	advance(sessionIdle + time.Second)
	if code, _, _ := c.req("GET", "/api/v1/status", ""); code != 401 {
		t.Errorf("status after %s idle: %d", sessionIdle, code)
	}
	// A busy session still ends after sessionMax.
	c.login()
	for elapsed := time.Duration(0); elapsed <= sessionMax; elapsed += 10 * time.Minute {
		advance(10 * time.Minute)
		c.req("GET", "/api/v1/session", "")
	}
	if code, _, _ := c.req("GET", "/api/v1/status", ""); code != 401 {
		t.Errorf("status after %s: %d", sessionMax, code)
	}
	// Sessions are bounded: the least recently used goes first.
	for range maxSessions + 1 {
		c2 := &client{t: t, base: c.base, hc: &http.Client{}}
		c2.hc.Jar, _ = cookiejar.New(nil)
		c2.login()
		advance(time.Second)
	}
	s.auth.mu.Lock()
	n := len(s.auth.sessions)
	s.auth.mu.Unlock()
	if n > maxSessions {
		t.Errorf("%d sessions kept, cap %d", n, maxSessions)
	}
}
