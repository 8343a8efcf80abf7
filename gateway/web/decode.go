package web

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// newDeviceWindow is how long a device that is not a configured terminal
// stays highlighted as new.
const newDeviceWindow = 24 * time.Hour

// Part names as the daemon registers its components; the first name found
// in the snapshot's parts is used.
var partNames = map[string][]string{
	"wan":     {"wan", "wans"},
	"uplink":  {"uplink"},
	"store":   {"store", "telemetry"},
	"outbox":  {"outbox"},
	"inspect": {"inspect"},
	"qos":     {"qos"},
	"zones":   {"zones", "firewall"},
}

// rawSnapshot is the top of gateway.Snapshot.
type rawSnapshot struct {
	Site       string                     `json:"site"`
	GatewayID  string                     `json:"gateway_id"`
	Version    string                     `json:"version"`
	BootID     string                     `json:"boot_id"`
	Started    time.Time                  `json:"started"`
	Uptime     string                     `json:"uptime"`
	Ready      bool                       `json:"ready"`
	Components []Component                `json:"components"`
	Parts      map[string]json.RawMessage `json:"parts"`
}

// rawWANPart follows wan.Snapshot.
type rawWANPart struct {
	Active      string     `json:"active"`
	ActiveSince time.Time  `json:"active_since"`
	Failovers   int        `json:"failovers"`
	HoldDown    dur        `json:"hold_down"`
	Staying     string     `json:"staying"`
	WANs        []rawWAN   `json:"wans"`
	Events      []WANEvent `json:"events"`
}

type rawWAN struct {
	WAN
	RTT    dur `json:"rtt"`
	Budget struct {
		StandbyMB float64 `json:"standby_mb_month"`
	} `json:"probe_budget"`
}

type rawTerminal struct {
	Terminal
	LastHS dur `json:"tls_handshake_last_ns"`
	AvgHS  dur `json:"tls_handshake_avg_ns"`
	MaxHS  dur `json:"tls_handshake_max_ns"`
}

type rawInspect struct {
	Capture struct {
		Packets uint64 `json:"packets"`
		Drops   uint64 `json:"drops"`
	} `json:"capture"`
	Flows struct {
		Active  int    `json:"active"`
		Max     int    `json:"max"`
		Evicted uint64 `json:"evicted"`
	} `json:"flows"`
	TopFlows []struct {
		Proto      string `json:"proto"`
		Client     string `json:"client"`
		Server     string `json:"server"`
		ServerPort uint16 `json:"server_port"`
		Name       string `json:"name"`
		BytesUp    uint64 `json:"bytes_up"`
		BytesDown  uint64 `json:"bytes_down"`
		Terminal   string `json:"terminal"`
	} `json:"top_flows"`
	Apps    []App         `json:"apps"`
	Devices []Device      `json:"devices"`
	POS     []rawTerminal `json:"pos"`
}

// rawQoS follows qos.Snapshot.
type rawQoS struct {
	Shaping
	Upload   []rawClass `json:"upload"`
	Download []rawClass `json:"download"`
}

type rawClass struct {
	Class    string `json:"class"`
	RateBits uint64 `json:"rate_bits"`
	CeilBits uint64 `json:"ceil_bits"`
	Bytes    uint64 `json:"bytes"`
	Packets  uint64 `json:"packets"`
	Drops    uint64 `json:"drops"`
	Backlog  uint64 `json:"backlog"`
}

// rawZones follows zones.Snapshot, which has no JSON tags.
type rawZones struct {
	InSync   bool
	Repairs  uint64
	Err      string
	Unlisted []json.RawMessage
}

// wanEvents picks the WAN component's transitions out of the event log,
// newest first.
func wanEvents(evs []Event) []WANEvent {
	var out []WANEvent
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Source != "wan" || len(e.Detail) == 0 {
			continue
		}
		var we WANEvent
		if json.Unmarshal(e.Detail, &we) == nil && we.To != "" {
			out = append(out, we)
		}
	}
	return out
}

// buildStatus reads a daemon snapshot (any value that marshals to JSON in
// gateway.Snapshot's shape) into a Status without the verdict.
func buildStatus(snap any, now time.Time) (*Status, error) {
	var b []byte
	switch v := snap.(type) {
	case []byte:
		b = v
	case json.RawMessage:
		b = v
	default:
		var err error
		if b, err = json.Marshal(snap); err != nil {
			return nil, fmt.Errorf("encoding the daemon snapshot: %w", err)
		}
	}
	var raw rawSnapshot
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("reading the daemon snapshot: %w", err)
	}
	st := &Status{
		Time: now, Site: raw.Site, GatewayID: raw.GatewayID, Version: raw.Version, BootID: raw.BootID,
		Started: raw.Started, Uptime: raw.Uptime, Ready: raw.Ready, Components: raw.Components,
	}
	part := func(name string, into any) bool {
		for _, n := range partNames[name] {
			if m, ok := raw.Parts[n]; ok && string(m) != "null" {
				if err := json.Unmarshal(m, into); err != nil {
					st.Missing = append(st.Missing, fmt.Sprintf("%s (unreadable: %v)", name, err))
					return false
				}
				return true
			}
		}
		st.Missing = append(st.Missing, name)
		return false
	}
	var w rawWANPart
	if part("wan", &w) {
		st.ActiveWAN, st.WANEvents = w.Active, w.Events
		st.ActiveSince, st.Failovers, st.HoldDown, st.StayingOn = w.ActiveSince, w.Failovers, w.HoldDown.ms(), w.Staying
		for _, x := range w.WANs {
			x.WAN.RTT, x.WAN.StandbyMB = x.RTT.ms(), x.Budget.StandbyMB
			st.WANs = append(st.WANs, x.WAN)
		}
		for i := range st.WANs {
			if st.WANs[i].Active && st.ActiveWAN == "" {
				st.ActiveWAN = st.WANs[i].Name
			}
			st.WANs[i].Active = st.WANs[i].Name == st.ActiveWAN
		}
		// Newest first, at most an hour's worth of what a page can show.
		slices.SortStableFunc(st.WANEvents, func(a, b WANEvent) int { return b.Time.Compare(a.Time) })
		if len(st.WANEvents) > 50 {
			st.WANEvents = st.WANEvents[:50]
		}
	}
	var u Uplink
	if part("uplink", &u) {
		st.Uplink = &u
	}
	var s StoreState
	if part("store", &s) {
		st.Store = &s
		var ob struct {
			Queued  int   `json:"queued"`
			Dropped int64 `json:"dropped"`
		}
		if part("outbox", &ob) {
			s.EventsQueued, s.EventsDropped = ob.Queued, ob.Dropped
		}
	}
	var in rawInspect
	if part("inspect", &in) {
		st.Apps = in.Apps
		for _, t := range in.POS {
			t.Terminal.LastHS, t.Terminal.AvgHS, t.Terminal.MaxHS = t.LastHS.ms(), t.AvgHS.ms(), t.MaxHS.ms()
			st.POS = append(st.POS, t.Terminal)
		}
		if len(st.Apps) > 20 {
			st.Apps = st.Apps[:20]
		}
		fs := &FlowSummary{Active: in.Flows.Active, Max: in.Flows.Max, Evicted: in.Flows.Evicted,
			Packets: in.Capture.Packets, CaptureDrops: in.Capture.Drops}
		for _, f := range in.TopFlows {
			if len(fs.Top) == 20 {
				break
			}
			fs.Top = append(fs.Top, TopFlow{Proto: f.Proto, Client: f.Client, Server: f.Server,
				ServerPort: f.ServerPort, Name: f.Name, Bytes: f.BytesUp + f.BytesDown, Terminal: f.Terminal})
		}
		st.Flows = fs
		st.Devices = in.Devices
		for i := range st.Devices {
			d := &st.Devices[i]
			d.New = d.Terminal == "" && !d.FirstSeen.IsZero() && now.Sub(d.FirstSeen) < newDeviceWindow
			d.Unknown = d.Terminal == "" && d.Vendor == "" && d.Hostname == ""
		}
		// New and unknown first, then the busiest.
		slices.SortStableFunc(st.Devices, func(a, b Device) int {
			return cmp.Or(-cmp.Compare(b2i(a.New), b2i(b.New)), -cmp.Compare(b2i(a.Unknown), b2i(b.Unknown)),
				cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.MAC, b.MAC))
		})
	}
	var q rawQoS
	if part("qos", &q) {
		sh := q.Shaping
		st.Shaping = &sh
		for dir, cs := range map[string][]rawClass{"up": q.Upload, "down": q.Download} {
			for _, c := range cs {
				st.QoS = append(st.QoS, QoSClass{Name: c.Class, Direction: dir, GuaranteedBps: c.RateBits, CeilBps: c.CeilBits,
					Bytes: c.Bytes, Packets: c.Packets, Drops: c.Drops, Backlog: c.Backlog})
			}
		}
		// Upload first, then download; classes in the component's order.
		slices.SortStableFunc(st.QoS, func(a, b QoSClass) int { return -cmp.Compare(a.Direction, b.Direction) })
	}
	var z rawZones
	if part("zones", &z) {
		st.Firewall = &Firewall{InSync: z.InSync, Repairs: z.Repairs, Err: z.Err, Unlisted: len(z.Unlisted)}
	}
	return st, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
