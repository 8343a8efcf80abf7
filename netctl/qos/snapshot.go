package qos

import "time"

// ClassStats are one class's counters in one direction.
type ClassStats struct {
	Class string `json:"class"`
	// RateBits and CeilBits are the class's guaranteed and maximum rates.
	RateBits uint64 `json:"rate_bits"`
	CeilBits uint64 `json:"ceil_bits"`
	Bytes    uint64 `json:"bytes"`
	Packets  uint64 `json:"packets"`
	// Drops counts packets the class's queue refused or dropped.
	Drops uint64 `json:"drops"`
	// Backlog is the bytes queued now.
	Backlog uint64 `json:"backlog"`
}

// Snapshot is the QoS state for the status page, API and telemetry. It is
// never modified once published.
type Snapshot struct {
	Enabled bool `json:"enabled"`
	// Active is true while shaping is installed.
	Active    bool   `json:"active"`
	WAN       string `json:"wan"`
	Interface string `json:"interface"`
	IFB       string `json:"ifb"`
	// UpBits and DownBits are the shaped rates (line rate less the margin).
	UpBits   uint64 `json:"up_bits"`
	DownBits uint64 `json:"down_bits"`
	// Leaf is the leaf qdisc kind in use (fq_codel, cake or tbf).
	Leaf       string       `json:"leaf"`
	Upload     []ClassStats `json:"upload"`
	Download   []ClassStats `json:"download"`
	PaymentIPs int          `json:"payment_ips"`
	// Error is the last apply error, empty when shaping is as configured.
	Error   string    `json:"error,omitempty"`
	Updated time.Time `json:"updated"`
}

// Class returns the upload and download counters of class name.
func (s *Snapshot) Class(name string) (up, down ClassStats) {
	for _, c := range s.Upload {
		if c.Class == name {
			up = c
		}
	}
	for _, c := range s.Download {
		if c.Class == name {
			down = c
		}
	}
	return up, down
}

// classStats orders a side's counters by class, with its configured rates.
func classStats(side Side, raw map[uint32]ClassStats) []ClassStats {
	var out []ClassStats
	for _, c := range side.Classes {
		if c.Name == "" {
			continue
		}
		st := raw[c.ID]
		st.Class, st.RateBits, st.CeilBits = c.Name, c.RateBits, c.CeilBits
		out = append(out, st)
	}
	return out
}
