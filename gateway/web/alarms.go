package web

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Severities, most severe first.
const (
	SevCritical = "critical"
	SevWarning  = "warning"
	SevInfo     = "info"
)

// Alarm is one thing wrong now, with the next step for the technician.
type Alarm struct {
	// Kind is one of the Runbook's keys; ID is Kind plus the subject, stable
	// while the alarm lasts.
	Kind     string    `json:"kind"`
	ID       string    `json:"id"`
	Severity string    `json:"severity"`
	Message  string    `json:"message"`
	Since    time.Time `json:"since,omitzero"`
	// WhatToDo is the runbook line for Kind.
	WhatToDo string `json:"what_to_do"`
}

// Runbook is the "what to do" line of every alarm kind, kept here beside the
// code that raises the alarms; the README's troubleshooting section lists
// the same lines (gwctl runbook prints them).
var Runbook = []struct{ Kind, WhatToDo string }{
	{"starting", "gatewayd is still starting its components; wait a minute and reload."},
	{"no_wan", "No line reaches the internet: check the power and cables of both modems, power-cycle them, then call the ISPs; card terminals may fall back to offline mode meanwhile."},
	{"wan_down", "Check this line's modem (power, cable, its lights) and power-cycle it; if it stays down call the ISP. The store keeps trading on the other line."},
	{"wan_staying", "Both lines are in trouble: the active one fails its health checks but still carries traffic, the other has just come back and is not trusted yet. Check both modems; traffic moves by itself once the other line holds, or use \"Force WAN\" after \"Test WAN\" shows it healthy."},
	{"on_backup", "The store runs on the backup line: fix the primary line; traffic moves back by itself after the hold-down, or use \"Force WAN\" once the primary tests healthy."},
	{"wan_degraded", "The line loses packets or is slow: check its cable and modem, run \"Test WAN\"; if the loss persists, report it to the ISP with the figures shown."},
	{"pos_degraded", "Check this terminal's cable or Wi-Fi and the active line; if both are fine the payment provider is slow: call their helpdesk with the handshake time shown."},
	{"component_failing", "Press \"Restart\" for this component; if it keeps failing, download the diagnostics bundle and send it to support."},
	{"uplink_down", "Telemetry is kept safely on the box. If the internet works, check mqtt.broker and its credentials in the config, or ask head office whether the broker is up."},
	{"store_evicting", "The telemetry buffer is full and drops the oldest records: restore the head-office link; if outages are long, raise telemetry.budget."},
	{"store_error", "The telemetry store reports an error: check free disk space (System section); download the diagnostics bundle and send it to support."},
	{"qos_error", "Card payments are not prioritised on the line: press \"Restart\" for the qos component; if it persists send the diagnostics bundle to support."},
	{"firewall_error", "The firewall could not be applied: restart the zones component; if it persists send the diagnostics bundle to support."},
	{"pos_unlisted", "A card terminal talks to a destination that is not allowlisted: check the terminal's settings; if the host is the payment provider's, add it to the pos zone's allowlist."},
	{"capture_drops", "The box cannot inspect all LAN traffic: check CPU load (System section); lower inspect.max_flows or disable inspection on this model."},
	{"disk_full", "The disk is almost full: download the diagnostics bundle, then reboot; if it fills again, send the bundle to support."},
	{"new_device", "A device joined the store network recently: check it belongs to the store; unplug it if nobody knows it."},
}

var runbookIndex = func() map[string]int {
	m := map[string]int{}
	for i, r := range Runbook {
		m[r.Kind] = i
	}
	return m
}()

func newAlarm(kind, subject, sev string, since time.Time, format string, args ...any) Alarm {
	id := kind
	if subject != "" {
		id += ":" + subject
	}
	return Alarm{Kind: kind, ID: id, Severity: sev, Since: since, Message: fmt.Sprintf(format, args...),
		WhatToDo: Runbook[runbookIndex[kind]].WhatToDo}
}

func sevRank(s string) int {
	switch s {
	case SevCritical:
		return 0
	case SevWarning:
		return 1
	}
	return 2
}

// primary is the preferred WAN: the lowest priority, the first on a tie.
func primary(wans []WAN) *WAN {
	var p *WAN
	for i := range wans {
		if p == nil || wans[i].Priority < p.Priority {
			p = &wans[i]
		}
	}
	return p
}

func upper(s string) string { return strings.ToUpper(s) }

// judge fills in the alarms, the level and the one-sentence verdict.
func judge(st *Status) {
	at := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		if st.Time.Sub(t) > 20*time.Hour {
			return " since " + t.In(st.Time.Location()).Format("Jan 2 15:04")
		}
		return " since " + t.In(st.Time.Location()).Format("15:04")
	}
	var as []Alarm
	if !st.Ready {
		as = append(as, newAlarm("starting", "", SevWarning, st.Started, "gatewayd is starting"))
	}
	usable := 0
	for _, w := range st.WANs {
		if w.State == "up" || w.State == "degraded" {
			usable++
		}
	}
	p := primary(st.WANs)
	switch {
	case len(st.WANs) > 0 && usable == 0:
		var parts []string
		for _, w := range st.WANs {
			parts = append(parts, upper(w.Name)+" "+w.State+at(w.Since))
		}
		as = append(as, newAlarm("no_wan", "", SevCritical, time.Time{}, "No internet: %s", strings.Join(parts, ", ")))
	default:
		for _, w := range st.WANs {
			switch {
			case w.Name == st.StayingOn:
				as = append(as, newAlarm("wan_staying", w.Name, SevCritical, w.Since,
					"%s fails its health checks%s but still carries traffic: staying on it while the other line proves itself", upper(w.Name), at(w.Since)))
			case w.State == "down":
				msg := fmt.Sprintf("%s down%s", upper(w.Name), at(w.Since))
				if w.Reason != "" {
					msg += " (" + w.Reason + ")"
				}
				if st.ActiveWAN != "" && st.ActiveWAN != w.Name {
					msg += " — on " + upper(st.ActiveWAN) + " backup"
				}
				as = append(as, newAlarm("wan_down", w.Name, SevCritical, w.Since, "%s", msg))
			case w.State == "degraded":
				as = append(as, newAlarm("wan_degraded", w.Name, SevWarning, w.Since,
					"%s degraded%s: loss %.0f%%, RTT %s", upper(w.Name), at(w.Since), w.Loss, w.RTT))
			}
		}
		if p != nil && st.ActiveWAN != "" && st.ActiveWAN != p.Name && p.State != "down" {
			as = append(as, newAlarm("on_backup", st.ActiveWAN, SevWarning, time.Time{},
				"On %s backup while %s is %s", upper(st.ActiveWAN), upper(p.Name), p.State))
		}
	}
	for _, t := range st.POS {
		if t.Degraded {
			reason := t.Reason
			if reason == "" {
				reason = fmt.Sprintf("handshake %s, %.0f%% retransmits", t.LastHS, t.RetransRate*100)
			}
			as = append(as, newAlarm("pos_degraded", t.Name, SevCritical, time.Time{}, "Card terminal %s is slow: %s", t.Name, reason))
		}
	}
	for _, c := range st.Components {
		if c.State == "backoff" {
			as = append(as, newAlarm("component_failing", c.Name, SevWarning, c.Since,
				"Component %s is failing (%d restarts): %s", c.Name, c.Restarts, c.LastError))
		}
	}
	if u := st.Uplink; u != nil && u.Enabled && !u.Connected {
		as = append(as, newAlarm("uplink_down", "", SevWarning, time.Time{},
			"No link to head office (%d records buffered)%s", u.BacklogRecords, errSuffix(u.LastError)))
	}
	if s := st.Store; s != nil {
		if s.LastError != "" {
			as = append(as, newAlarm("store_error", "", SevWarning, time.Time{}, "Telemetry store: %s", s.LastError))
		}
		if s.EvictedRecords > 0 {
			as = append(as, newAlarm("store_evicting", "", SevWarning, time.Time{},
				"Telemetry buffer full: %d old records dropped", s.EvictedRecords))
		}
	}
	if sh := st.Shaping; sh != nil && sh.Enabled && sh.Error != "" {
		as = append(as, newAlarm("qos_error", "", SevWarning, time.Time{}, "QoS not applied: %s", sh.Error))
	}
	if f := st.Firewall; f != nil {
		if f.Err != "" {
			as = append(as, newAlarm("firewall_error", "", SevCritical, time.Time{}, "Firewall not applied: %s", f.Err))
		}
		if f.Unlisted > 0 {
			as = append(as, newAlarm("pos_unlisted", "", SevWarning, time.Time{},
				"%d card-terminal connections to unlisted destinations", f.Unlisted))
		}
	}
	if f := st.Flows; f != nil && f.CaptureDrops > 0 && f.Packets > 0 &&
		float64(f.CaptureDrops) > 0.01*float64(f.Packets) {
		as = append(as, newAlarm("capture_drops", "", SevInfo, time.Time{},
			"Inspection dropped %d of %d packets", f.CaptureDrops, f.Packets))
	}
	if s := st.System; s.DiskTotal > 0 && float64(s.DiskUsed) > 0.95*float64(s.DiskTotal) {
		as = append(as, newAlarm("disk_full", "", SevWarning, time.Time{}, "Disk %s is %.0f%% full",
			s.DiskPath, 100*float64(s.DiskUsed)/float64(s.DiskTotal)))
	}
	for _, d := range st.Devices {
		if d.New {
			what := "New unknown device " + d.MAC
			if name := cmp.Or(d.Hostname, d.Vendor); name != "" {
				what = "New device " + name + " (" + d.MAC + ")"
			}
			as = append(as, newAlarm("new_device", d.MAC, SevInfo, d.FirstSeen, "%s%s", what, at(d.FirstSeen)))
		}
	}
	slices.SortStableFunc(as, func(a, b Alarm) int {
		return cmp.Or(cmp.Compare(sevRank(a.Severity), sevRank(b.Severity)),
			cmp.Compare(runbookIndex[a.Kind], runbookIndex[b.Kind]))
	})
	st.Alarms = as
	st.Level, st.Verdict = verdict(st, as)
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}

// verdict is the one sentence at the top of the page: the most severe
// alarm, or all good.
func verdict(st *Status, as []Alarm) (level, text string) {
	if len(as) == 0 || as[0].Severity == SevInfo {
		text = "All good"
		if st.ActiveWAN != "" {
			text += " — on " + upper(st.ActiveWAN)
		}
		return "ok", text
	}
	level = "warn"
	if as[0].Severity == SevCritical {
		level = "bad"
	}
	text = as[0].Message
	if n := countAbove(as, SevInfo); n > 1 {
		text += fmt.Sprintf(" (+%d more)", n-1)
	}
	return level, text
}

func countAbove(as []Alarm, sev string) int {
	n := 0
	for _, a := range as {
		if sevRank(a.Severity) < sevRank(sev) {
			n++
		}
	}
	return n
}
