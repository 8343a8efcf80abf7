package scenario

import (
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// Received is one telemetry record as head office first received it.
type Received struct {
	Stream     string    `json:"stream"`
	Epoch      string    `json:"epoch"` // the store database's, part of the dedupe key
	Boot       string    `json:"boot"`
	Seq        uint64    `json:"seq"`
	TS         time.Time `json:"ts"` // when the gateway appended it
	At         time.Time `json:"at"` // when head office received it
	Historical bool      `json:"historical"`
}

// Gap is a run of records the gateway's store evicted, from its
// buffer_eviction event.
type Gap struct {
	Stream      string `json:"stream"`
	First, Last uint64
}

// WANEvent is a WAN state change or an active-WAN switch (netctl/wan.Event)
// as head office received it.
type WANEvent struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // wan_state, initial, failover, failback
	WAN  string    `json:"wan"`
	From string    `json:"from"`
	To   string    `json:"to"`
}

// StatusMsg is one message on …/status (birth or last will).
type StatusMsg struct {
	At    time.Time `json:"at"`
	State string    `json:"state"`
	Boot  string    `json:"boot"`
}

// Recorder is head office's record of one site: every telemetry batch on
// <prefix>/<site>/#, deduplicated by (gateway, epoch, stream, seq) as the
// MQTT contract says, and the events among them. It is fed by Handle, so
// its logic is tested without a broker.
type Recorder struct {
	root string // <prefix>/<site>

	mu         sync.Mutex
	seen       map[recKey]bool
	recs       []Received
	dups       map[string]int
	gaps       []Gap
	wan        []WANEvent
	alarms     map[string]int // inspect alarms by kind
	status     []StatusMsg
	bad        int       // messages that did not decode
	historical time.Time // latest arrival of a historical batch
	watch      time.Time // see WatchBacklog
	backlog    time.Time
}

type recKey struct {
	gateway, epoch, stream string
	seq                    uint64
}

// NewRecorder records the site under root ("<prefix>/<site>").
func NewRecorder(root string) *Recorder {
	return &Recorder{root: root, seen: map[recKey]bool{}, dups: map[string]int{}, alarms: map[string]int{}}
}

// batch is the telemetry message (telemetry/uplink.Batch), decoded here
// on its own so that head office's view depends on the wire format only.
type batch struct {
	Gateway    string `json:"gateway"`
	Epoch      string `json:"epoch"`
	Boot       string `json:"boot"`
	Stream     string `json:"stream"`
	Historical bool   `json:"historical"`
	Records    []struct {
		Seq  uint64          `json:"seq"`
		TS   int64           `json:"ts"`
		Data json.RawMessage `json:"data"`
	} `json:"records"`
}

// Handle takes one message received at at.
func (r *Recorder) Handle(topic string, payload []byte, at time.Time) {
	rest, ok := strings.CutPrefix(topic, r.root+"/")
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case rest == "status":
		var st struct{ State, Boot string }
		if json.Unmarshal(payload, &st) != nil {
			r.bad++
			return
		}
		r.status = append(r.status, StatusMsg{At: at, State: st.State, Boot: st.Boot})
	case rest == "event" || strings.HasPrefix(rest, "telemetry/"):
		var b batch
		if json.Unmarshal(payload, &b) != nil || b.Stream == "" {
			r.bad++
			return
		}
		if b.Historical {
			r.historical = at
		}
		for _, rec := range b.Records {
			k := recKey{b.Gateway, b.Epoch, b.Stream, rec.Seq}
			if r.seen[k] {
				r.dups[b.Stream]++
				continue
			}
			r.seen[k] = true
			ts := time.UnixMilli(rec.TS)
			if !r.watch.IsZero() && r.backlog.IsZero() && ts.Before(r.watch) && at.After(r.watch) {
				r.backlog = at
			}
			r.recs = append(r.recs, Received{Stream: b.Stream, Epoch: b.Epoch, Boot: b.Boot, Seq: rec.Seq,
				TS: ts, At: at, Historical: b.Historical})
			if rest == "event" {
				r.event(rec.Data)
			}
		}
	}
}

// event sorts one event record: a store gap, a WAN event or an alarm.
func (r *Recorder) event(data json.RawMessage) {
	var e struct {
		Type     string    `json:"type"`
		Kind     string    `json:"kind"`
		Stream   string    `json:"stream"`
		FirstSeq uint64    `json:"first_seq"`
		LastSeq  uint64    `json:"last_seq"`
		Time     time.Time `json:"time"`
		WAN      string    `json:"wan"`
		From     string    `json:"from"`
		To       string    `json:"to"`
	}
	if json.Unmarshal(data, &e) != nil {
		r.bad++
		return
	}
	switch {
	case e.Type == "buffer_eviction":
		r.gaps = append(r.gaps, Gap{Stream: e.Stream, First: e.FirstSeq, Last: e.LastSeq})
	case e.WAN != "" && (e.Kind == "wan_state" || e.Kind == "initial" || e.Kind == "failover" || e.Kind == "failback"):
		r.wan = append(r.wan, WANEvent{Time: e.Time, Kind: e.Kind, WAN: e.WAN, From: e.From, To: e.To})
	case e.Kind != "":
		r.alarms[e.Kind]++
	}
}

// LastHistorical is when the latest historical (replayed) batch arrived.
func (r *Recorder) LastHistorical() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.historical
}

// WatchBacklog starts looking for the first record made before t that
// arrives after t: the backlog of an outage that ended at t.
func (r *Recorder) WatchBacklog(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watch, r.backlog = t, time.Time{}
}

// BacklogSeen is when the watched backlog began to arrive (zero: not yet).
func (r *Recorder) BacklogSeen() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.backlog
}

// Record is everything received, for the verdict.
type Record struct {
	Records     []Received     `json:"-"`
	Duplicates  map[string]int `json:"duplicates"`
	Gaps        []Gap          `json:"gaps"`
	WAN         []WANEvent     `json:"wan_events"`
	Alarms      map[string]int `json:"alarms"`
	Status      []StatusMsg    `json:"status"`
	Undecodable int            `json:"undecodable"`
}

// Snapshot copies what was received so far.
func (r *Recorder) Snapshot() Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := Record{
		Records: append([]Received(nil), r.recs...), Duplicates: map[string]int{},
		Gaps: append([]Gap(nil), r.gaps...), WAN: append([]WANEvent(nil), r.wan...),
		Alarms: map[string]int{}, Status: append([]StatusMsg(nil), r.status...), Undecodable: r.bad,
	}
	for k, v := range r.dups {
		out.Duplicates[k] = v
	}
	for k, v := range r.alarms {
		out.Alarms[k] = v
	}
	return out
}
