package firmware

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// fakeManager is the slot manager for unit tests.
type fakeManager struct {
	mu        sync.Mutex
	status    Status
	statusErr error
	markErrs  []error // returned by successive MarkGood calls
	marks     int
}

func (f *fakeManager) Status(context.Context) (Status, error) { return f.status, f.statusErr }

func (f *fakeManager) MarkGood(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.marks++
	if len(f.markErrs) > 0 {
		err := f.markErrs[0]
		f.markErrs = f.markErrs[1:]
		return err
	}
	return nil
}

func (f *fakeManager) Install(context.Context, string, func(Progress)) error { return nil }

func (f *fakeManager) markCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.marks
}

var bootedB = Status{Compatible: "branchgw-x86_64", Booted: "B", Primary: "B", Slots: []Slot{
	{Name: "rootfs.0", Bootname: "A", State: "inactive", BootStatus: "good", Version: "v1.0.0"},
	{Name: "rootfs.1", Bootname: "B", State: "booted", BootStatus: "bad", Version: "v1.1.0"},
}}

// obs is one look at health at a time (seconds after boot).
type obs struct {
	at      int
	healthy bool
}

func TestMarkGoodNeedsAnUnbrokenHealthyStretch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hold     time.Duration
		looks    []obs
		markErrs []error
		marks    int
		state    string
		markedAt int
	}{
		{"healthy from the start", time.Minute,
			[]obs{{0, true}, {30, true}, {59, true}, {60, true}, {61, true}}, nil, 1, StateGood, 60},
		{"never healthy", time.Minute,
			[]obs{{0, false}, {60, false}, {600, false}}, nil, 0, StateWaiting, -1},
		{"a break restarts the clock", time.Minute,
			[]obs{{0, true}, {50, false}, {55, true}, {100, true}, {115, true}, {116, true}}, nil, 1, StateGood, 115},
		{"healthy but not long enough", 5 * time.Minute,
			[]obs{{0, true}, {299, true}}, nil, 0, StateWaiting, -1},
		{"mark-good fails once, retried", time.Minute,
			[]obs{{0, true}, {60, true}, {61, true}, {62, true}}, []error{errors.New("rauc: D-Bus timeout")}, 2, StateGood, 61},
	} {
		t.Run(tc.name, func(t *testing.T) {
			boot := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
			now := boot
			healthy := false
			fm := &fakeManager{status: bootedB, markErrs: tc.markErrs}
			var events []Event
			m := NewMarker(config.Firmware{MarkGoodAfter: config.Duration(tc.hold)}, Deps{
				Manager: fm,
				Healthy: func() (bool, string) {
					if healthy {
						return true, ""
					}
					return false, "wan: both WANs down"
				},
				Emit: func(e Event) { events = append(events, e) },
				Now:  func() time.Time { return now },
			})
			booted, _ := bootedB.BootedSlot()
			for _, o := range tc.looks {
				now = boot.Add(time.Duration(o.at) * time.Second)
				healthy = o.healthy
				if m.Snapshot().State != StateGood {
					m.step(context.Background(), booted)
				}
			}
			s := m.Snapshot()
			if fm.marks != tc.marks || s.State != tc.state {
				t.Fatalf("marks %d state %s, want %d %s (snapshot %+v)", fm.marks, s.State, tc.marks, tc.state, s)
			}
			if tc.markedAt >= 0 && !s.MarkedAt.Equal(boot.Add(time.Duration(tc.markedAt)*time.Second)) {
				t.Errorf("marked at %v, want +%ds", s.MarkedAt.Sub(boot), tc.markedAt)
			}
			if tc.state == StateWaiting && !healthy && s.Waiting != "wan: both WANs down" {
				t.Errorf("snapshot does not say what it waits for: %+v", s)
			}
			kinds := map[string]int{}
			for _, e := range events {
				kinds[e.Kind]++
				if e.Slot != "B" || e.Version != "v1.1.0" {
					t.Errorf("event %+v does not name slot B v1.1.0", e)
				}
			}
			if kinds[EventMarkedGood] != min(tc.marks-len(tc.markErrs), 1) || kinds[EventMarkGoodFailed] != len(tc.markErrs) {
				t.Errorf("events %v", kinds)
			}
		})
	}
}

func TestRunReportsBootAndMarksOnce(t *testing.T) {
	fm := &fakeManager{status: bootedB}
	events := make(chan Event, 8)
	m := NewMarker(config.Firmware{MarkGoodAfter: config.Duration(time.Minute)}, Deps{
		Manager: fm,
		Healthy: func() (bool, string) { return true, "" },
		Emit:    func(e Event) { events <- e },
		// A fake clock that jumps 30 s per look: the hold passes in ticks.
		Now:  fakeClock(30 * time.Second),
		Tick: time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	if e := <-events; e.Kind != EventBooted || !strings.Contains(e.Message, "booted slot B (bad)") {
		t.Errorf("first event %+v, want the booted slot", e)
	}
	if e := <-events; e.Kind != EventMarkedGood {
		t.Errorf("second event %+v, want marked good", e)
	}
	time.Sleep(20 * time.Millisecond) // more ticks: no second mark
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after cancel", err)
	}
	if n := fm.markCount(); n != 1 {
		t.Errorf("marked %d times, want once", n)
	}
	if s := m.Snapshot(); s.State != StateGood || s.Booted != "B" || s.BootStatus != "good" {
		t.Errorf("snapshot %+v", s)
	}
}

func fakeClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}

func TestRunWithoutSlotManagerOrHold(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fm    *fakeManager
		hold  time.Duration
		state string
		err   bool
	}{
		{"no rauc", &fakeManager{statusErr: ErrUnsupported}, time.Minute, StateUnsupported, false},
		{"hold 0", &fakeManager{status: bootedB}, 0, StateDisabled, false},
		{"status fails", &fakeManager{statusErr: errors.New("rauc status: D-Bus not running")}, time.Minute, StateWaiting, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMarker(config.Firmware{MarkGoodAfter: config.Duration(tc.hold)}, Deps{
				Manager: tc.fm, Healthy: func() (bool, string) { return true, "" }, Tick: time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := m.Run(ctx)
			if (err != nil) != tc.err {
				t.Errorf("Run err = %v, want error %v", err, tc.err)
			}
			if s := m.Snapshot(); s.State != tc.state {
				t.Errorf("state %s, want %s", s.State, tc.state)
			}
			if tc.fm.marks != 0 {
				t.Errorf("marked good %d times", tc.fm.marks)
			}
		})
	}
}
