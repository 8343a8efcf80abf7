package uplink

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchgw/branchgw/telemetry/mqtttest"
	"github.com/branchgw/branchgw/telemetry/store"
)

var benchRecord = []byte(`{"src":"198.18.10.23:51234","dst":"203.0.113.10:443","proto":"tcp","app":"pay.example","bytes_up":1834,"bytes_down":5120,"rtt_ms":23}`)

// BenchmarkReplay measures how fast a backlog of b.N records drains to a
// local mosquitto with the replay rate cap off: batches of 500 records at
// QoS 1, 16 in flight, each deleted from the store after its PUBACK. Side by
// side: nobody subscribed, and a QoS 1 subscriber taking everything (which
// the broker must also deliver).
func BenchmarkReplay(b *testing.B) {
	for _, withSub := range []bool{false, true} {
		name := "no-subscriber"
		if withSub {
			name = "qos1-subscriber"
		}
		b.Run(name, func(b *testing.B) {
			br := mqtttest.Start(b, mqtttest.Options{})
			var sub *mqtttest.Subscriber
			if withSub {
				sub = mqtttest.Subscribe(b, br.URL(), "branchgw/#", mqtttest.SubscriberOptions{})
			}
			m, tc := testConfigs(b, br.URL())
			tc.BatchRecords = 500
			tc.ReplayPerSecond = 0 // uncapped: measure the pipeline
			tc.Budget = 1 << 40
			s, err := store.Open(tc, testLogger(b), store.Options{BootID: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			// A backlog from an outage, appended by many producers so group
			// commit makes it quick.
			var wg sync.WaitGroup
			next := atomic.Int64{}
			for range 64 {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := s.Append(ctx, "flows", benchRecord); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			u, err := New(m, tc, testLogger(b), Deps{Store: s, Identity: Identity{Site: testSite, BootID: "bench"}})
			if err != nil {
				b.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			b.ResetTimer()
			start := time.Now()
			go func() { done <- u.Run(runCtx) }()
			for s.Snapshot().Records > 0 {
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			<-done
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
			if sub != nil && !sub.WaitFor(time.Minute, func(ms []mqtttest.Message) bool {
				return count(b, ms).has("flows", uint64(b.N))
			}) {
				b.Fatal("the subscriber did not get every record")
			}
		})
	}
}
