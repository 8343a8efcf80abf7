package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeComp is a component whose behaviour each run is scripted by a test.
type fakeComp struct {
	name string
	runs atomic.Int32
	// behave is called on every run; nil blocks until ctx is done.
	behave func(ctx context.Context, run int) error
}

func (f *fakeComp) Name() string { return f.name }

func (f *fakeComp) Run(ctx context.Context) error {
	n := int(f.runs.Add(1))
	if f.behave != nil {
		return f.behave(ctx, n)
	}
	<-ctx.Done()
	return nil
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// eventually polls cond; the generous limit only guards against a hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func health(s *Supervisor, name string) Health {
	for _, h := range s.Health() {
		if h.Name == name {
			return h
		}
	}
	return Health{}
}

func TestFailingComponentsRestartWithBackoffOthersKeepRunning(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(ctx context.Context, run int) error
	}{
		{"error", func(ctx context.Context, run int) error { return errors.New("boom") }},
		{"panic", func(ctx context.Context, run int) error { panic("nil map write") }},
		{"returns nil early", func(ctx context.Context, run int) error { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := &fakeComp{name: "bad", behave: tc.fail}
			good := &fakeComp{name: "good"}
			logs := &captureHandler{}
			s := NewSupervisor(slog.New(logs), SupervisorOptions{Backoff: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond}, bad, good)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- s.Run(ctx) }()
			eventually(t, "5 restarts", func() bool { return health(s, "bad").Restarts >= 5 })
			if g := health(s, "good"); g.State != StateRunning || g.Restarts != 0 || good.runs.Load() != 1 {
				t.Errorf("good component disturbed: %+v, runs %d", g, good.runs.Load())
			}
			if h := health(s, "bad"); h.LastError == "" {
				t.Error("last error not recorded")
			}
			// The delay doubles from Backoff and is capped at BackoffMax.
			delays := logs.durations("backoff")
			want := []time.Duration{10, 20, 40, 40}
			if len(delays) < len(want) {
				t.Fatalf("backoffs logged: %v", delays)
			}
			for i := range want {
				if delays[i] != want[i]*time.Millisecond {
					t.Errorf("backoff %d = %v, want %v (all: %v)", i, delays[i], want[i]*time.Millisecond, delays)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
}

func TestPanicErrorCarriesStack(t *testing.T) {
	err := runRecovered(context.Background(), &fakeComp{name: "p", behave: func(context.Context, int) error { panic("kaput") }})
	if err == nil || !strings.HasPrefix(err.Error(), "panic: kaput") || !strings.Contains(err.Error(), "goroutine") {
		t.Errorf("got %v", err)
	}
}

func TestShutdownDeadlineNamesStuckComponents(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stuck := &fakeComp{name: "stuck", behave: func(ctx context.Context, _ int) error {
		<-release // ignores ctx
		return nil
	}}
	polite := &fakeComp{name: "polite"}
	s := NewSupervisor(quietLog(), SupervisorOptions{ShutdownTimeout: 50 * time.Millisecond}, stuck, polite)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	eventually(t, "both running", func() bool { return stuck.runs.Load() == 1 && polite.runs.Load() == 1 })
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its shutdown deadline")
	}
	if err == nil || !strings.Contains(err.Error(), "did not stop within 50ms: stuck") {
		t.Errorf("err = %v", err)
	}
	if h := health(s, "polite"); h.State != StateStopped {
		t.Errorf("polite = %+v", h)
	}
}

func TestRestartOnRequest(t *testing.T) {
	c := &fakeComp{name: "c"}
	s := NewSupervisor(quietLog(), SupervisorOptions{}, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	eventually(t, "first run", func() bool { return c.runs.Load() == 1 })
	if err := s.Restart(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second run", func() bool { return c.runs.Load() == 2 })
	if h := health(s, "c"); h.State != StateRunning || h.LastError != "" {
		t.Errorf("after operator restart: %+v", h)
	}
	if err := s.Restart(ctx, "nope"); err == nil || err.Error() != `no component "nope"` {
		t.Errorf("unknown component: %v", err)
	}
}

// readyComp becomes ready only when told.
type readyComp struct {
	fakeComp
	ready chan struct{}
}

func (r *readyComp) Ready() <-chan struct{} { return r.ready }

func TestReadyWaitsForComponents(t *testing.T) {
	slow := &readyComp{fakeComp: fakeComp{name: "slow"}, ready: make(chan struct{})}
	var readyCalls, ticks atomic.Int32
	s := NewSupervisor(quietLog(), SupervisorOptions{Tick: time.Millisecond, OnReady: func() { readyCalls.Add(1) },
		OnTick: func() { ticks.Add(1) }}, slow, &fakeComp{name: "fast"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	eventually(t, "the slow component running", func() bool { return slow.runs.Load() == 1 })
	// Each tick is a turn of the loop that decides READY: 20 of them
	// without it, counted, not slept.
	from := ticks.Load()
	eventually(t, "20 more ticks", func() bool { return ticks.Load() >= from+20 })
	if readyCalls.Load() != 0 || health(s, "slow").State != StateStarting {
		t.Fatalf("ready before the slow component: calls %d, %+v", readyCalls.Load(), health(s, "slow"))
	}
	close(slow.ready)
	eventually(t, "READY", func() bool { return readyCalls.Load() == 1 })
	if h := health(s, "slow"); h.State != StateRunning {
		t.Errorf("slow = %+v", h)
	}
}

// captureHandler keeps log records so tests can read their attributes.
type captureHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *captureHandler) WithGroup(string) slog.Handler            { return h }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}

func (h *captureHandler) durations(key string) []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []time.Duration
	for _, r := range h.recs {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				out = append(out, a.Value.Duration())
			}
			return true
		})
	}
	return out
}
