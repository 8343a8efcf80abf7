package uplink

import (
	"encoding/json"
	"strconv"

	"github.com/branchgw/branchgw/telemetry/store"
)

// Batch is the JSON of one telemetry message (DESIGN.md, MQTT contract).
// Head office drops duplicates by (gateway, epoch, stream, seq): the epoch
// names the store's database, and seqs start over only in a new one.
type Batch struct {
	Gateway    string        `json:"gateway"`
	Epoch      string        `json:"epoch"`
	Boot       string        `json:"boot"` // the run of the daemon that appended the records
	Stream     string        `json:"stream"`
	FirstSeq   uint64        `json:"first_seq"`
	LastSeq    uint64        `json:"last_seq"`
	Historical bool          `json:"historical"` // sent late: appended before this connection
	Records    []BatchRecord `json:"records"`
}

// BatchRecord is one record in a Batch.
type BatchRecord struct {
	Seq  uint64          `json:"seq"`
	TS   int64           `json:"ts"` // unix milliseconds when it was appended
	Data json.RawMessage `json:"data"`
}

// batch is an encoded message on its way out.
type batch struct {
	topic       string
	stream      string
	first, last uint64
	historical  bool
	records     int
	payload     []byte
}

// recordJSONOverhead is the envelope of one record: {"seq":…,"ts":…,"data":},
// with room for 20-digit numbers.
const recordJSONOverhead = len(`{"seq":,"ts":,"data":},`) + 40

// encode builds the message from recs (all of one stream of the store
// whose epoch is given, in seq order): as many as fit in maxBytes (at least
// one), and only records of the first record's boot, since the boot id is
// per batch.
func encode(gateway, epoch, topic string, recs []store.Record, historical bool, maxBytes int) *batch {
	if len(recs) == 0 {
		return nil
	}
	first := recs[0]
	buf := make([]byte, 0, min(maxBytes, 4096))
	buf = append(buf, `{"gateway":`...)
	buf = appendString(buf, gateway)
	buf = append(buf, `,"epoch":`...)
	buf = appendString(buf, epoch)
	buf = append(buf, `,"boot":`...)
	buf = appendString(buf, first.Boot)
	buf = append(buf, `,"stream":`...)
	buf = appendString(buf, first.Stream)
	// first_seq, last_seq and historical follow the records, once the last
	// seq that fits is known: readers use the keys, not their order.
	buf = append(buf, `,"records":[`...)
	tail := len(`],"first_seq":,"last_seq":,"historical":false}`) + 40
	n := 0
	for i, r := range recs {
		if r.Boot != first.Boot {
			break
		}
		if i > 0 && len(buf)+len(r.Payload)+recordJSONOverhead+tail > maxBytes {
			break
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"seq":`...)
		buf = strconv.AppendUint(buf, r.Seq, 10)
		buf = append(buf, `,"ts":`...)
		buf = strconv.AppendInt(buf, r.Time.UnixMilli(), 10)
		buf = append(buf, `,"data":`...)
		buf = append(buf, r.Payload...)
		buf = append(buf, '}')
		n++
	}
	last := recs[n-1].Seq
	buf = append(buf, `],"first_seq":`...)
	buf = strconv.AppendUint(buf, first.Seq, 10)
	buf = append(buf, `,"last_seq":`...)
	buf = strconv.AppendUint(buf, last, 10)
	buf = append(buf, `,"historical":`...)
	buf = strconv.AppendBool(buf, historical)
	buf = append(buf, '}')
	return &batch{topic: topic, stream: first.Stream, first: first.Seq, last: last, historical: historical, records: n, payload: buf}
}

func appendString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return append(buf, b...)
}

// topic is where a stream's batches go: alarms on …/event, the rest on
// …/telemetry/<stream>.
func (u *Uplink) topic(stream string) string {
	if stream == store.EventStream {
		return u.prefix + "/event"
	}
	return u.prefix + "/telemetry/" + stream
}
