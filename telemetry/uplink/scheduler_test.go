package uplink

import (
	"cmp"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/branchgw/branchgw/telemetry/store"
)

// The scheduler's order and replay cap, step by step on a fake clock (the
// store is a real SQLite file).
func TestSchedulerOrderAndReplayCap(t *testing.T) {
	_, tc := testConfigs(t, "")
	s, err := store.Open(tc, testLogger(t), store.Options{BootID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	add := func(stream string, n int) {
		for i := range n {
			if _, err := s.Append(ctx, stream, fmt.Appendf(nil, `{"i":%d}`, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("flows", 250)         // backlog from before the connection
	add(store.EventStream, 2) // backlog alarms
	now := time.Unix(1700000000, 0)
	u := &Uplink{prefix: "branchgw/" + testSite, batchRecs: 100, batchByte: 128 << 10, replay: 50 * time.Millisecond,
		deps: Deps{Store: s, Now: func() time.Time { return now }, Linger: 500 * time.Millisecond,
			Identity: Identity{GatewayID: testSite}}}
	sch := u.newScheduler()

	type want struct {
		stream      string // "" = nothing due
		first, last uint64
		historical  bool
		wake        time.Duration // when nothing is due
		maxBytes    int           // the pacer's batch size; 0 for 128 KiB
	}
	step := func(name string, w want) {
		t.Helper()
		b, wake, err := sch.next(ctx, cmp.Or(w.maxBytes, 128<<10))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case w.stream == "" && b != nil:
			t.Fatalf("%s: got %s %d..%d, want nothing due", name, b.stream, b.first, b.last)
		case w.stream == "" && wake != w.wake:
			t.Fatalf("%s: wake in %s, want %s", name, wake, w.wake)
		case w.stream == "":
		case b == nil:
			t.Fatalf("%s: nothing due, want %s %d..%d", name, w.stream, w.first, w.last)
		case b.stream != w.stream || b.first != w.first || b.last != w.last:
			t.Fatalf("%s: got %s %d..%d, want %s %d..%d", name, b.stream, b.first, b.last, w.stream, w.first, w.last)
		case (string(b.payload[len(b.payload)-5:]) == "true}") != w.historical:
			t.Fatalf("%s: historical flag wrong in %s", name, b.payload[len(b.payload)-30:])
		}
	}
	step("backlog alarms first", want{stream: store.EventStream, first: 1, last: 2, historical: true})
	step("then the backlog", want{stream: "flows", first: 1, last: 100, historical: true})
	step("replay is capped", want{wake: 50 * time.Millisecond})
	add(store.EventStream, 1)
	step("a live alarm does not wait for the cap", want{stream: store.EventStream, first: 3, last: 3})
	add("flows", 10)
	step("live bulk lingers, the cap is the nearer deadline", want{wake: 50 * time.Millisecond})
	now = now.Add(50 * time.Millisecond)
	step("backlog before live bulk", want{stream: "flows", first: 101, last: 200, historical: true})
	step("capped again", want{wake: 50 * time.Millisecond})
	now = now.Add(50 * time.Millisecond)
	step("last of the backlog", want{stream: "flows", first: 201, last: 250, historical: true})
	step("live bulk waits out its linger", want{wake: 400 * time.Millisecond})
	now = now.Add(400 * time.Millisecond)
	step("lingered long enough", want{stream: "flows", first: 251, last: 260})
	step("idle", want{wake: idleWake})
	add("flows", 100)
	step("a full batch does not linger", want{stream: "flows", first: 261, last: 360})
	sch.redo(&batch{stream: "flows", first: 101, last: 200, historical: true})
	add(store.EventStream, 1)
	step("a failed publish goes again first", want{stream: "flows", first: 101, last: 200, historical: true})
	step("then the live alarm", want{stream: store.EventStream, first: 4, last: 4})
	sch.redo(&batch{stream: "flows", first: 1, last: 10, historical: true})
	// The encoder keeps room for a record's envelope at its widest (63
	// bytes) and the batch's tail (86): 300 bytes take two of these.
	step("a slower line splits a failed batch", want{stream: "flows", first: 1, last: 2, historical: true, maxBytes: 300})
	step("and sends the rest after it", want{stream: "flows", first: 3, last: 10, historical: true})
	step("idle again", want{wake: idleWake})
}
