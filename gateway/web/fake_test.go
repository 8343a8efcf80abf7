package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/passwd"
)

const testPassword = "correct horse battery"

// testHash is made once: PBKDF2 at the minimum iterations keeps tests fast.
var testHash = func() string {
	h, err := passwd.New(testPassword, 10_000)
	if err != nil {
		panic(err)
	}
	return h
}()

// fakeGW is a daemon for unit tests: the fixture snapshot, which tests
// change, and actions that record their calls.
type fakeGW struct {
	mu     sync.Mutex
	snap   map[string]any
	calls  []string
	events *EventLog
	logs   *LogRing
}

func newFakeGW(t testing.TB) *fakeGW {
	b, err := os.ReadFile("testdata/snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGW{events: NewEventLog(100), logs: NewLogRing(100)}
	if err := json.Unmarshal(b, &f.snap); err != nil {
		t.Fatal(err)
	}
	// The WAN manager's transitions reach the page through the event log.
	b, err = os.ReadFile("testdata/wan_events.json")
	if err != nil {
		t.Fatal(err)
	}
	var evs []json.RawMessage
	if err := json.Unmarshal(b, &evs); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		var we WANEvent
		json.Unmarshal(e, &we)
		f.events.Add(Event{Time: we.Time, Source: "wan", Kind: we.Kind, Message: we.Reason, Detail: e})
	}
	return f
}

func (f *fakeGW) Snapshot() any {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal(f.snap)
	return json.RawMessage(b)
}

func (f *fakeGW) wans() []any {
	return f.snap["parts"].(map[string]any)["wan"].(map[string]any)["wans"].([]any)
}

// setWAN changes one WAN's state (and the active WAN if given).
func (f *fakeGW) setWAN(name, state, reason, active string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.wans() {
		m := w.(map[string]any)
		if m["name"] == name {
			m["state"], m["reason"], m["since"] = state, reason, "2026-11-23T10:42:00Z"
		}
	}
	if active != "" {
		f.snap["parts"].(map[string]any)["wan"].(map[string]any)["active"] = active
	}
}

func (f *fakeGW) record(format string, args ...any) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeGW) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeGW) actions() Actions {
	return ActionFuncs{
		TestWANFunc: func(_ context.Context, wan string) (string, error) {
			f.record("test %s", wan)
			return "3 of 3 targets answer, rtt 12ms", nil
		},
		ForceWANFunc: func(_ context.Context, wan string, d time.Duration) error {
			f.record("force %s %s", wan, d)
			if d > 0 {
				f.setWAN(wan, "up", "forced", wan)
			}
			return nil
		},
		RestartFunc: func(_ context.Context, c string) error {
			f.record("restart %s", c)
			return nil
		},
		RebootFunc: func(context.Context) error { f.record("reboot"); return nil },
		CaptureFunc: func(_ context.Context, w io.Writer, d time.Duration) error {
			f.record("capture %s", d)
			_, err := w.Write([]byte("\xd4\xc3\xb2\xa1fake-pcap"))
			return err
		},
	}
}

// testBase is the fixture's "now"; the test clock runs on from it.
var testBase = time.Date(2026, 11, 23, 10, 42, 30, 0, time.UTC)

// fakeClock stops d's clock at testBase; advance moves it on.
func fakeClock(d *Deps) (advance func(time.Duration)) {
	var mu sync.Mutex
	now := testBase
	d.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	return func(by time.Duration) { mu.Lock(); now = now.Add(by); mu.Unlock() }
}

func testNow() func() time.Time {
	start := time.Now()
	return func() time.Time { return testBase.Add(time.Since(start)) }
}

func testConfig() *config.Config {
	d := config.Defaults()
	c := &d
	c.Site = "store-1"
	c.Web.TechnicianPasswordHash = testHash
	c.MQTT.Password = "mqtt-secret-password"
	return c
}

func (f *fakeGW) deps() Deps {
	cfg := testConfig()
	return Deps{
		Snapshot: f.Snapshot,
		Actions:  f.actions(),
		Config:   func() *config.Config { return cfg },
		Events:   f.events.Recent,
		Logs:     f.logs.Recent,
		Audit:    f.events.Add,
		Now:      testNow(),
	}
}

// newLAN is a LAN server with the fake daemon, served by httptest.
func newLAN(t testing.TB) (*fakeGW, *Server, *httptest.Server) {
	f := newFakeGW(t)
	s := NewLAN(config.Web{TechnicianPasswordHash: testHash}, f.deps())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return f, s, ts
}

// client is a logged-in (or not) HTTP client for a test server.
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
	csrf string
}

func newClient(t testing.TB, ts *httptest.Server) *client {
	hc := ts.Client()
	hc.Jar, _ = cookiejar.New(nil)
	return &client{t: t, base: ts.URL, hc: hc}
}

func (c *client) req(method, path, body string, hdr ...string) (int, http.Header, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1] // net/http sends req.Host, not the header
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (c *client) login() {
	c.t.Helper()
	code, _, b := c.req("POST", "/api/v1/login", `{"password":"`+testPassword+`"}`)
	if code != 200 {
		c.t.Fatalf("login: %d %s", code, b)
	}
	var r struct{ CSRF string }
	if err := json.Unmarshal([]byte(b), &r); err != nil || r.CSRF == "" {
		c.t.Fatalf("login answer %s: %v", b, err)
	}
	c.csrf = r.CSRF
}

func configWeb() config.Web { return config.Web{TechnicianPasswordHash: testHash} }

func httptestServer(t testing.TB, s *Server) *httptest.Server {
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}
