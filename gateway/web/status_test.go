package web

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestVerdict(t *testing.T) {
	at := func(hhmm string) time.Time {
		v, _ := time.Parse("15:04", hhmm)
		return time.Date(2026, 11, 23, v.Hour(), v.Minute(), 0, 0, time.UTC)
	}
	wans := func(s1, s2, active string) []WAN {
		return []WAN{
			{Name: "wan1", State: s1, Since: at("10:42"), Reason: "carrier lost", Priority: 1, Loss: 25, RTT: 80},
			{Name: "wan2", State: s2, Since: at("09:00"), Priority: 2},
		}
	}
	for _, tc := range []struct {
		name  string
		st    Status
		level string
		want  string
		kinds string
	}{
		{"all good", Status{Ready: true, WANs: wans("up", "up", "wan1"), ActiveWAN: "wan1"}, "ok", "All good — on WAN1", ""},
		{"wan1 down", Status{Ready: true, WANs: wans("down", "up", ""), ActiveWAN: "wan2"}, "bad",
			"WAN1 down since 10:42 (carrier lost) — on WAN2 backup", "wan_down"},
		{"both down", Status{Ready: true, WANs: wans("down", "down", ""), ActiveWAN: "wan1"}, "bad",
			"No internet: WAN1 down since 10:42, WAN2 down since 09:00", "no_wan"},
		{"degraded", Status{Ready: true, WANs: wans("degraded", "up", ""), ActiveWAN: "wan1"}, "warn",
			"WAN1 degraded since 10:42: loss 25%, RTT 80ms", "wan_degraded"},
		{"on backup, primary recovering", Status{Ready: true, WANs: wans("unknown", "up", ""), ActiveWAN: "wan2"}, "warn",
			"On WAN2 backup while WAN1 is unknown", "on_backup"},
		{"both lines in trouble: staying on the backup", Status{Ready: true, WANs: wans("up", "down", ""), ActiveWAN: "wan2", StayingOn: "wan2"}, "bad",
			"WAN2 fails its health checks since 09:00 but still carries traffic: staying on it while the other line proves itself (+1 more)", "wan_staying on_backup"},
		{"starting", Status{WANs: wans("up", "up", ""), ActiveWAN: "wan1"}, "warn", "gatewayd is starting", "starting"},
		{"slow terminal beats the uplink", Status{Ready: true, WANs: wans("up", "up", ""), ActiveWAN: "wan1",
			POS:    []Terminal{{Name: "pos1", Degraded: true, Reason: "TLS handshake 2.1 s over 1 s"}},
			Uplink: &Uplink{Enabled: true, BacklogRecords: 7, LastError: "connection refused"}}, "bad",
			"Card terminal pos1 is slow: TLS handshake 2.1 s over 1 s (+1 more)", "pos_degraded uplink_down"},
		{"failing component", Status{Ready: true, Components: []Component{{Name: "inspect", State: "backoff", Restarts: 3, LastError: "no such device"}}},
			"warn", "Component inspect is failing (3 restarts): no such device", "component_failing"},
		{"buffer evicting", Status{Ready: true, Store: &StoreState{EvictedRecords: 10}}, "warn",
			"Telemetry buffer full: 10 old records dropped", "store_evicting"},
		{"new device is info only", Status{Ready: true, Devices: []Device{{MAC: "02:00:00:00:00:99", New: true, FirstSeen: at("10:30")}}},
			"ok", "All good", "new_device"},
		{"qos", Status{Ready: true, Shaping: &Shaping{Enabled: true, Error: "no such device"}}, "warn",
			"QoS not applied: no such device", "qos_error"},
		{"firewall", Status{Ready: true, Firewall: &Firewall{Err: "netlink: permission denied"}}, "bad",
			"Firewall not applied: netlink: permission denied", "firewall_error"},
	} {
		st := tc.st
		st.Time = at("11:00")
		judge(&st)
		var kinds []string
		for _, a := range st.Alarms {
			kinds = append(kinds, a.Kind)
			if a.WhatToDo == "" {
				t.Errorf("%s: alarm %s has no what-to-do", tc.name, a.Kind)
			}
		}
		if st.Level != tc.level || st.Verdict != tc.want || strings.Join(kinds, " ") != tc.kinds {
			t.Errorf("%s: %s %q %v, want %s %q [%s]", tc.name, st.Level, st.Verdict, kinds, tc.level, tc.want, tc.kinds)
		}
	}
}

func TestRunbookComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Runbook {
		if seen[r.Kind] || len(r.WhatToDo) < 30 || !strings.HasSuffix(r.WhatToDo, ".") {
			t.Errorf("runbook %s: duplicate or not a sentence: %q", r.Kind, r.WhatToDo)
		}
		seen[r.Kind] = true
	}
}

func TestBuildStatusDegrades(t *testing.T) {
	now := testBase
	for _, tc := range []struct {
		name, snap string
		missing    string
		err        bool
	}{
		{"no parts", `{"site":"s","ready":true}`, "wan uplink store inspect qos zones", false},
		{"null part", `{"parts":{"wan":null}}`, "wan uplink store inspect qos zones", false},
		{"garbage part", `{"parts":{"wan":"x","uplink":{"connected":"yes"}}}`, "unreadable", false},
		{"wrong types in a part", `{"parts":{"inspect":{"pos":[{"tls_handshake_last_ns":"soon"}]}}}`, "inspect (unreadable", false},
		{"not an object", `[1,2]`, "", true},
		{"not JSON", `{`, "", true},
	} {
		st, err := buildStatus(json.RawMessage(tc.snap), now)
		if (err != nil) != tc.err {
			t.Errorf("%s: err %v", tc.name, err)
			continue
		}
		if err != nil {
			continue
		}
		judge(st) // must not panic on any partial status
		if !strings.Contains(strings.Join(st.Missing, " "), tc.missing) {
			t.Errorf("%s: missing %q, want %q", tc.name, st.Missing, tc.missing)
		}
	}
	// A value that cannot be encoded is an error, not a panic.
	if _, err := buildStatus(map[string]any{"x": make(chan int)}, now); err == nil {
		t.Error("unencodable snapshot accepted")
	}
}

func TestFixtureStatus(t *testing.T) {
	f := newFakeGW(t)
	h := newHub(f.deps())
	fr := h.refresh()
	if fr.err != nil {
		t.Fatal(fr.err)
	}
	st := fr.st
	if st.ActiveWAN != "wan1" || len(st.WANs) != 2 || st.WANs[0].RTT != 12.4 || st.WANs[1].RTT != 48 ||
		!st.WANs[0].Active || st.WANs[1].Active || st.WANs[1].StandbyMB != 37.3 || st.Failovers != 1 {
		t.Errorf("WANs: active %q %+v", st.ActiveWAN, st.WANs)
	}
	if len(st.WANEvents) != 2 || st.WANEvents[0].To != "up" || st.WANEvents[1].Reason != "carrier lost" {
		t.Errorf("WAN events (newest first): %+v", st.WANEvents)
	}
	if len(st.POS) != 2 || st.POS[0].LastHS != 85 || st.POS[0].AvgHS != 90 {
		t.Errorf("POS: %+v", st.POS)
	}
	if d := st.Devices[0]; d.MAC != "02:00:00:00:00:99" || !d.New || !d.Unknown {
		t.Errorf("new unknown device not first: %+v", st.Devices)
	}
	if st.Devices[1].New || st.Devices[2].New {
		t.Errorf("old devices marked new: %+v", st.Devices[1:])
	}
	if len(st.QoS) != 10 || st.QoS[0].Direction != "up" || st.QoS[5].Direction != "down" || st.Shaping.Leaf != "tbf" || st.Flows.Active != 42 || st.Flows.Top[0].Bytes != 91000000 || st.Uplink.BacklogRecords != 12 ||
		st.Store.Budget != 64<<20 || st.Firewall == nil || !st.Firewall.InSync {
		t.Errorf("other parts: %+v %+v %+v", st.QoS, st.Flows, st.Uplink)
	}
	if len(st.Missing) != 0 {
		t.Errorf("missing %v", st.Missing)
	}
	if st.Verdict != "All good — on WAN1" {
		t.Errorf("verdict %q", st.Verdict)
	}
}

func TestQoSRates(t *testing.T) {
	f := newFakeGW(t)
	d := f.deps()
	now := testBase
	d.Now = func() time.Time { return now }
	h := newHub(d)
	h.refresh()
	// Two seconds later the bulk class has sent 1 MB more.
	f.mu.Lock()
	up := f.snap["parts"].(map[string]any)["qos"].(map[string]any)["upload"].([]any)
	up[3].(map[string]any)["bytes"] = 91000000.0 + 1e6
	f.mu.Unlock()
	now = now.Add(2 * time.Second)
	st := h.refresh().st
	for _, c := range st.QoS {
		want := 0.0
		if c.Name == "bulk" && c.Direction == "up" {
			want = 4e6 // 1 MB in 2 s
		}
		if c.RateBps != want {
			t.Errorf("%s/%s: %.0f bit/s, want %.0f", c.Direction, c.Name, c.RateBps, want)
		}
	}
}

func TestEventLogRecord(t *testing.T) {
	l := NewEventLog(3)
	type alarm struct {
		Kind   string    `json:"kind"`
		Time   time.Time `json:"time"`
		Detail string    `json:"detail"`
	}
	l.Record(alarm{Kind: "pos_degraded", Time: testBase, Detail: "pos1 handshake 2 s"})
	l.Record(map[string]any{"kind": "failover", "wan": "wan2", "from": "down", "to": "up", "reason": "wan1 carrier lost"})
	l.Record(struct{ Message string }{"plain"})
	l.Record(make(chan int)) // not encodable: dropped
	l.Add(Event{Kind: "action", Message: "fourth"})
	got := l.Recent(10)
	if len(got) != 3 {
		t.Fatalf("kept %d events, want the last 3", len(got))
	}
	if got[0].Source != "gateway" || got[0].Kind != "failover" || got[0].Message != "wan2 down → up: wan1 carrier lost" {
		t.Errorf("map event: %+v", got[0])
	}
	if got[1].Message != "plain" || got[2].Message != "fourth" {
		t.Errorf("order: %+v", got)
	}
	l = NewEventLog(5)
	l.Record(alarm{Kind: "pos_degraded", Time: testBase, Detail: "pos1 handshake 2 s"})
	if e := l.Recent(1)[0]; e.Source != "web" || e.Kind != "pos_degraded" || !e.Time.Equal(testBase) || e.Message != "pos1 handshake 2 s" {
		t.Errorf("typed event: %+v", e)
	}
}

func TestLogRing(t *testing.T) {
	r := NewLogRing(3)
	var lv slog.LevelVar
	lv.Set(slog.LevelWarn) // the daemon logs warnings only…
	log := slog.New(r.Handler(slog.NewTextHandler(&strings.Builder{}, &slog.HandlerOptions{Level: &lv}), slog.LevelInfo))
	log = log.With("component", "wan")
	for i := range 5 {
		log.Info("probe", "n", i) // …but the ring keeps info for the page
	}
	log.Debug("not kept")
	got := r.Recent(10)
	if len(got) != 3 || !strings.Contains(got[0].Text, "n=2") || !strings.Contains(got[2].Text, "component=wan") {
		t.Errorf("ring: %+v", got)
	}
	if len(r.Recent(1)) != 1 || !strings.Contains(r.Recent(1)[0].Text, "n=4") {
		t.Errorf("last line: %+v", r.Recent(1))
	}
}
