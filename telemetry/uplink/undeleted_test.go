package uplink

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUndeleted(t *testing.T) {
	var d undeleted
	d.add("flows", 1, 100)
	d.add("event", 7, 7)
	for _, c := range []struct {
		stream string
		seq    uint64
		want   bool
	}{{"flows", 1, true}, {"flows", 100, true}, {"flows", 101, false}, {"event", 7, true}, {"event", 6, false}, {"status", 1, false}} {
		if got := d.has(c.stream, c.seq); got != c.want {
			t.Errorf("has(%s, %d) = %v, want %v", c.stream, c.seq, got, c.want)
		}
	}
	now := time.Unix(1000, 0)
	full := errors.New("disk full")
	var calls int
	del := func(_ context.Context, stream string, first, last uint64) error {
		calls++
		if stream == "flows" {
			return full
		}
		return nil
	}
	if err := d.retry(context.Background(), now, time.Second, del); !errors.Is(err, full) {
		t.Fatalf("retry: %v, want the delete's error", err)
	}
	if d.count() != 1 || !d.has("flows", 50) || d.has("event", 7) {
		t.Errorf("after a partial retry: %d ranges, flows 50 kept %v, event 7 kept %v; want only the failed range",
			d.count(), d.has("flows", 50), d.has("event", 7))
	}
	calls = 0
	if err := d.retry(context.Background(), now.Add(500*time.Millisecond), time.Second, del); err != nil || calls != 0 {
		t.Errorf("a retry within the interval: %v, %d deletes; want none", err, calls)
	}
	ok := func(context.Context, string, uint64, uint64) error { return nil }
	if err := d.retry(context.Background(), now.Add(time.Second), time.Second, ok); err != nil || d.count() != 0 {
		t.Errorf("retry once space is back: %v, %d ranges left", err, d.count())
	}
}
