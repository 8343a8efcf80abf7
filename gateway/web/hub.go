package web

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// tickEvery is how often the hub rebuilds the status for SSE clients.
	tickEvery = time.Second
	// histEvery and histLen give the WAN chart its last hour.
	histEvery = 10 * time.Second
	histLen   = 360
)

// frame is one built status and its JSON, shared by every reader.
type frame struct {
	st   *Status
	json []byte
	at   time.Time
	err  error
}

// hub builds the status once per tick for all clients (API, SSE, /metrics)
// of both listeners, keeps the WAN history and wakes SSE streams. Readers
// take the current frame from an atomic pointer and never block the
// daemon's components.
type hub struct {
	deps  Deps
	tick  time.Duration
	sys   *sysSampler
	cur   atomic.Pointer[frame]
	mu    sync.Mutex // serializes rebuilds and guards the fields below
	wake  chan struct{}
	hist  map[string]*ring
	order []string
	rev   int64
	last  time.Time // last history sample
	users int
	stop  context.CancelFunc
	// qosPrev are the QoS byte counters at the previous build, per
	// direction/class, for the classes' current rates.
	qosPrev map[string]uint64
	qosAt   time.Time
	// watchers counts open SSE streams of both listeners.
	watchers atomic.Int32
	// diag admits one diagnostics bundle at a time (it may capture 30 s).
	diag chan struct{}
}

func newHub(deps Deps) *hub {
	deps.fill()
	return &hub{deps: deps, tick: tickEvery, sys: newSysSampler(deps.StatPaths),
		wake: make(chan struct{}), hist: map[string]*ring{}, diag: make(chan struct{}, 1)}
}

// acquire starts the tick loop for the first user; release stops it after
// the last. Both listeners use one hub, and either may be restarted alone.
func (h *hub) acquire() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users++
	if h.users == 1 {
		ctx, cancel := context.WithCancel(context.Background())
		h.stop = cancel
		go h.loop(ctx)
	}
}

func (h *hub) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users--
	if h.users == 0 {
		h.stop()
	}
}

// loop rebuilds the status every tick while a page watches, and only
// every histEvery (for the WAN history) while none does: an idle box
// spends nothing on a page nobody has open.
func (h *hub) loop(ctx context.Context) {
	t := time.NewTicker(h.tick)
	defer t.Stop()
	var last time.Time
	for {
		if h.watchers.Load() > 0 || time.Since(last) >= histEvery {
			h.refresh()
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// current returns a frame no older than maxAge, rebuilding it if needed.
func (h *hub) current(maxAge time.Duration) *frame {
	if f := h.cur.Load(); f != nil && h.deps.Now().Sub(f.at) <= maxAge {
		return f
	}
	return h.rebuild(maxAge)
}

// changed returns a channel closed at the next new frame.
func (h *hub) changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.wake
}

// refresh builds a new frame from the daemon snapshot and wakes streams.
func (h *hub) refresh() *frame { return h.rebuild(-1) }

// rebuild builds a new frame unless, once it holds the lock, the current
// one is no older than maxAge: many API requests that find the frame stale
// at once cause one rebuild, not one each.
func (h *hub) rebuild(maxAge time.Duration) (f *frame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.deps.Now()
	if cur := h.cur.Load(); maxAge >= 0 && cur != nil && now.Sub(cur.at) <= maxAge {
		return cur
	}
	f = &frame{at: now}
	defer func() {
		// A part whose JSON makes the reader panic must not take the page
		// down: report it like any other build error.
		if r := recover(); r != nil {
			f.err = fmt.Errorf("building the status: %v", r)
			h.deps.Logger.Error("web: status build panicked", "err", f.err)
		}
		h.cur.Store(f)
		close(h.wake)
		h.wake = make(chan struct{})
	}()
	st, err := buildStatus(h.deps.Snapshot(), now)
	if err != nil {
		f.err = err
		return f
	}
	if len(st.WANEvents) == 0 && h.deps.Events != nil {
		st.WANEvents = wanEvents(h.deps.Events(200))
		if len(st.WANEvents) > 50 {
			st.WANEvents = st.WANEvents[:50]
		}
	}
	h.rates(st, now)
	st.System = h.sys.sample()
	st.System.Goroutines = runtime.NumGoroutine()
	judge(st)
	h.sample(st, now)
	st.HistoryRev = h.rev
	f.st = st
	f.json, f.err = json.Marshal(st)
	return f
}

// sample adds a history Point per WAN every histEvery.
func (h *hub) sample(st *Status, now time.Time) {
	if !h.last.IsZero() && now.Sub(h.last) < histEvery {
		return
	}
	h.last = now
	h.rev++
	for _, w := range st.WANs {
		r := h.hist[w.Name]
		if r == nil {
			r = &ring{}
			h.hist[w.Name] = r
			h.order = append(h.order, w.Name)
		}
		up := 0
		if w.State == "up" || w.State == "degraded" {
			up = 1
		}
		r.add(Point{T: now.Unix(), RTT: float64(w.RTT), Loss: w.Loss, Up: up})
	}
}

// Point is one WAN sample: unix seconds, RTT ms, loss %, usable (1/0).
type Point struct {
	T    int64
	RTT  float64
	Loss float64
	Up   int
}

// MarshalJSON writes a compact array; an hour of samples for two WANs
// stays around 20 KB.
func (p Point) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "[%d,%.1f,%.1f,%d]", p.T, p.RTT, p.Loss, p.Up), nil
}

// UnmarshalJSON reads the array MarshalJSON writes.
func (p *Point) UnmarshalJSON(b []byte) error {
	var a [4]float64
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("history point: %w", err)
	}
	*p = Point{T: int64(a[0]), RTT: a[1], Loss: a[2], Up: int(a[3])}
	return nil
}

type ring struct {
	buf  [histLen]Point
	n, i int
}

func (r *ring) add(p Point) {
	r.buf[r.i] = p
	r.i = (r.i + 1) % histLen
	r.n = min(r.n+1, histLen)
}

func (r *ring) points() []Point {
	out := make([]Point, 0, r.n)
	for k := range r.n {
		out = append(out, r.buf[(r.i-r.n+k+histLen)%histLen])
	}
	return out
}

// History is the last hour of WAN samples for the chart.
type History struct {
	EverySeconds int                `json:"every_seconds"`
	Rev          int64              `json:"rev"`
	WANs         map[string][]Point `json:"wans"`
}

func (h *hub) history() History {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := History{EverySeconds: int(histEvery / time.Second), Rev: h.rev, WANs: map[string][]Point{}}
	for _, name := range h.order {
		out.WANs[name] = h.hist[name].points()
	}
	return out
}

// rates fills in each QoS class's throughput since the previous build.
func (h *hub) rates(st *Status, now time.Time) {
	dt := now.Sub(h.qosAt).Seconds()
	next := make(map[string]uint64, len(st.QoS))
	for i := range st.QoS {
		c := &st.QoS[i]
		k := c.Direction + "/" + c.Name
		next[k] = c.Bytes
		if prev, ok := h.qosPrev[k]; ok && dt > 0 && c.Bytes >= prev {
			c.RateBps = float64(c.Bytes-prev) * 8 / dt
		}
	}
	h.qosPrev, h.qosAt = next, now
}
