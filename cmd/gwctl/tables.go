package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/branchgw/branchgw/gateway/web"
)

func table(w io.Writer, header string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func orDash(s string) string { return cmp.Or(s, "-") }

func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if time.Since(t) > 20*time.Hour {
		return t.Local().Format("Jan 2 15:04")
	}
	return t.Local().Format("15:04:05")
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func bytesH(n uint64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %cB", f, "kMGT"[i-1])
}

func (c *cli) status() error {
	var st web.Status
	if printed, err := c.get("/api/v1/status", &st); err != nil || printed {
		return err
	}
	w := c.out
	fmt.Fprintf(w, "%s (%s)  version %s  up %s\n\n", orDash(st.Site), orDash(st.GatewayID), orDash(st.Version), orDash(st.Uptime))
	fmt.Fprintf(w, "%s: %s\n", strings.ToUpper(st.Level), st.Verdict)
	for _, a := range st.Alarms {
		fmt.Fprintf(w, "\n  [%s] %s\n    what to do: %s\n", a.Severity, a.Message, a.WhatToDo)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "active WAN:  %s\n", strings.ToUpper(orDash(st.ActiveWAN)))
	if u := st.Uplink; u != nil {
		link := "no broker configured"
		if u.Enabled && u.Connected {
			link = "connected since " + clock(u.ConnectedSince)
		} else if u.Enabled {
			link = "not connected" + cmp.Or(" ("+u.LastError+")", "")
		}
		fmt.Fprintf(w, "head office: %s\nbacklog:     %d records, %s\n", link, u.BacklogRecords, bytesH(uint64(u.BacklogBytes)))
	}
	if len(st.Missing) > 0 {
		fmt.Fprintf(w, "not reporting: %s\n", strings.Join(st.Missing, ", "))
	}
	fmt.Fprintln(w)
	var rows [][]string
	for _, comp := range st.Components {
		rows = append(rows, []string{comp.Name, comp.State, fmt.Sprint(comp.Restarts), orDash(comp.LastError)})
	}
	table(w, "COMPONENT\tSTATE\tRESTARTS\tLAST ERROR", rows)
	return nil
}

func (c *cli) wan() error {
	var st web.Status
	if c.json {
		// A focused JSON: the WANs and their events, not the whole status.
		_, b, err := c.do("GET", "/api/v1/status", nil)
		if err != nil {
			return err
		}
		if err := jsonUnmarshal(b, &st); err != nil {
			return err
		}
		return jsonOut(c.out, map[string]any{"active": st.ActiveWAN, "wans": st.WANs, "events": st.WANEvents})
	}
	if _, err := c.get("/api/v1/status", &st); err != nil {
		return err
	}
	if len(st.WANs) == 0 {
		fmt.Fprintln(c.out, "the WAN component is not reporting")
		return nil
	}
	var rows [][]string
	for _, w := range st.WANs {
		act := ""
		if w.Active {
			act = "*"
		}
		rows = append(rows, []string{w.Name + act, orDash(w.Interface), w.State, w.RTT.String(),
			fmt.Sprintf("%.0f%%", w.Loss), clock(w.Since), orDash(w.Reason)})
	}
	table(c.out, "WAN\tIFACE\tSTATE\tRTT\tLOSS\tSINCE\tREASON", rows)
	if len(st.WANEvents) > 0 {
		fmt.Fprintln(c.out)
		rows = nil
		for _, e := range st.WANEvents {
			rows = append(rows, []string{clock(e.Time), e.WAN, orDash(e.From) + " -> " + e.To, e.Reason})
		}
		table(c.out, "TIME\tWAN\tCHANGE\tREASON", rows)
	}
	return nil
}

func (c *cli) section(pick func(*web.Status) any, print func(*web.Status)) error {
	_, b, err := c.do("GET", "/api/v1/status", nil)
	if err != nil {
		return err
	}
	var st web.Status
	if err := jsonUnmarshal(b, &st); err != nil {
		return err
	}
	if c.json {
		return jsonOut(c.out, pick(&st))
	}
	print(&st)
	return nil
}

func (c *cli) pos() error {
	return c.section(func(s *web.Status) any { return s.POS }, func(st *web.Status) {
		var rows [][]string
		for _, t := range st.POS {
			state := "ok"
			if t.Degraded {
				state = "SLOW"
			}
			rows = append(rows, []string{t.Name, state, t.LastHS.String(), t.AvgHS.String(), t.MaxHS.String(),
				fmt.Sprintf("%.1f%%", 100*t.RetransRate), fmt.Sprintf("%d/%d", t.Failed, t.Handshakes), ago(t.LastSuccess), orDash(t.Reason)})
		}
		table(c.out, "TERMINAL\tSTATE\tHANDSHAKE\tAVG\tMAX\tRETRANS\tFAILED\tLAST OK\tREASON", rows)
	})
}

func (c *cli) devices() error {
	return c.section(func(s *web.Status) any { return s.Devices }, func(st *web.Status) {
		var rows [][]string
		for _, d := range st.Devices {
			var flags []string
			if d.New {
				flags = append(flags, "NEW")
			}
			if d.Unknown {
				flags = append(flags, "UNKNOWN")
			}
			rows = append(rows, []string{d.MAC, orDash(strings.Join(d.IPs, ",")), orDash(cmp.Or(d.Terminal, d.Hostname)),
				orDash(d.Vendor), ago(d.LastSeen), bytesH(d.Bytes), orDash(strings.Join(flags, ","))})
		}
		table(c.out, "MAC\tIP\tNAME\tVENDOR\tLAST SEEN\tBYTES\tFLAGS", rows)
	})
}

func (c *cli) flows() error {
	return c.section(func(s *web.Status) any { return map[string]any{"flows": s.Flows, "apps": s.Apps, "qos": s.QoS} },
		func(st *web.Status) {
			if st.Flows == nil {
				fmt.Fprintln(c.out, "inspection is not reporting")
				return
			}
			fmt.Fprintf(c.out, "%d active flows (max %d), capture %d packets, %d dropped\n\n",
				st.Flows.Active, st.Flows.Max, st.Flows.Packets, st.Flows.CaptureDrops)
			var rows [][]string
			for _, f := range st.Flows.Top {
				rows = append(rows, []string{f.Proto, f.Client, fmt.Sprintf("%s:%d", cmp.Or(f.Name, f.Server), f.ServerPort),
					bytesH(f.Bytes), orDash(f.Terminal)})
			}
			table(c.out, "PROTO\tCLIENT\tSERVER\tBYTES\tTERMINAL", rows)
			fmt.Fprintln(c.out)
			rows = nil
			for _, a := range st.Apps {
				rows = append(rows, []string{a.Name, orDash(a.Category), bytesH(a.Bytes), fmt.Sprint(a.Flows)})
			}
			table(c.out, "APP\tCATEGORY\tBYTES\tFLOWS", rows)
			if len(st.QoS) > 0 {
				fmt.Fprintln(c.out)
				rows = nil
				for _, q := range st.QoS {
					rows = append(rows, []string{q.Name, q.Direction, bytesH(uint64(q.RateBps/8)) + "/s",
						bytesH(q.Bytes), fmt.Sprint(q.Drops), bytesH(q.Backlog)})
				}
				table(c.out, "CLASS\tDIR\tNOW\tSENT\tDROPS\tQUEUED", rows)
			}
		})
}

func (c *cli) events(n int) error {
	var evs []web.Event
	if printed, err := c.get(fmt.Sprintf("/api/v1/events?n=%d", n), &evs); err != nil || printed {
		return err
	}
	var rows [][]string
	for _, e := range evs {
		rows = append(rows, []string{clock(e.Time), e.Source, e.Kind, e.Message})
	}
	table(c.out, "TIME\tSOURCE\tKIND\tMESSAGE", rows)
	return nil
}

func (c *cli) logs(n int) error {
	var ls []web.LogLine
	if printed, err := c.get(fmt.Sprintf("/api/v1/logs?n=%d", n), &ls); err != nil || printed {
		return err
	}
	for _, l := range ls {
		fmt.Fprintln(c.out, l.Text)
	}
	return nil
}

func (c *cli) runbook() error {
	var rb []struct {
		Kind     string `json:"kind"`
		WhatToDo string `json:"what_to_do"`
	}
	if printed, err := c.get("/api/v1/runbook", &rb); err != nil || printed {
		return err
	}
	for _, r := range rb {
		fmt.Fprintf(c.out, "%s\n  %s\n", r.Kind, r.WhatToDo)
	}
	return nil
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("the daemon's answer is not what this gwctl expects (version mismatch?): %w", err)
	}
	return nil
}

func jsonOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
