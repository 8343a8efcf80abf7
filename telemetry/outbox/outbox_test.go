package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/telemetry/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	c := config.Defaults().Telemetry
	c.StorePath = filepath.Join(t.TempDir(), "telemetry.db")
	s, err := store.Open(c, slog.New(slog.NewTextHandler(io.Discard, nil)), store.Options{BootID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// run starts Run against whatever *cur holds, and stops it in t.Cleanup.
func run(t *testing.T, o *Outbox, cur *atomic.Pointer[store.Store]) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Run(ctx, func() Store {
			if s := cur.Load(); s != nil {
				return s
			}
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func read(t *testing.T, s *store.Store, stream string) []store.Record {
	t.Helper()
	recs, err := s.Read(context.Background(), stream, 0, 0, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// While no store is open, records wait in the queue; what does not fit is
// dropped and counted; once a store opens the queue goes in, in order, led
// by one events_dropped event that says how many were lost and when.
func TestHoldsWhileNoStoreAndReportsDrops(t *testing.T) {
	o := New(5, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var cur atomic.Pointer[store.Store]
	// Filled before Run starts: a running Run takes records out of the
	// queue into its batch, which would make room for more (the test
	// failed when it did so between two Puts).
	for i := range 8 {
		ok := o.Put(store.EventStream, fmt.Appendf(nil, `{"type":"test","i":%d}`, i))
		if want := i < 5; ok != want {
			t.Fatalf("Put %d: %v, want %v", i, ok, want)
		}
	}
	run(t, o, &cur)
	waitFor(t, "the queue taken into a batch", func() bool { return o.Snapshot().Queued == 5 })
	if sn := o.Snapshot(); sn.Dropped != 3 || sn.Stored != 0 {
		t.Fatalf("snapshot %+v, want 3 dropped, nothing stored", sn)
	}
	s := openStore(t)
	cur.Store(s)
	waitFor(t, "the queue stored", func() bool { return o.Snapshot().Stored == 5 })
	recs := read(t, s, store.EventStream)
	if len(recs) != 6 {
		t.Fatalf("%d events stored, want the drop report and 5", len(recs))
	}
	var report struct {
		Type    string
		Dropped int
	}
	if err := json.Unmarshal(recs[0].Payload, &report); err != nil || report.Type != "events_dropped" || report.Dropped != 3 {
		t.Fatalf("first event %s, want events_dropped with 3", recs[0].Payload)
	}
	for i, r := range recs[1:] {
		if want := fmt.Sprintf(`{"type":"test","i":%d}`, i); string(r.Payload) != want {
			t.Errorf("event %d is %s, want %s (in order)", i, r.Payload, want)
		}
	}
	if sn := o.Snapshot(); sn.Queued != 0 || sn.Dropped != 3 {
		t.Errorf("snapshot %+v after delivery", sn)
	}
	// Nothing more to report: the next record goes alone.
	o.Put("flows", []byte(`{"n":1}`))
	waitFor(t, "a later record", func() bool { return len(read(t, s, "flows")) == 1 })
	if n := len(read(t, s, store.EventStream)); n != 6 {
		t.Errorf("%d events, want still 6", n)
	}
}

// A record the store refuses (not JSON) is logged and dropped; it does not
// hold up the rest.
func TestBadRecordDoesNotBlock(t *testing.T) {
	o := New(10, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var cur atomic.Pointer[store.Store]
	s := openStore(t)
	cur.Store(s)
	run(t, o, &cur)
	o.Put("flows", []byte(`not json`))
	o.Put("flows", []byte(`{"ok":true}`))
	waitFor(t, "the good record", func() bool { return len(read(t, s, "flows")) == 1 })
	waitFor(t, "an empty queue", func() bool { return o.Snapshot().Queued == 0 })
}
