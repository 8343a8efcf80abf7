package uplink

import (
	"context"
	"sync"
	"time"
)

// undeleted remembers the record ranges the broker acknowledged but the
// store could not delete (a full disk, a read-only file system). They are
// never sent again by this process, and their deletion is retried: a
// failed delete must not end the session, or every reconnect would send
// the same records once more (issue 26: 27 times in 20 s on a full disk).
type undeleted struct {
	mu     sync.Mutex
	ranges map[string][][2]uint64 // stream → [first, last] ranges
	tried  time.Time
}

// add records stream's first..last as acknowledged but still stored.
func (d *undeleted) add(stream string, first, last uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ranges == nil {
		d.ranges = map[string][][2]uint64{}
	}
	d.ranges[stream] = append(d.ranges[stream], [2]uint64{first, last})
}

// has reports whether seq of stream was acknowledged already.
func (d *undeleted) has(stream string, seq uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.ranges[stream] {
		if seq >= r[0] && seq <= r[1] {
			return true
		}
	}
	return false
}

// count is how many ranges wait for deletion.
func (d *undeleted) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, rs := range d.ranges {
		n += len(rs)
	}
	return n
}

// retry deletes what it can, at most once per every, through del; it
// returns the first error.
func (d *undeleted) retry(ctx context.Context, now time.Time, every time.Duration, del func(ctx context.Context, stream string, first, last uint64) error) error {
	d.mu.Lock()
	if len(d.ranges) == 0 || now.Sub(d.tried) < every {
		d.mu.Unlock()
		return nil
	}
	d.tried = now
	todo := d.ranges
	d.ranges = nil
	d.mu.Unlock()
	var first error
	for stream, rs := range todo {
		for _, r := range rs {
			if err := del(ctx, stream, r[0], r[1]); err != nil {
				if first == nil {
					first = err
				}
				d.add(stream, r[0], r[1])
			}
		}
	}
	return first
}
