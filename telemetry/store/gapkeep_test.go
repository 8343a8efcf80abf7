package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// TestGapEventsAreNeverEvicted floods a small store with events: every
// record that is gone must be covered by a surviving gap event, even when
// the event stream itself is what gets evicted. (Found by the store-day
// scenario: gap events were evicted with the other events, and the losses
// they described became unexplained.)
func TestGapEventsAreNeverEvicted(t *testing.T) {
	c := testConfig(t)
	c.Budget = 1 << 20
	s := open(t, c, Options{})
	ctx := context.Background()
	const events, statuses = 20000, 2000
	pad := make([]byte, 60)
	for i := range pad {
		pad[i] = 'x'
	}
	for i := range events {
		if _, err := s.Append(ctx, EventStream, fmt.Appendf(nil, `{"kind":"test","n":%d,"pad":"%s"}`, i, pad)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := s.Append(ctx, StatusStream, fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	present := map[string]map[uint64]bool{EventStream: {}, StatusStream: {}}
	type gapRec struct {
		Type     string
		Stream   string
		FirstSeq uint64 `json:"first_seq"`
		LastSeq  uint64 `json:"last_seq"`
	}
	var gaps []gapRec
	for stream := range present {
		recs, err := s.Read(ctx, stream, 0, 1<<40, 1<<20, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			present[stream][r.Seq] = true
			var g gapRec
			if stream == EventStream && json.Unmarshal(r.Payload, &g) == nil && g.Type == "buffer_eviction" {
				gaps = append(gaps, g)
			}
		}
	}
	covered := func(stream string, seq uint64) bool {
		for _, g := range gaps {
			if g.Stream == stream && seq >= g.FirstSeq && seq <= g.LastSeq {
				return true
			}
		}
		return false
	}
	counts := map[string]int{EventStream: events, StatusStream: statuses}
	unexplained := map[string]int{}
	for stream, n := range counts {
		for seq := uint64(1); seq <= uint64(n); seq++ {
			if !present[stream][seq] && !covered(stream, seq) {
				unexplained[stream]++
			}
		}
	}
	if len(gaps) == 0 {
		t.Fatal("nothing was evicted: the test needs a smaller budget")
	}
	if len(unexplained) > 0 {
		t.Errorf("records gone without a gap event: %v (%d gap events kept)", unexplained, len(gaps))
	}
}
