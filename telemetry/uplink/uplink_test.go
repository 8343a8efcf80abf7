package uplink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/branchgw/branchgw/telemetry/mqtttest"
	"github.com/branchgw/branchgw/telemetry/store"
)

func TestDeliversBatchesAndDeletesOnlyAfterPuback(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{})
	m, tc := testConfigs(t, b.URL())
	r := startRig(t, m, tc, Deps{ActiveWAN: func() string { return "fibre" }})
	r.waitSnapshot(10*time.Second, "connected", func(s *Snapshot) bool { return s.Connected })

	ctx := context.Background()
	for i := range 250 {
		if _, err := r.store.Append(ctx, "flows", fmt.Appendf(nil, `{"i":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.store.Append(ctx, store.EventStream, []byte(`{"type":"wan_down","wan":"lte"}`)); err != nil {
		t.Fatal(err)
	}
	ok := sub.WaitFor(10*time.Second, func(ms []mqtttest.Message) bool {
		ta := count(t, ms)
		return ta.has("flows", 250) && ta.has(store.EventStream, 1)
	})
	ta := count(t, sub.Messages())
	if !ok {
		t.Fatalf("missing flows %v", ta.missing("flows", 250))
	}
	for _, bt := range ta.batches {
		if bt.Historical || len(bt.Records) > 100 || bt.Boot != "boot-1" {
			t.Fatalf("batch %s %d..%d (%d records) boot %s historical %t: want live, ≤100 records, boot-1",
				bt.Stream, bt.FirstSeq, bt.LastSeq, len(bt.Records), bt.Boot, bt.Historical)
		}
	}
	if len(ta.status) == 0 || ta.status[0] != "online" {
		t.Fatalf("status messages %v, want the online birth first", ta.status)
	}
	// Deleted once acknowledged: the store drains to empty.
	r.waitSnapshot(10*time.Second, "empty backlog", func(s *Snapshot) bool {
		return s.BacklogRecords == 0 && s.AckedRecords == 251 && !s.LastAck.IsZero()
	})
	r.stop()
	// A clean shutdown says offline itself (the broker drops the will on DISCONNECT).
	if !sub.WaitFor(5*time.Second, func(ms []mqtttest.Message) bool {
		st := count(t, ms).status
		return len(st) > 0 && st[len(st)-1] == "offline"
	}) {
		t.Fatalf("no offline status after shutdown: %v", count(t, sub.Messages()).status)
	}
	// The status is retained: a late subscriber sees the last one at once.
	late := mqtttest.Subscribe(t, b.URL(), "branchgw/"+testSite+"/status", mqtttest.SubscriberOptions{ClientID: "late"})
	if !late.WaitFor(5*time.Second, func(ms []mqtttest.Message) bool { return len(ms) == 1 && ms[0].Retained }) {
		t.Fatalf("retained status: %+v", late.Messages())
	}
}

// Issue 5: broker stopped for 60 s during a steady 1,000 records/s, then
// started: every seq arrives, none lost; duplicates only within one
// in-flight window. The outage is 3 s unless BRANCHGW_LONG=1.
func TestBrokerOutageLosesNothing(t *testing.T) {
	outage := 3 * time.Second
	if longRun() {
		outage = 60 * time.Second
	}
	b := mqtttest.Start(t, mqtttest.Options{Persist: true})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/+/telemetry/#", mqtttest.SubscriberOptions{Persistent: true})
	m, tc := testConfigs(t, b.URL())
	r := startRig(t, m, tc, Deps{})
	r.waitSnapshot(10*time.Second, "connected", func(s *Snapshot) bool { return s.Connected })

	p := produce(r.store, "flows", 1000)
	time.Sleep(time.Second)
	b.Stop()
	r.waitSnapshot(30*time.Second, "disconnected", func(s *Snapshot) bool { return !s.Connected })
	time.Sleep(outage)
	backlog := r.up.Snapshot().BacklogRecords
	b.Restart()
	time.Sleep(time.Second)
	last, errs := p.Stop()
	if errs != 0 {
		t.Fatalf("%d appends failed", errs)
	}
	ok := sub.WaitFor(60*time.Second, func(ms []mqtttest.Message) bool { return count(t, ms).has("flows", last) })
	ta := count(t, sub.Messages())
	if !ok {
		t.Fatalf("after the outage, missing seqs %v of 1..%d", ta.missing("flows", last), last)
	}
	// Duplicates: only what was in flight when the broker went away. The
	// subscriber's own redeliveries (DUP set by the broker) aside.
	window := m.Inflight * tc.BatchRecords
	if ta.dupRecords > window {
		t.Fatalf("%d duplicate records, more than one in-flight window (%d)", ta.dupRecords, window)
	}
	if n := r.maxInflight.Load(); n > int64(m.Inflight) {
		t.Fatalf("%d batches in flight at once, window is %d", n, m.Inflight)
	}
	historical := 0
	for _, bt := range ta.batches {
		if bt.Historical {
			historical += len(bt.Records)
		}
	}
	if historical == 0 {
		t.Fatal("no record was marked historical after the outage")
	}
	t.Logf("outage %s: %d records, backlog at restart %d, %d sent as historical, %d duplicates (window %d records), at most %d of %d batches in flight, %d reconnects",
		outage, last, backlog, historical, ta.dupRecords, window, r.maxInflight.Load(), m.Inflight, r.up.Snapshot().Reconnects)
}

func TestNoBrokerKeepsTelemetryLocal(t *testing.T) {
	m, tc := testConfigs(t, "")
	r := startRig(t, m, tc, Deps{})
	if _, err := r.store.Append(context.Background(), "flows", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if s := r.up.Snapshot(); s.Enabled || s.Connected {
		t.Fatalf("snapshot %+v", s)
	}
	if err := r.up.Publish(context.Background(), "x", false, nil); err != ErrNotConnected {
		t.Fatalf("Publish without a broker: %v", err)
	}
	r.stop()
}

// gateway/remote's path: commands arrive on the persistent session, and
// responses go out on it.
func TestHandleAndPublish(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/+/cmd/+/resp", mqtttest.SubscriberOptions{})
	m, tc := testConfigs(t, b.URL())
	got := make(chan string, 1)
	r := startRig(t, m, tc, Deps{}, func(u *Uplink) {
		u.Handle(u.Prefix()+"/cmd/+", func(topic string, payload []byte) {
			select {
			case got <- topic + " " + string(payload):
			default:
			}
		})
	})
	r.waitSnapshot(10*time.Second, "connected", func(s *Snapshot) bool { return s.Connected })
	if err := sub.Publish("branchgw/"+testSite+"/cmd/ping", []byte(`{"id":"1"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "branchgw/"+testSite+`/cmd/ping {"id":"1"}` {
			t.Fatalf("handler got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command did not reach the handler")
	}
	if err := r.up.Publish(context.Background(), r.up.Prefix()+"/cmd/ping/resp", false, []byte(`{"id":"1","ok":true}`)); err != nil {
		t.Fatal(err)
	}
	if !sub.WaitFor(10*time.Second, func(ms []mqtttest.Message) bool { return len(ms) == 1 }) {
		t.Fatal("response did not arrive")
	}
}

// After an outage the backoff has grown: Wake (a WAN came back) retries at
// once instead of waiting it out.
func TestWakeCutsTheBackoff(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Persist: true})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{Persistent: true})
	b.Stop()
	m, tc := testConfigs(t, b.URL())
	r := startRig(t, m, tc, Deps{MinReconnectDelay: 10 * time.Minute})
	r.waitSnapshot(10*time.Second, "the first connect refused", func(s *Snapshot) bool { return s.Reconnects > 0 })
	b.Restart()
	r.up.Wake()
	r.waitSnapshot(10*time.Second, "connected before a 10-minute backoff ran out", func(s *Snapshot) bool { return s.Connected })
	if !sub.WaitFor(10*time.Second, func(ms []mqtttest.Message) bool { return count(t, ms).births() > 0 }) {
		t.Fatal("no birth at head office")
	}
}
