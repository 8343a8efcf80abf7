package uplink

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/telemetry/mqtttest"
	"github.com/branchgw/branchgw/telemetry/store"
)

// Issue 5: a corrupt database file at start: set aside, alarm, fresh store,
// daemon runs (and the alarm reaches head office).
func TestCorruptStoreAtStartRaisesAlarmAndRuns(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{})
	m, tc := testConfigs(t, b.URL())
	if err := os.WriteFile(tc.StorePath, []byte(strings.Repeat("\x00garbage", 4096)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRig(t, m, tc, Deps{})
	if sn := r.store.Snapshot(); sn.CorruptMovedTo == "" {
		t.Fatalf("corrupt file not set aside: %+v", sn)
	}
	// The daemon runs: new records flow as usual.
	seq, err := r.store.Append(context.Background(), "flows", []byte(`{"after":"corruption"}`))
	if err != nil {
		t.Fatal(err)
	}
	var alarm map[string]any
	ok := sub.WaitFor(10*time.Second, func(ms []mqtttest.Message) bool {
		ta := count(t, ms)
		for _, e := range eventsOf(t, ta) {
			if e["type"] == "store_corrupt" {
				alarm = e
			}
		}
		return alarm != nil && ta.has("flows", seq)
	})
	if !ok {
		t.Fatalf("alarm %v; messages %d", alarm, len(sub.Messages()))
	}
	if _, err := os.Stat(alarm["moved_to"].(string)); err != nil {
		t.Fatalf("the alarm names %v: %v", alarm["moved_to"], err)
	}
	if _, err := store.IntegrityCheck(tc.StorePath); err != nil {
		t.Fatal(err)
	}
}
