package wan

import (
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// Budget is what probing one WAN costs in IP bytes per 30-day month.
type Budget struct {
	// ActiveMB is the cost with every target probed at the full rate.
	ActiveMB float64 `json:"active_mb_month"`
	// StandbyMB is the cost while the WAN is a metered standby (frugal).
	StandbyMB float64 `json:"standby_mb_month"`
}

// FrugalInterval is how often a metered standby WAN is probed, through
// its cheapest target only: an 8-byte ICMP echo every 5 s is 72 IP bytes,
// about 37 MB a month, under the 50 MB goal.
const FrugalInterval = 5 * time.Second

const month = 30 * 24 * time.Hour

// probeBytes estimates the IP bytes (both directions) of one probe.
func probeBytes(p config.Probe) int {
	switch p.Type {
	case "icmp":
		return 2 * (20 + 8 + 8) // IP + ICMP headers + 8-byte payload, each way
	case "tcp":
		// SYN, SYN-ACK (60 with options), ACK, FIN, FIN-ACK, ACK (52 with timestamps).
		return 60 + 60 + 4*52
	case "dns":
		q := 20 + 8 + 12 + len(p.Query) + 2 + 4
		return q + q + 16 // the answer repeats the question and adds an A record
	case "http":
		// TCP handshake and teardown, the request line and headers, a small answer.
		return 60 + 60 + 4*52 + 52 + 120 + len(p.Target) + 52 + 250
	}
	return 0
}

// cheapest returns the index of the probe that costs least.
func cheapest(probes []config.Probe) int {
	best := 0
	for i, p := range probes {
		if probeBytes(p) < probeBytes(probes[best]) {
			best = i
		}
	}
	return best
}

// budgetFor computes a WAN's probe budget at the given probe interval.
func budgetFor(probes []config.Probe, interval time.Duration) Budget {
	if len(probes) == 0 || interval <= 0 {
		return Budget{}
	}
	perMonth := float64(month / interval)
	var b Budget
	for _, p := range probes {
		b.ActiveMB += float64(probeBytes(p)) * perMonth / 1e6
	}
	frugal := max(interval, FrugalInterval)
	b.StandbyMB = float64(probeBytes(probes[cheapest(probes)])) * float64(month/frugal) / 1e6
	return b
}
