package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func gaps(t *testing.T, s *Store) []gapEvent {
	t.Helper()
	recs, err := s.Read(context.Background(), EventStream, 0, 0, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []gapEvent
	for _, r := range recs {
		var g gapEvent
		if err := json.Unmarshal(r.Payload, &g); err != nil {
			t.Fatal(err)
		}
		if g.Type == "buffer_eviction" {
			out = append(out, g)
		}
	}
	return out
}

func TestBudgetEvictsLowestPriorityOldestFirst(t *testing.T) {
	ctx := context.Background()
	c := testConfig(t)
	c.Budget = 64 << 10
	var alarms []Alarm
	s := open(t, c, Options{OnAlarm: func(a Alarm) { alarms = append(alarms, a) }})
	pad := strings.Repeat("x", 200)
	rec := func(i int) []byte { return fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, pad) }
	for i := range 20 {
		if _, err := s.Append(ctx, StatusStream, rec(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, EventStream, []byte(`{"type":"wan_down"}`)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1000 { // about 4 times the budget
		if _, err := s.Append(ctx, "flows", rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	sn := s.Snapshot()
	if sn.Bytes > int64(c.Budget) {
		t.Fatalf("%d bytes stored, budget %d", sn.Bytes, c.Budget)
	}
	byName := map[string]StreamInfo{}
	for _, st := range sn.Streams {
		byName[st.Name] = st
	}
	if byName[StatusStream].Records != 20 {
		t.Fatalf("status records %d, want all 20 kept: bulk goes first", byName[StatusStream].Records)
	}
	flows, _ := s.Read(ctx, "flows", 0, 0, 10000, 0)
	if len(flows) == 0 || flows[len(flows)-1].Seq != 1000 {
		t.Fatalf("the newest flows must be kept, got %d records", len(flows))
	}
	// The gap events together name exactly the evicted seqs 1..first kept-1
	// (the oldest merged into one, which comes later in the event stream).
	var flowGaps []gapEvent
	for _, g := range gaps(t, s) {
		if g.Stream == EventStream && g.Reason == "merged" && g.Count == 0 {
			continue // covers the merged gap events' own seqs
		}
		flowGaps = append(flowGaps, g)
	}
	slices.SortFunc(flowGaps, func(a, b gapEvent) int { return cmp.Compare(a.FirstSeq, b.FirstSeq) })
	var next uint64 = 1
	var count int64
	for _, g := range flowGaps {
		if g.Stream != "flows" || g.FirstSeq != next || g.Reason != "budget" {
			t.Fatalf("gap %+v, want flows from seq %d", g, next)
		}
		next = g.LastSeq + 1
		count += g.Count
	}
	if next != flows[0].Seq || count != int64(flows[0].Seq-1) || sn.EvictedRecords != count {
		t.Fatalf("gaps cover up to %d (%d records), first kept %d, evicted %d", next, count, flows[0].Seq, sn.EvictedRecords)
	}
	if len(alarms) == 0 || alarms[0].Kind != "buffer_eviction" {
		t.Fatalf("alarms %+v", alarms)
	}
}

func TestBudgetEvictsHigherPriorityOnlyWhenNothingElse(t *testing.T) {
	ctx := context.Background()
	c := testConfig(t)
	c.Budget = 32 << 10
	s := open(t, c, Options{})
	pad := strings.Repeat("y", 300)
	for i := range 300 {
		if _, err := s.Append(ctx, StatusStream, fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, pad)); err != nil {
			t.Fatal(err)
		}
	}
	if sn := s.Snapshot(); sn.Bytes > int64(c.Budget) || sn.EvictedRecords == 0 {
		t.Fatalf("snapshot %+v", sn)
	}
	for _, g := range gaps(t, s) {
		if g.Stream != StatusStream {
			t.Fatalf("gap %+v", g)
		}
	}
}
