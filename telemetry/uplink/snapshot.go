package uplink

import (
	"context"
	"encoding/json"
	"time"
)

// Snapshot is the uplink's state for the status page, the API and /metrics.
type Snapshot struct {
	Enabled        bool      `json:"enabled"` // false: no broker configured
	Broker         string    `json:"broker,omitempty"`
	Connected      bool      `json:"connected"`
	ConnectedSince time.Time `json:"connected_since,omitzero"`
	Reconnects     int64     `json:"reconnects"`
	LastError      string    `json:"last_error,omitempty"`
	InFlight       int64     `json:"in_flight"` // batches awaiting PUBACK
	Replaying      bool      `json:"replaying"` // backlog from before this connection still being sent
	// Backlog is everything in the store not yet acknowledged by the broker.
	BacklogRecords  int64     `json:"backlog_records"`
	BacklogBytes    int64     `json:"backlog_bytes"`
	OldestRecord    time.Time `json:"oldest_record,omitzero"`
	OldestRecordAge float64   `json:"oldest_record_age_seconds"`
	LastAck         time.Time `json:"last_ack,omitzero"`
	SentBatches     int64     `json:"sent_batches"`
	SentRecords     int64     `json:"sent_records"`
	AckedBatches    int64     `json:"acked_batches"`
	AckedRecords    int64     `json:"acked_records"`
}

// Snapshot returns the latest state without blocking.
func (u *Uplink) Snapshot() *Snapshot { return u.snap.Load() }

func (u *Uplink) publish() {
	s := &Snapshot{
		Enabled: u.opts != nil, Broker: u.broker, Connected: u.connected.Load(),
		Reconnects: u.reconnects.Load(), InFlight: u.inflight.Load(), Replaying: u.replaying.Load(),
		SentBatches: u.sentBatches.Load(), SentRecords: u.sentRecords.Load(),
		AckedBatches: u.ackedBatches.Load(), AckedRecords: u.ackedRecords.Load(),
	}
	if e := u.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	if t := u.connectedSince.Load(); s.Connected && t != 0 {
		s.ConnectedSince = time.UnixMilli(t)
	}
	if t := u.lastAck.Load(); t != 0 {
		s.LastAck = time.UnixMilli(t)
	}
	if ss := u.deps.Store.Snapshot(); ss != nil {
		s.BacklogRecords, s.BacklogBytes = ss.Records, ss.Bytes
	}
	if t, ok, err := u.deps.Store.Oldest(context.Background()); err == nil && ok {
		s.OldestRecord = t
		s.OldestRecordAge = u.deps.Now().Sub(t).Seconds()
	}
	u.snap.Store(s)
}

// statusPayload is the retained …/status message: the birth ("online") or
// the last will ("offline").
func (u *Uplink) statusPayload(state string) []byte {
	id := u.deps.Identity
	m := map[string]any{"state": state, "gateway": id.GatewayID, "boot": id.BootID, "version": id.Version}
	if state == "online" && u.deps.ActiveWAN != nil {
		m["active_wan"] = u.deps.ActiveWAN()
	}
	b, _ := json.Marshal(m) // strings only: cannot fail
	return b
}
