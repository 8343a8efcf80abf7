//go:build linux

package uplink

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/netlab/testenv"
	"github.com/branchgw/branchgw/telemetry/mqtttest"
	"github.com/branchgw/branchgw/telemetry/store"
)

// Issue 5: byte budget and a tiny tmpfs filled to ENOSPC: the process keeps
// running, evicts by priority, the gap event reaches the subscriber.
func TestFullStoreEvictsByPriorityAndSendsTheGap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tmpfs  bool
		budget int64
		reason string
	}{
		{"byte budget", false, 1 << 20, "budget"},
		{"tmpfs full", true, 64 << 20, "disk_full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mqtttest.Start(t, mqtttest.Options{Persist: true})
			sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{Persistent: true})
			b.Stop() // the store fills while head office is unreachable
			m, tl := testConfigs(t, b.URL())
			if tc.tmpfs {
				tl.StorePath = testenv.Tmpfs(t, "3m") + "/telemetry.db"
			}
			tl.Budget = config.ByteSize(tc.budget)
			r := startRig(t, m, tl, Deps{})
			ctx := context.Background()
			pad := strings.Repeat("p", 300)
			var alarms, statuses int
			var mu sync.Mutex
			var wg sync.WaitGroup
			appendErrs := 0
			// 4 producers of bulk flows, alarms and status in between.
			for p := range 4 {
				wg.Go(func() {
					for i := range 5000 {
						stream := "flows"
						switch {
						case p == 0 && i%100 == 0:
							stream = store.EventStream
						case p == 1 && i%100 == 0:
							stream = store.StatusStream
						}
						_, err := r.store.Append(ctx, stream, fmt.Appendf(nil, `{"p":%d,"i":%d,"pad":%q}`, p, i, pad))
						mu.Lock()
						switch {
						case err != nil:
							appendErrs++
						case stream == store.EventStream:
							alarms++
						case stream == store.StatusStream:
							statuses++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			sn := r.store.Snapshot()
			if tc.tmpfs && sn.DiskFullEvents == 0 {
				t.Fatalf("the disk never filled: %+v", sn)
			}
			if sn.EvictedRecords == 0 {
				t.Fatalf("nothing evicted: %+v", sn)
			}
			// Still running: appends work after the eviction.
			if _, err := r.store.Append(ctx, store.EventStream, []byte(`{"type":"still_alive"}`)); err != nil {
				t.Fatalf("append after the store filled: %v", err)
			}
			alarms++
			t.Logf("%d appends failed while the disk was full; %d disk-full events; %d records evicted; effective budget %d",
				appendErrs, sn.DiskFullEvents, sn.EvictedRecords, sn.EffectiveBudget)

			b.Restart()
			var gaps []map[string]any
			ok := sub.WaitFor(30*time.Second, func(ms []mqtttest.Message) bool {
				ta := count(t, ms)
				gaps = gaps[:0]
				for _, e := range eventsOf(t, ta) {
					if e["type"] == "buffer_eviction" && e["reason"] == tc.reason {
						gaps = append(gaps, e)
					}
				}
				return len(gaps) > 0 && len(ta.seen[store.EventStream]) >= alarms && len(ta.seen[store.StatusStream]) >= statuses
			})
			ta := count(t, sub.Messages())
			if !ok {
				t.Fatalf("gap events %d, alarms %d of %d, status %d of %d", len(gaps),
					len(ta.seen[store.EventStream]), alarms, len(ta.seen[store.StatusStream]), statuses)
			}
			// By priority: every gap is in the bulk stream; every alarm and
			// status record arrived.
			for _, g := range gaps {
				if g["stream"] != "flows" {
					t.Fatalf("evicted from %v, want only the bulk stream", g["stream"])
				}
			}
			t.Logf("%d gap events at the subscriber, first %v", len(gaps), gaps[0])
		})
	}
}
