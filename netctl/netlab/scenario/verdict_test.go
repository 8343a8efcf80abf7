package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func batchJSON(stream, boot string, historical bool, recs ...string) []byte {
	return fmt.Appendf(nil, `{"gateway":"g","boot":%q,"stream":%q,"historical":%v,"records":[%s]}`,
		boot, stream, historical, strings.Join(recs, ","))
}

func rec(seq int, ts float64, data string) string {
	return fmt.Sprintf(`{"seq":%d,"ts":%d,"data":%s}`, seq, at(ts).UnixMilli(), data)
}

func TestRecorder(t *testing.T) {
	r := NewRecorder("branchgw/s1")
	r.Handle("branchgw/s1/telemetry/status", batchJSON("status", "b1", false, rec(1, 0, `{}`), rec(2, 1, `{}`)), at(1))
	// The same records again (a redelivery after a lost PUBACK): duplicates.
	r.Handle("branchgw/s1/telemetry/status", batchJSON("status", "b1", true, rec(2, 1, `{}`), rec(3, 2, `{}`)), at(5))
	r.Handle("branchgw/s1/event", batchJSON("event", "b1", false,
		rec(1, 0, `{"type":"buffer_eviction","stream":"status","first_seq":4,"last_seq":6}`),
		rec(2, 1, fmt.Sprintf(`{"kind":"failover","wan":"wan2","from":"wan1","to":"wan2","time":%q}`, at(1).Format(time.RFC3339Nano))),
		rec(3, 1, `{"kind":"new_device","mac":"02:00:00:00:00:01"}`)), at(2))
	r.Handle("branchgw/s1/status", []byte(`{"state":"online","boot":"b1"}`), at(0))
	r.Handle("branchgw/s1/telemetry/status", []byte(`not json`), at(3))
	r.Handle("branchgw/other/telemetry/status", batchJSON("status", "b1", false, rec(9, 0, `{}`)), at(3))
	// The same boot and seq from a fresh database (a corrupt one was set
	// aside): another epoch, so a new record, not a duplicate.
	r.Handle("branchgw/s1/telemetry/status", fmt.Appendf(nil, `{"gateway":"g","epoch":"e2","boot":"b1","stream":"status","records":[%s]}`, rec(1, 3, `{}`)), at(4))

	got := r.Snapshot()
	if len(got.Records) != 7 {
		t.Errorf("records: got %d, want 7", len(got.Records))
	}
	if got.Duplicates["status"] != 1 {
		t.Errorf("duplicates: %v", got.Duplicates)
	}
	if len(got.Gaps) != 1 || got.Gaps[0] != (Gap{Stream: "status", First: 4, Last: 6}) {
		t.Errorf("gaps: %+v", got.Gaps)
	}
	if len(got.WAN) != 1 || got.WAN[0].Kind != "failover" || got.WAN[0].From != "wan1" || !got.WAN[0].Time.Equal(at(1)) {
		t.Errorf("wan events: %+v", got.WAN)
	}
	if got.Alarms["new_device"] != 1 || got.Undecodable != 1 || len(got.Status) != 1 {
		t.Errorf("alarms %v, undecodable %d, status %v", got.Alarms, got.Undecodable, got.Status)
	}
	if !r.LastHistorical().Equal(at(5)) {
		t.Errorf("last historical: %v", r.LastHistorical())
	}

	// The backlog of an outage that ended at 10 s: a record made at 11 s
	// is live, one made at 9 s is the backlog.
	r.WatchBacklog(at(10))
	r.Handle("branchgw/s1/telemetry/status", batchJSON("status", "b1", false, rec(4, 11, `{}`)), at(11))
	if !r.BacklogSeen().IsZero() {
		t.Errorf("live record taken for the backlog")
	}
	r.Handle("branchgw/s1/telemetry/status", batchJSON("status", "b1", false, rec(5, 9, `{}`)), at(12))
	if !r.BacklogSeen().Equal(at(12)) {
		t.Errorf("backlog seen at %v, want %v", r.BacklogSeen(), at(12))
	}
}

// base is a scenario with one cable pull (10-20 s) and both WANs down
// (30-40 s), everything delivered.
func base() Observations {
	o := Observations{
		Params: Short(), Goals: DefaultGoals, Start: at(0), End: at(60), WANs: []string{"wan1", "wan2"},
		HoldDown: 30 * time.Second,
		Faults: []FaultRun{
			{Kind: CarrierPull, WAN: 0, Start: at(10), End: at(20)},
			{Kind: BothDown, Start: at(30), End: at(40)},
		},
		Produced: map[string]uint64{"status": 3},
		Record: Record{
			Records: []Received{
				{Stream: "status", Seq: 1, TS: at(1), At: at(1)},
				{Stream: "status", Seq: 2, TS: at(31), At: at(43)},
				{Stream: "status", Seq: 3, TS: at(50), At: at(50)},
			},
			WAN: []WANEvent{
				{Time: at(10.05), Kind: "wan_state", WAN: "wan1", To: "down"},
				{Time: at(10.06), Kind: "failover", WAN: "wan2", From: "wan1", To: "wan2"},
				{Time: at(30.1), Kind: "wan_state", WAN: "wan1", To: "down"},
				{Time: at(30.1), Kind: "wan_state", WAN: "wan2", To: "down"},
			},
		},
		Resources: Resources{Starts: 1},
		Checks:    []Check{{At: at(5)}, {At: at(10)}},
		Pushes:    []PushResult{{Kind: BadPush, State: "rejected"}, {Kind: GoodPush, Version: 3, State: "applied"}},
	}
	for s := 0.0; s < 60; s += 0.5 {
		ok := s < 30 || s > 45
		o.Txns = append(o.Txns, Txn{Till: "pos1", Start: at(s), Latency: 20 * time.Millisecond, OK: ok})
	}
	return o
}

func TestJudge(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(o *Observations)
		pass   bool
		missed string
	}{
		{name: "all good", edit: func(*Observations) {}, pass: true},
		{name: "record lost", edit: func(o *Observations) { o.Record.Records = o.Record.Records[1:] }, missed: "records lost"},
		{name: "loss covered by a gap event", pass: true, edit: func(o *Observations) {
			o.Record.Records = o.Record.Records[1:]
			o.Record.Gaps = []Gap{{Stream: "status", First: 1, Last: 1}}
		}},
		{name: "slow carrier detection", missed: "carrier-pull wan1", edit: func(o *Observations) {
			o.Record.WAN[0].Time = at(10.5)
		}},
		{name: "detection seen only by the status API", pass: true, edit: func(o *Observations) {
			o.Record.WAN = o.Record.WAN[2:]
			o.Polled = []WANObs{{WAN: "wan1", State: "down", Since: at(10.1)}}
			o.Switches = []Switch{{To: "wan1", Since: at(0), Initial: true}, {To: "wan2", Since: at(10.1)}}
		}},
		{name: "already down when the fault began", pass: true, edit: func(o *Observations) {
			o.Record.WAN[3].Time = at(29) // wan2 died before both-down
		}},
		{name: "undetected", missed: "carrier-pull wan1", edit: func(o *Observations) { o.Record.WAN = o.Record.WAN[2:] }},
		{name: "false failover", missed: "false failovers", edit: func(o *Observations) {
			o.Record.WAN = append(o.Record.WAN, WANEvent{Time: at(55), Kind: "failover", WAN: "wan2", From: "wan1", To: "wan2"})
		}},
		{name: "restart is not a switch", pass: true, edit: func(o *Observations) {
			o.Switches = []Switch{{To: "wan1", Since: at(0), Initial: true}, {To: "wan2", Since: at(10.06)}, {To: "wan1", Since: at(50), Initial: true}}
		}},
		{name: "POS failures outside both-down", missed: "success outside both-down", edit: func(o *Observations) {
			for i := range 3 {
				o.Txns[i].OK = false
			}
		}},
		{name: "POS failures on a throttled SIM do not count", pass: true, edit: func(o *Observations) {
			o.Faults = append(o.Faults, FaultRun{Kind: Throttled, WAN: 1, Start: at(50), End: at(55)})
			for i := range o.Txns {
				if s := o.Txns[i].Start; !s.Before(at(50)) && s.Before(at(55)) {
					o.Txns[i].OK = false
				}
			}
		}},
		{name: "bad push applied", missed: "bad-config-push", edit: func(o *Observations) { o.Pushes[0].State = "applied" }},
		{name: "good push not delivered", missed: "good-config-push", edit: func(o *Observations) { o.Pushes[1].State = "not-delivered" }},
		{name: "status page down outside a restart", missed: "status page", edit: func(o *Observations) {
			o.Checks = append(o.Checks, Check{At: at(15), Err: "connection refused"})
		}},
		{name: "status page down during a restart", pass: true, edit: func(o *Observations) {
			o.Resources.Starts, o.Resources.Kills = 2, 1
			o.Resources.Down = []window{{Start: at(44), End: at(46)}}
			o.Checks = append(o.Checks, Check{At: at(45), Err: "connection refused"})
		}},
		{name: "crash", missed: "unexpected crashes", edit: func(o *Observations) { o.Resources.Crashes = 1 }},
		{name: "flapping within the hold-down", pass: true, edit: func(o *Observations) {
			o.Faults = append(o.Faults, FaultRun{Kind: Flap, WAN: 0, Start: at(50), End: at(55)})
			o.Record.WAN = append(o.Record.WAN, WANEvent{Time: at(50.1), Kind: "failover", From: "wan1", To: "wan2", WAN: "wan2"})
		}},
		{name: "flapping traffic", missed: "flap wan1", edit: func(o *Observations) {
			o.Faults = append(o.Faults, FaultRun{Kind: Flap, WAN: 0, Start: at(50), End: at(55)})
			for _, s := range []float64{50.1, 51.1, 52.1} {
				o.Record.WAN = append(o.Record.WAN, WANEvent{Time: at(s), Kind: "failover", From: "wan1", To: "wan2", WAN: "wan2"},
					WANEvent{Time: at(s + 0.5), Kind: "failback", From: "wan2", To: "wan1", WAN: "wan1"})
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base()
			c.edit(&o)
			v := Judge(o)
			var tab bytes.Buffer
			if err := v.WriteTable(&tab); err != nil {
				t.Fatal(err)
			}
			if v.Pass != c.pass {
				t.Fatalf("pass = %v, want %v\n%s", v.Pass, c.pass, tab.String())
			}
			if c.missed != "" && !strings.Contains(strings.Join(v.Missed(), "\n"), c.missed) {
				t.Errorf("missed goals %q do not name %q", v.Missed(), c.missed)
			}
			var js bytes.Buffer
			if err := v.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var back Verdict
			if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Pass != v.Pass {
				t.Errorf("JSON round trip: %v, pass %v", err, back.Pass)
			}
		})
	}
}

func TestJudgeFigures(t *testing.T) {
	v := Judge(base())
	if v.POS.Attempted != 120 || v.POS.OutsideAttempted != 83 || v.POS.SuccessOutside != 1 {
		t.Errorf("POS: %+v", v.POS)
	}
	// Successes stop after the one started at 29.5 s and resume at 45.5 s.
	if want := 16 * time.Second; v.POS.LongestGap != want {
		t.Errorf("longest gap %v, want %v", v.POS.LongestGap, want)
	}
	if v.ReturnDelays[string(BothDown)] != 3*time.Second || len(v.ReturnDelays) != 1 {
		t.Errorf("delay after return: %v", v.ReturnDelays)
	}
	if len(v.Faults) != 3 || v.Faults[0].Detect != 50*time.Millisecond || v.Faults[0].Failover != 60*time.Millisecond {
		t.Errorf("faults: %+v", v.Faults)
	}
	if s := v.Telemetry[0]; s.Stream != "status" || s.Produced != 3 || s.Received != 3 || s.Lost != 0 || len(s.LostRanges) != 0 {
		t.Errorf("telemetry: %+v", v.Telemetry)
	}
}

func TestGatewaydConfig(t *testing.T) {
	p := Short()
	dir := t.TempDir()
	good, err := gatewaydConfig("lab-bgl0001", dir, 2, "7Qb1yO2X7+ysnhN8HKsZsjrFI6PRLcgMVMVY5MQ4mgY=", p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkConfig(good, dir); err != nil {
		t.Errorf("good config: %v", err)
	}
	for _, want := range []string{"site: lab-bgl0001", "version: 2", "budget: 1024KiB", "replay_per_second: 5"} {
		if !bytes.Contains(good, []byte(want)) {
			t.Errorf("config lacks %q", want)
		}
	}
	if _, err := gatewaydConfig("lab-bgl0001", dir, 3, "7Qb1yO2X7+ysnhN8HKsZsjrFI6PRLcgMVMVY5MQ4mgY=", p,
		map[string]string{"failover.probe_intervall": "200ms"}); err == nil || !strings.Contains(err.Error(), "not in the config") {
		t.Errorf("an edit of a field the example lacks: %v", err)
	}
	bad, err := misspell(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkConfig(bad, dir); err == nil || !strings.Contains(err.Error(), "probe_intervall") {
		t.Errorf("bad config: %v", err)
	}
}

func TestSchedules(t *testing.T) {
	for _, p := range []Params{Short(), Long()} {
		last := time.Duration(0)
		kinds := map[FaultKind]bool{}
		for _, s := range p.Steps {
			kinds[s.Kind] = true
			end := s.At + s.Dur
			if s.Kind == DiskFullDuringReplay {
				end += p.FullFor // the wait for the replay, then the full disk
			}
			if end > last {
				last = end
			}
		}
		if last >= p.Length {
			t.Errorf("%s: a fault ends at %v, after the scenario (%v)", p.Name, last, p.Length)
		}
		want := []FaultKind{CarrierPull, Flap, BlackHole, Slow, BothDown, BrokerRestart, KillDuringReplay,
			BadPush, GoodPush, DeviceBurst, Throttled, DiskFullDuringReplay}
		for _, k := range want {
			if !kinds[k] {
				t.Errorf("%s: no %s", p.Name, k)
			}
		}
	}
}

func TestLostRanges(t *testing.T) {
	o := base()
	o.Produced["status"] = 9
	o.Record.Records = append(o.Record.Records, Received{Stream: "status", Seq: 6}) // 4, 5, 7, 8, 9 lost
	v := Judge(o)
	want := [][2]uint64{{4, 5}, {7, 9}}
	if got := v.Telemetry[0].LostRanges; fmt.Sprint(got) != fmt.Sprint(want) || v.Telemetry[0].Lost != 5 {
		t.Errorf("lost %d in %v, want 5 in %v", v.Telemetry[0].Lost, got, want)
	}
}
