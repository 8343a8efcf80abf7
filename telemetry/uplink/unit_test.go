package uplink

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/telemetry/store"
)

func TestBackoffIsCappedAndJittered(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attempt  int
		rand     float64
		min, max time.Duration
	}{
		{"first retry, low draw", 0, 0, 500 * time.Millisecond, 500 * time.Millisecond},
		{"first retry, high draw", 0, 0.999, 999 * time.Millisecond, time.Second},
		{"doubling", 3, 0, 4 * time.Second, 4 * time.Second},
		{"capped", 10, 0.999, 59 * time.Second, 60 * time.Second},
		{"capped, low draw", 50, 0, 30 * time.Second, 30 * time.Second},
		{"huge attempt does not overflow", 1 << 20, 0.5, 45 * time.Second, 45 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := backoff{base: time.Second, max: 60 * time.Second, rand: func() float64 { return tc.rand }}
			if d := b.delay(tc.attempt); d < tc.min || d > tc.max {
				t.Fatalf("delay(%d) = %s, want %s..%s", tc.attempt, d, tc.min, tc.max)
			}
		})
	}
}

func recs(stream, boot string, n, size int) []store.Record {
	var out []store.Record
	for i := range n {
		out = append(out, store.Record{Stream: stream, Seq: uint64(i + 1), Time: time.UnixMilli(1700000000000 + int64(i)),
			Boot: boot, Payload: []byte(`"` + strings.Repeat("x", size) + `"`)})
	}
	return out
}

func TestEncodeBatch(t *testing.T) {
	mixed := append(recs("flows", "boot-a", 3, 10), recs("flows", "boot-b", 3, 10)...)
	for i := range mixed {
		mixed[i].Seq = uint64(i + 1)
	}
	for _, tc := range []struct {
		name       string
		in         []store.Record
		maxBytes   int
		wantN      int
		historical bool
	}{
		{"all fit", recs("flows", "b", 10, 20), 128 << 10, 10, false},
		{"byte cap", recs("flows", "b", 500, 1000), 128 << 10, 125, true},
		{"one oversized record still goes alone", recs("flows", "b", 2, 5000), 1024, 1, false},
		{"split at a boot change", mixed, 128 << 10, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := encode("store-0042", "0123456789abcdef", "branchgw/store-0042/telemetry/flows", tc.in, tc.historical, tc.maxBytes)
			if b.records != tc.wantN {
				t.Fatalf("%d records, want %d", b.records, tc.wantN)
			}
			if tc.wantN > 1 && len(b.payload) > tc.maxBytes {
				t.Fatalf("%d bytes > %d", len(b.payload), tc.maxBytes)
			}
			var got Batch
			if err := json.Unmarshal(b.payload, &got); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if got.Gateway != "store-0042" || got.Epoch != "0123456789abcdef" || got.Stream != "flows" || got.FirstSeq != 1 ||
				got.LastSeq != uint64(tc.wantN) || len(got.Records) != tc.wantN ||
				got.Historical != tc.historical || got.Boot != tc.in[0].Boot || b.last != got.LastSeq {
				t.Fatalf("batch %+v", got)
			}
			if got.Records[0].TS != 1700000000000 || string(got.Records[0].Data) != string(tc.in[0].Payload) {
				t.Fatalf("record %+v", got.Records[0])
			}
		})
	}
}

func TestTopics(t *testing.T) {
	u := &Uplink{prefix: "branchgw/store-0042"}
	for stream, want := range map[string]string{
		store.EventStream:  "branchgw/store-0042/event",
		"flows":            "branchgw/store-0042/telemetry/flows",
		store.StatusStream: "branchgw/store-0042/telemetry/status",
	} {
		if got := u.topic(stream); got != want || strings.Count(got, "/") > 7 {
			t.Errorf("topic(%s) = %s, want %s", stream, got, want)
		}
	}
}
