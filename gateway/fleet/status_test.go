package fleet

import (
	"fmt"
	"testing"
)

// msg is a received MQTT message, for onMessage.
type msg struct {
	topic   string
	payload []byte
}

func (m msg) Duplicate() bool   { return false }
func (m msg) Qos() byte         { return 1 }
func (m msg) Retained() bool    { return false }
func (m msg) Topic() string     { return m.topic }
func (m msg) MessageID() uint16 { return 0 }
func (m msg) Payload() []byte   { return m.payload }
func (m msg) Ack()              {}

// The site table shows the newest status record by head office's key: a
// backlog replayed after an outage, or a duplicate, does not turn the view
// back; a fresh store database (another epoch) counts by append time.
func TestStatusRecordsByKey(t *testing.T) {
	f := &Fleet{prefix: "branchgw", sites: map[string]*Site{}, changed: make(chan struct{}, 1)}
	status := func(epoch string, seq uint64, ts int64, backlog int) msg {
		return msg{"branchgw/s1/telemetry/status", fmt.Appendf(nil,
			`{"gateway":"s1","epoch":%q,"stream":"status","records":[{"seq":%d,"ts":%d,"data":{"backlog_records":%d}}]}`,
			epoch, seq, ts, backlog)}
	}
	for _, step := range []struct {
		name string
		m    msg
		want int64
	}{
		{"live", status("e1", 10, 10_000, 0), 0},
		{"the backlog of an outage arrives later", status("e1", 5, 5_000, 900), 0},
		{"a duplicate", status("e1", 10, 10_000, 7), 0},
		{"newer", status("e1", 11, 11_000, 3), 3},
		{"a fresh database starts at seq 1", status("e2", 1, 12_000, 4), 4},
		{"the old database's late record", status("e1", 12, 10_500, 8), 4},
	} {
		f.onMessage(nil, step.m)
		if got := f.sites["s1"].Backlog; got != step.want {
			t.Errorf("%s: backlog %d, want %d", step.name, got, step.want)
		}
	}
}
