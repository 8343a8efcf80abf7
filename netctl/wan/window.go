package wan

import (
	"slices"
	"time"
)

// result is one probe's outcome.
type result struct {
	ok  bool
	rtt time.Duration
}

// window keeps the last n probe results of one target; loss and RTT are
// computed over it, so one lost probe on a lossy line moves the figures a
// little and never decides anything alone.
type window struct {
	buf   []result
	next  int
	count int
	// run is the number of consecutive results like the latest one.
	run     int
	lastOK  bool
	lastErr string
}

func newWindow(n int) *window { return &window{buf: make([]result, n)} }

func (w *window) add(r result, errText string) {
	w.buf[w.next] = r
	w.next = (w.next + 1) % len(w.buf)
	if w.count < len(w.buf) {
		w.count++
	}
	if w.count > 1 && r.ok == w.lastOK {
		w.run++
	} else {
		w.run = 1
	}
	w.lastOK = r.ok
	if !r.ok {
		w.lastErr = errText
	}
}

// reset forgets everything (after carrier comes back, old results say
// nothing about the new link).
func (w *window) reset() {
	w.next, w.count, w.run, w.lastOK, w.lastErr = 0, 0, 0, false, ""
}

// losses counts the lost probes in the window.
func (w *window) losses() int {
	n := 0
	for _, r := range w.results() {
		if !r.ok {
			n++
		}
	}
	return n
}

// okRun is how many of the latest results in a row succeeded.
func (w *window) okRun() int {
	if w.count == 0 || !w.lastOK {
		return 0
	}
	return w.run
}

// lossPercent is the loss over the window, 0 with no results.
func (w *window) lossPercent() float64 {
	if w.count == 0 {
		return 0
	}
	return 100 * float64(w.losses()) / float64(w.count)
}

// rtt returns the mean and the worst RTT of the answered probes.
func (w *window) rtt() (mean, worst time.Duration) {
	var sum time.Duration
	n := 0
	for _, r := range w.results() {
		if r.ok {
			sum += r.rtt
			n++
			worst = max(worst, r.rtt)
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum / time.Duration(n), worst
}

func (w *window) results() []result {
	if w.count < len(w.buf) {
		return w.buf[:w.count]
	}
	return slices.Concat(w.buf[w.next:], w.buf[:w.next])
}
