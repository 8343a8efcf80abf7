package uplink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/branchgw/branchgw/telemetry/mqtttest"
	"github.com/branchgw/branchgw/telemetry/store"
)

// outageScenario fills a backlog while the broker is unreachable (cut),
// restores it (restore), and checks at the subscriber: every seq arrives,
// the alarms go before the backlog, and an alarm raised during the replay
// does not wait for the backlog to drain.
func outageScenario(t *testing.T, r *rig, sub *mqtttest.Subscriber, cut, restore func(), outage time.Duration) {
	ctx := context.Background()
	appendAlarm := func(kind string) uint64 {
		seq, err := r.store.Append(ctx, store.EventStream, fmt.Appendf(nil, `{"type":%q}`, kind))
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	r.waitSnapshot(20*time.Second, "connected", func(s *Snapshot) bool { return s.Connected })
	p := produce(r.store, "flows", 1000)
	time.Sleep(500 * time.Millisecond)
	cut()
	appendAlarm("wan_down")
	time.Sleep(outage / 2)
	appendAlarm("failover")
	time.Sleep(outage / 2)
	// Keepalive must have noticed the dead connection (it does within
	// keepalive + ping timeout), else TCP would just resume it.
	r.waitSnapshot(60*time.Second, "the session to notice the cut", func(s *Snapshot) bool { return !s.Connected })
	// The WAN component raises wan_up as the link comes back, before the
	// MQTT session is up again.
	upSeq := appendAlarm("wan_up")
	restore()
	r.waitSnapshot(120*time.Second, "reconnected and replaying", func(s *Snapshot) bool { return s.Connected && s.Replaying })
	liveSeq := appendAlarm("pos_unhealthy")
	r.waitSnapshot(300*time.Second, "backlog drained", func(s *Snapshot) bool { return !s.Replaying })
	last, errs := p.Stop()
	if errs != 0 {
		t.Fatalf("%d appends failed", errs)
	}
	ok := sub.WaitFor(60*time.Second, func(ms []mqtttest.Message) bool {
		ta := count(t, ms)
		return ta.has("flows", last) && ta.has(store.EventStream, liveSeq)
	})
	ta := count(t, sub.Messages())
	if !ok {
		t.Fatalf("missing flows %v of 1..%d, events %v", ta.missing("flows", last), last, ta.missing(store.EventStream, liveSeq))
	}
	// Arrival positions of the batches that matter.
	firstHistFlows, lastHistFlows, upAt, liveAt := -1, -1, -1, -1
	for i, b := range ta.batches {
		switch {
		case b.Stream == "flows" && b.Historical:
			if firstHistFlows < 0 {
				firstHistFlows = i
			}
			lastHistFlows = i
		case b.Stream == store.EventStream && b.FirstSeq <= upSeq && upSeq <= b.LastSeq && upAt < 0:
			upAt = i
		case b.Stream == store.EventStream && b.FirstSeq <= liveSeq && liveSeq <= b.LastSeq && liveAt < 0:
			liveAt = i
			if b.Historical {
				t.Fatalf("the alarm raised during the replay was sent as historical")
			}
		}
	}
	if firstHistFlows < 0 {
		t.Fatal("no backlog was replayed")
	}
	if upAt > firstHistFlows {
		t.Fatalf("wan_up alarm arrived at batch %d, after the backlog started at %d", upAt, firstHistFlows)
	}
	if liveAt > lastHistFlows {
		t.Fatalf("the alarm raised during the replay (batch %d) waited for the whole backlog (last at %d)", liveAt, lastHistFlows)
	}
	hist := 0
	for _, b := range ta.batches[firstHistFlows : lastHistFlows+1] {
		if b.Stream == "flows" && b.Historical {
			hist++
		}
	}
	t.Logf("%d flows, %d historical batches; alarms at batch %d (wan_up) and %d (live), backlog batches %d..%d; %d duplicate records",
		last, hist, upAt, liveAt, firstHistFlows, lastHistFlows, ta.dupRecords)
}

// The alarms-first rule on loopback: the broker is stopped and started.
func TestAlarmsGoBeforeTheBacklog(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Persist: true})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{Persistent: true})
	m, tc := testConfigs(t, b.URL())
	r := startRig(t, m, tc, Deps{})
	outageScenario(t, r, sub, b.Stop, b.Restart, 3*time.Second)
}
