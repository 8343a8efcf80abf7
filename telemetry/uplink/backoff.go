package uplink

import "time"

// backoff is the reconnect delay: doubling from base up to max, then a
// random point in its upper half ("equal jitter"), so 500 stores that lost
// the broker together do not come back in lockstep, and the delay never
// exceeds max.
type backoff struct {
	base, max time.Duration
	rand      func() float64 // [0, 1)
}

// delay is the wait before attempt n (0 for the first retry).
func (b backoff) delay(n int) time.Duration {
	d := b.base
	for i := 0; i < n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	half := d / 2
	return half + time.Duration(b.rand()*float64(d-half))
}
