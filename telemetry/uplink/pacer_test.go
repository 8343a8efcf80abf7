package uplink

import (
	"testing"
	"time"
)

// The pacer's arithmetic on a fake clock: batch sizes and the room in
// flight follow the delivery rate the PUBACKs show.
func TestPacer(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	p := newPacer(128<<10, 16)
	type step struct {
		name string
		do   func()
		at   time.Time
		want int // batchBytes
	}
	var a, b sendTicket
	for _, s := range []step{
		{"no rate yet: half of 8 KiB", func() {}, t0, 4 << 10},
		{"room for a second", func() { a = p.sent(4<<10, t0) }, t0, 4 << 10},
		{"8 KiB in flight: full", func() { b = p.sent(4<<10, t0) }, t0, 0},
		// 4 KiB in 100 ms is 40960 B/s, 20480 bytes in 500 ms; but one
		// sample moved only 4 KiB: the bound doubles that.
		{"a PUBACK measures the line, growth is capped", func() { p.acked(a, ms(100)) }, ms(100), 4 << 10},
		// Both batches, 8 KiB in 160 ms: 51200 B/s, 25600 in 500 ms.
		{"the bound grows by doubling", func() { p.acked(b, ms(160)) }, ms(160), 8 << 10},
		{"then to the rate", func() { p.acked(p.sent(20<<10, ms(160)), ms(560)) }, ms(560), 12800},
		{"a failure forgets the rate", func() { p.failed(p.sent(100, ms(200))) }, ms(200), 4 << 10},
		{"a fast line: capped at the batch size", func() { p.acked(p.sent(1<<20, ms(300)), ms(301)) }, ms(301), 128 << 10},
		{"a sample older than the window is forgotten", func() {}, ms(301).Add(rateWindow + time.Millisecond), 4 << 10},
	} {
		s.do()
		if got := p.batchBytes(s.at); got != s.want {
			t.Errorf("%s: batch of %d bytes, want %d", s.name, got, s.want)
		}
	}
	select {
	case <-p.room:
	default:
		t.Error("a PUBACK did not wake the sender")
	}
}
