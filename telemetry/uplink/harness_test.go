package uplink

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/telemetry/mqtttest"
	"github.com/branchgw/branchgw/telemetry/store"
)

const testSite = "store-0042"

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("BRANCHGW_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// longRun reports whether the full-length scenarios of issue 5 were asked
// for (BRANCHGW_LONG=1); by default they run shortened to keep `make test`
// fast.
func longRun() bool { return os.Getenv("BRANCHGW_LONG") == "1" }

func testConfigs(t testing.TB, broker string) (config.MQTT, config.Telemetry) {
	d := config.Defaults()
	m, tc := d.MQTT, d.Telemetry
	m.Broker = broker
	m.ClientID = "branchgw-" + testSite
	m.KeepAlive = config.Duration(5 * time.Second)
	m.MaxReconnectDelay = config.Duration(2 * time.Second)
	tc.StorePath = filepath.Join(t.TempDir(), "telemetry.db")
	tc.BatchRecords = 100
	return m, tc
}

// rig is a store and an uplink running against a broker.
type rig struct {
	t      testing.TB
	store  *store.Store
	up     *Uplink
	cancel context.CancelFunc
	done   chan error
	events chan Event
	// maxInflight is the most unacknowledged batches seen at once.
	maxInflight atomic.Int64
}

func startRig(t testing.TB, m config.MQTT, tc config.Telemetry, d Deps, before ...func(*Uplink)) *rig {
	t.Helper()
	if d.Identity.Site == "" {
		d.Identity = Identity{Site: testSite, GatewayID: testSite, BootID: "boot-1", Version: "test"}
	}
	s, err := store.Open(tc, testLogger(t), store.Options{BootID: d.Identity.BootID})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, store: s, done: make(chan error, 1), events: make(chan Event, 100)}
	d.Store = s
	if d.MinReconnectDelay == 0 {
		d.MinReconnectDelay = 50 * time.Millisecond
	}
	if d.Linger == 0 {
		d.Linger = 50 * time.Millisecond
	}
	d.OnEvent = func(e Event) {
		select {
		case r.events <- e:
		default:
		}
	}
	u, err := New(m, tc, testLogger(t), d)
	if err != nil {
		t.Fatal(err)
	}
	r.up = u
	for _, f := range before {
		f(u)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- u.Run(ctx) }()
	go func() {
		for ctx.Err() == nil {
			if n := u.inflight.Load(); n > r.maxInflight.Load() {
				r.maxInflight.Store(n)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		r.t.Errorf("Run did not return after cancel")
	}
	r.store.Close()
}

// waitSnapshot polls the uplink's snapshot until cond holds.
func (r *rig) waitSnapshot(timeout time.Duration, what string, cond func(*Snapshot) bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(r.up.Snapshot()) {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; snapshot %+v", what, r.up.Snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tally decodes the batches a subscriber got and counts every record.
type tally struct {
	batches    []Batch // telemetry and event batches in arrival order
	status     []string
	seen       map[string]map[uint64]int // stream → seq → times received
	dupRecords int                       // records the gateway sent more than once
}

func count(t testing.TB, msgs []mqtttest.Message) *tally {
	t.Helper()
	ta := &tally{seen: map[string]map[uint64]int{}}
	for _, m := range msgs {
		if m.Topic == "branchgw/"+testSite+"/status" {
			var st struct{ State string }
			if err := json.Unmarshal(m.Payload, &st); err != nil {
				t.Fatalf("status %q: %v", m.Payload, err)
			}
			ta.status = append(ta.status, st.State)
			continue
		}
		var b Batch
		if err := json.Unmarshal(m.Payload, &b); err != nil {
			t.Fatalf("batch on %s does not decode: %v", m.Topic, err)
		}
		if b.Gateway != testSite || b.Boot == "" || b.Stream == "" || len(b.Records) == 0 ||
			b.FirstSeq != b.Records[0].Seq || b.LastSeq != b.Records[len(b.Records)-1].Seq {
			t.Fatalf("batch without its dedupe key: %s", m.Payload)
		}
		if len(m.Payload) > 128<<10 {
			t.Fatalf("batch of %d bytes exceeds 128 KB", len(m.Payload))
		}
		ta.batches = append(ta.batches, b)
		if ta.seen[b.Stream] == nil {
			ta.seen[b.Stream] = map[uint64]int{}
		}
		for _, rec := range b.Records {
			ta.seen[b.Stream][rec.Seq]++
			// A copy the broker redelivered to the subscriber (DUP set) is
			// the broker-subscriber leg's doing, not the gateway's.
			if ta.seen[b.Stream][rec.Seq] > 1 && !m.Duplicate {
				ta.dupRecords++
			}
		}
	}
	return ta
}

// has reports whether seqs 1..n of stream all arrived.
func (ta *tally) has(stream string, n uint64) bool {
	for q := uint64(1); q <= n; q++ {
		if ta.seen[stream][q] == 0 {
			return false
		}
	}
	return true
}

// births counts the gateway's connections: its "online" status messages.
func (ta *tally) births() int {
	n := 0
	for _, s := range ta.status {
		if s == "online" {
			n++
		}
	}
	return n
}

func (ta *tally) missing(stream string, n uint64) []uint64 {
	var out []uint64
	for q := uint64(1); q <= n && len(out) < 20; q++ {
		if ta.seen[stream][q] == 0 {
			out = append(out, q)
		}
	}
	return out
}

// producer appends to stream at rate records/s until stopped, like an
// inspect component would.
type producer struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	last uint64
	errs int
}

func produce(s *store.Store, stream string, rate int) *producer {
	p := &producer{stop: make(chan struct{})}
	p.wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		sent := 0
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			due := int(time.Since(start).Seconds() * float64(rate))
			for ; sent < due; sent++ {
				seq, err := s.Append(context.Background(), stream,
					fmt.Appendf(nil, `{"flow":"198.18.10.%d:443","bytes":%d}`, sent%250+1, sent))
				p.mu.Lock()
				if err != nil {
					p.errs++
				} else {
					p.last = seq
				}
				p.mu.Unlock()
			}
		}
	})
	return p
}

func (p *producer) Stop() (last uint64, errs int) {
	close(p.stop)
	p.wg.Wait()
	return p.last, p.errs
}

// eventsOf returns the decoded records of the event stream.
func eventsOf(t testing.TB, ta *tally) []map[string]any {
	var out []map[string]any
	for _, b := range ta.batches {
		if b.Stream != store.EventStream {
			continue
		}
		for _, r := range b.Records {
			var m map[string]any
			if err := json.Unmarshal(r.Data, &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out
}
