package wan

import (
	"fmt"
	"time"
)

// Snapshot is the WAN manager's state at one moment, for the status page,
// the API and /metrics. It is never modified after it is published.
type Snapshot struct {
	At time.Time `json:"at"`
	// Mode is "priority" or "weighted".
	Mode string `json:"mode"`
	// Active is the WAN new connections leave through ("" before the
	// start); in weighted mode, the preferred of those sharing them.
	Active      string    `json:"active"`
	ActiveSince time.Time `json:"active_since"`
	// ActiveMetered is set while traffic runs over a metered WAN (LTE): QoS
	// limits bulk and guest traffic then.
	ActiveMetered bool `json:"active_metered"`
	// HoldDown is the current failback hold-down (doubles on flaps).
	HoldDown time.Duration `json:"hold_down"`
	// Failovers counts switches away from a failed WAN since start.
	Failovers int `json:"failovers"`
	// Staying names the active WAN while it fails its probes but still
	// carries traffic and the other line is inside its hold-down: the
	// manager stays rather than move to a line that may flap (an alarm).
	Staying string      `json:"staying,omitempty"`
	WANs    []WANStatus `json:"wans"`
}

// WANStatus is one WAN in a Snapshot.
type WANStatus struct {
	Name      string    `json:"name"`
	Interface string    `json:"interface"`
	State     State     `json:"state"`
	Since     time.Time `json:"since"`
	Reason    string    `json:"reason"`
	Carrier   bool      `json:"carrier"`
	Address   string    `json:"address,omitempty"`
	Gateway   string    `json:"gateway,omitempty"`
	Priority  int       `json:"priority"`
	Metered   bool      `json:"metered"`
	Active    bool      `json:"active"`
	// Carrying is set while the WAN takes new connections (in weighted
	// mode possibly with others, by Weight).
	Carrying bool `json:"carrying"`
	Weight   int  `json:"weight"`
	// Frugal is set while a metered standby WAN is probed sparingly.
	Frugal      bool          `json:"frugal"`
	LossPercent float64       `json:"loss_percent"`
	RTT         time.Duration `json:"rtt"`
	Targets     []Evidence    `json:"targets"`
	Budget      Budget        `json:"probe_budget"`
	// RxBits and TxBits are the interface's rates over the last second;
	// Congested is set while they show the line full of the store's own
	// traffic and still receiving, so probe losses do not count.
	RxBits    float64 `json:"rx_bits"`
	TxBits    float64 `json:"tx_bits"`
	Congested bool    `json:"congested"`
}

// Event is one transition, for telemetry and the page's event list.
type Event struct {
	Time time.Time `json:"time"`
	// Kind is "wan_state" (a WAN's health changed), "forced" (a technician
	// put traffic on a WAN), "initial", "failover"
	// or "failback" (the active WAN changed), "weights" (weighted mode:
	// the set of WANs sharing new connections changed), or "stay" (an
	// alarm: the active WAN fails its probes but still carries traffic,
	// and the other is inside its hold-down, so traffic stays).
	Kind string `json:"kind"`
	// WAN is the WAN whose state changed, or the newly active one.
	WAN      string     `json:"wan"`
	From     string     `json:"from"`
	To       string     `json:"to"`
	Reason   string     `json:"reason"`
	Evidence []Evidence `json:"evidence,omitempty"`
	// Flushed counts conntrack entries removed with the switch.
	Flushed int `json:"conntrack_flushed,omitempty"`
}

// String is a one-line summary, for logs and gwlab.
func (s *Snapshot) String() string {
	out := fmt.Sprintf("active %s, failovers %d, hold-down %s", s.Active, s.Failovers, s.HoldDown)
	for _, w := range s.WANs {
		out += fmt.Sprintf("; %s %s (%s)", w.Name, w.State, w.Reason)
	}
	return out
}
