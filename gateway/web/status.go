package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Status is what the page, gwctl and /metrics show: the daemon snapshot
// read into the fields they render, plus the one-sentence verdict and the
// alarms. It is built from the snapshot's JSON, so web depends on the other
// subsystems' published field names only, and a part that is absent (not
// configured, not built yet, or failing) leaves its section empty and is
// named in Missing instead of breaking the page.
type Status struct {
	Time      time.Time `json:"time"`
	Site      string    `json:"site"`
	GatewayID string    `json:"gateway_id"`
	Version   string    `json:"version"`
	BootID    string    `json:"boot_id"`
	Started   time.Time `json:"started"`
	Uptime    string    `json:"uptime"`
	Ready     bool      `json:"ready"`
	// Level is ok, warn or bad: the colour of the verdict.
	Level   string  `json:"level"`
	Verdict string  `json:"verdict"`
	Alarms  []Alarm `json:"alarms"`

	ActiveWAN   string    `json:"active_wan,omitempty"`
	ActiveSince time.Time `json:"active_since,omitzero"`
	// Failovers counts switches away from a failed WAN since start.
	Failovers int `json:"failovers"`
	// HoldDown is the failback hold-down in force.
	HoldDown Millis `json:"hold_down_ms,omitempty"`
	// StayingOn names the active WAN while it fails its probes but still
	// carries traffic and the other line is inside its hold-down.
	StayingOn  string       `json:"staying_on,omitempty"`
	WANs       []WAN        `json:"wans"`
	WANEvents  []WANEvent   `json:"wan_events"`
	Uplink     *Uplink      `json:"uplink,omitempty"`
	Store      *StoreState  `json:"store,omitempty"`
	POS        []Terminal   `json:"pos"`
	QoS        []QoSClass   `json:"qos"`
	Shaping    *Shaping     `json:"shaping,omitempty"`
	Apps       []App        `json:"apps"`
	Devices    []Device     `json:"devices"`
	Flows      *FlowSummary `json:"flows,omitempty"`
	Firewall   *Firewall    `json:"firewall,omitempty"`
	Components []Component  `json:"components"`
	System     System       `json:"system"`
	// Missing names the parts the daemon did not publish.
	Missing []string `json:"missing,omitempty"`
	// HistoryRev changes when a new WAN history sample is taken, so the
	// page knows when to fetch /api/v1/history again.
	HistoryRev int64 `json:"history_rev"`
}

// WAN is one uplink as the WAN component reports it.
type WAN struct {
	Name      string    `json:"name"`
	Interface string    `json:"interface,omitempty"`
	State     string    `json:"state"` // unknown, up, degraded, down
	Since     time.Time `json:"since,omitzero"`
	Reason    string    `json:"reason,omitempty"`
	RTT       Millis    `json:"rtt_ms"`
	Loss      float64   `json:"loss_percent"`
	Active    bool      `json:"active"`
	Priority  int       `json:"priority,omitempty"`
	Metered   bool      `json:"metered,omitempty"`
	Carrier   *bool     `json:"carrier,omitempty"`
	Address   string    `json:"address,omitempty"`
	// Frugal is set while a metered standby WAN is probed sparingly.
	Frugal    bool    `json:"frugal,omitempty"`
	StandbyMB float64 `json:"probe_standby_mb_month,omitempty"`
	Failovers int64   `json:"failovers,omitempty"`
}

// WANEvent is a WAN state change or a failover, with its reason.
type WANEvent struct {
	Time time.Time `json:"time"`
	// Kind is wan_state, failover, failback or initial.
	Kind   string `json:"kind,omitempty"`
	WAN    string `json:"wan"`
	From   string `json:"from,omitempty"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// Uplink is the head-office MQTT session and its backlog.
type Uplink struct {
	Enabled         bool      `json:"enabled"`
	Broker          string    `json:"broker,omitempty"`
	Connected       bool      `json:"connected"`
	ConnectedSince  time.Time `json:"connected_since,omitzero"`
	Reconnects      int64     `json:"reconnects"`
	LastError       string    `json:"last_error,omitempty"`
	Replaying       bool      `json:"replaying"`
	BacklogRecords  int64     `json:"backlog_records"`
	BacklogBytes    int64     `json:"backlog_bytes"`
	OldestRecordAge float64   `json:"oldest_record_age_seconds"`
	LastAck         time.Time `json:"last_ack,omitzero"`
	AckedRecords    int64     `json:"acked_records"`
}

// StoreState is the SQLite buffer's fill against its budget.
type StoreState struct {
	Path            string `json:"path"`
	Records         int64  `json:"records"`
	Bytes           int64  `json:"bytes"`
	Budget          int64  `json:"budget"`
	EffectiveBudget int64  `json:"effective_budget"`
	EvictedRecords  int64  `json:"evicted_records"`
	EvictedBytes    int64  `json:"evicted_bytes"`
	LastError       string `json:"last_error,omitempty"`
	// The outbox in front of the store: events waiting, and dropped because
	// it was full (each run of drops is reported to head office).
	EventsQueued  int   `json:"events_queued"`
	EventsDropped int64 `json:"events_dropped"`
}

// Terminal is one POS terminal's health.
type Terminal struct {
	Name        string    `json:"name"`
	Degraded    bool      `json:"degraded"`
	Reason      string    `json:"reason,omitempty"`
	Handshakes  uint64    `json:"tls_handshakes"`
	Failed      uint64    `json:"tls_failed"`
	LastHS      Millis    `json:"tls_handshake_last_ms"`
	AvgHS       Millis    `json:"tls_handshake_avg_ms"`
	MaxHS       Millis    `json:"tls_handshake_max_ms"`
	Retransmits uint64    `json:"tcp_retransmits"`
	RetransRate float64   `json:"retransmit_rate"`
	LastSuccess time.Time `json:"last_success,omitzero"`
}

// QoSClass is one traffic class's counters in one direction.
type QoSClass struct {
	Name string `json:"name"`
	// Direction is up (egress on the WAN) or down (ingress, via IFB).
	Direction string `json:"direction"`
	// RateBps is the class's throughput now, from the byte counters of the
	// last two status builds; GuaranteedBps and CeilBps are configured.
	RateBps       float64 `json:"rate_bps"`
	GuaranteedBps uint64  `json:"guaranteed_bps"`
	CeilBps       uint64  `json:"ceil_bps"`
	Bytes         uint64  `json:"bytes"`
	Packets       uint64  `json:"packets"`
	Drops         uint64  `json:"drops"`
	Backlog       uint64  `json:"backlog"`
}

// Shaping is the QoS component's state.
type Shaping struct {
	Enabled  bool   `json:"enabled"`
	Active   bool   `json:"active"`
	WAN      string `json:"wan,omitempty"`
	Leaf     string `json:"leaf,omitempty"`
	UpBits   uint64 `json:"up_bits"`
	DownBits uint64 `json:"down_bits"`
	Error    string `json:"error,omitempty"`
}

// App is traffic to one server name.
type App struct {
	Name     string `json:"name"`
	Category string `json:"category,omitempty"`
	Bytes    uint64 `json:"bytes"`
	Flows    uint64 `json:"flows"`
}

// Device is one LAN station; New and Unknown mark the ones a technician
// should look at.
type Device struct {
	MAC       string    `json:"mac"`
	IPs       []string  `json:"ips"`
	Vendor    string    `json:"vendor,omitempty"`
	Hostname  string    `json:"hostname,omitempty"`
	Terminal  string    `json:"terminal,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Bytes     uint64    `json:"bytes"`
	New       bool      `json:"new"`
	Unknown   bool      `json:"unknown"`
}

// FlowSummary is the flow table and capture at a glance, plus the
// biggest flows now.
type FlowSummary struct {
	Active       int       `json:"active"`
	Max          int       `json:"max"`
	Evicted      uint64    `json:"evicted"`
	Packets      uint64    `json:"capture_packets"`
	CaptureDrops uint64    `json:"capture_drops"`
	Top          []TopFlow `json:"top"`
}

// TopFlow is one active conversation.
type TopFlow struct {
	Proto      string `json:"proto"`
	Client     string `json:"client"`
	Server     string `json:"server"`
	ServerPort uint16 `json:"server_port"`
	Name       string `json:"name,omitempty"`
	Bytes      uint64 `json:"bytes"`
	Terminal   string `json:"terminal,omitempty"`
}

// Firewall is the zone firewall's sync state.
type Firewall struct {
	InSync   bool   `json:"in_sync"`
	Repairs  uint64 `json:"repairs"`
	Err      string `json:"error,omitempty"`
	Unlisted int    `json:"pos_unlisted"`
}

// Component is one supervised component's health.
type Component struct {
	Name      string    `json:"name"`
	State     string    `json:"state"`
	Restarts  int       `json:"restarts"`
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since"`
}

// System is the box itself.
type System struct {
	CPUPercent float64 `json:"cpu_percent"`
	MemTotal   uint64  `json:"mem_total"`
	MemUsed    uint64  `json:"mem_used"`
	DiskTotal  uint64  `json:"disk_total"`
	DiskUsed   uint64  `json:"disk_used"`
	DiskPath   string  `json:"disk_path,omitempty"`
	Load1      float64 `json:"load1"`
	Goroutines int     `json:"goroutines"`
	ProcessRSS uint64  `json:"process_rss"`
}

// Millis is a duration in milliseconds: what the page plots and prints.
type Millis float64

// D is the duration.
func (m Millis) D() time.Duration { return time.Duration(float64(m) * float64(time.Millisecond)) }

// String formats like time.Duration, rounded for people.
func (m Millis) String() string {
	v := m.D()
	switch {
	case v >= time.Second:
		return v.Round(10 * time.Millisecond).String()
	case v >= time.Millisecond:
		return v.Round(100 * time.Microsecond).String()
	}
	return v.String()
}

// dur reads either nanoseconds (a JSON number, as time.Duration marshals)
// or a Go duration string ("12ms"), because the components publish both.
type dur time.Duration

func (d *dur) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*d = 0
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = dur(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("duration %s: %w", b, err)
	}
	*d = dur(f)
	return nil
}

func (d dur) ms() Millis { return Millis(float64(d) / float64(time.Millisecond)) }
