package scenario

import "time"

// This file holds every parameter of the store's worst day: the traffic,
// the fault schedule and the gatewayd settings the scenario runs with. The
// goals the verdict checks are in goals.go.

// FaultKind names one fault of the schedule.
type FaultKind string

// The faults a store meets.
const (
	// CarrierPull pulls WAN's cable for Dur.
	CarrierPull FaultKind = "carrier-pull"
	// Flap turns WAN's carrier off and on (FlapOff, FlapOn) for Dur.
	Flap FaultKind = "flap"
	// BlackHole makes WAN's ISP drop everything beyond the first hop for Dur.
	BlackHole FaultKind = "black-hole"
	// Slow cuts WAN's rates to SlowDown/SlowUp bit/s for Dur.
	Slow FaultKind = "slow"
	// BothDown pulls both cables for Dur: the store is offline.
	BothDown FaultKind = "both-down"
	// BrokerRestart stops the head-office broker for Dur, then starts it.
	BrokerRestart FaultKind = "broker-restart"
	// KillDuringReplay waits (up to Dur) until head office sees the backlog
	// replay start, then kills gatewayd with SIGKILL; it is restarted after
	// Params.RestartDelay, as systemd's Restart=on-failure would.
	KillDuringReplay FaultKind = "kill-9-during-replay"
	// BadPush pushes a config that does not validate; it must be rejected.
	BadPush FaultKind = "bad-config-push"
	// GoodPush pushes a correct, newer config; it must be applied.
	GoodPush FaultKind = "good-config-push"
	// DeviceBurst makes DeviceRate unknown devices per second appear on the
	// POS subnet for Dur (each raises alarms: disk budget pressure while
	// the store is offline).
	DeviceBurst FaultKind = "device-burst"
	// DiskFullDuringReplay waits (up to Dur) until head office sees a
	// backlog replay, as KillDuringReplay does, then fills the telemetry
	// store's file system to the last byte for Params.FullFor.
	DiskFullDuringReplay FaultKind = "disk-full-during-replay"
	// Throttled pulls wan1's cable and cuts wan2 to ThrottleRate bit/s both
	// ways for Dur: the store on its backup SIM past the data cap. POS
	// transactions do not count toward the POS goal in this window (QoS
	// shapes to the configured rate, far above this line's).
	Throttled FaultKind = "backup-throttled"
)

// Step is one fault, At after the scenario's start.
type Step struct {
	At   time.Duration `json:"at"`
	Dur  time.Duration `json:"dur"`
	Kind FaultKind     `json:"kind"`
	// WAN is 0 (wan1) or 1 (wan2) for WAN faults.
	WAN int `json:"wan"`
}

// Params is one scenario.
type Params struct {
	Name string
	// Length is the scenario's length; traffic runs all of it.
	Length time.Duration
	// Steps is the fault schedule; steps may overlap.
	Steps []Step
	// Drain is how long head office waits, after the traffic stops, for
	// the records it has not received yet.
	Drain time.Duration

	// POS tills (pos1, pos2): one transaction (a new TCP connection to the
	// acquirer, a request, its echo) every POSInterval, each given
	// POSTimeout.
	POSInterval, POSTimeout time.Duration
	// Office bulk transfer rates in bit/s (an HTTP download and an upload
	// through the echo server, both paced).
	OfficeDown, OfficeUp float64
	// GuestStream is the guest's video rate in bit/s.
	GuestStream float64
	// DNSInterval is the office's DNS lookup interval.
	DNSInterval time.Duration
	// DeviceEvery is how often a new device joins the POS subnet outside
	// bursts; DeviceRate is the rate (per second) during a DeviceBurst.
	DeviceEvery time.Duration
	DeviceRate  int
	// FlapOn and FlapOff are the carrier phases of a Flap.
	FlapOn, FlapOff time.Duration
	// SlowDown and SlowUp are the rates of a Slow WAN, bit/s.
	SlowDown, SlowUp uint64
	// ThrottleRate is the backup line's rate while Throttled, bit/s.
	ThrottleRate uint64
	// DataSize is the size of the tmpfs the telemetry store lives on, so
	// DiskFullDuringReplay can fill it; FullFor is how long it stays full.
	DataSize string
	FullFor  time.Duration

	// gatewayd's settings for the scenario.
	// Budget is telemetry.budget in bytes: small, so the outage's alarms
	// press on it.
	Budget int64
	// BatchRecords and ReplayPerSecond slow the backlog replay down, as a
	// thin LTE line would, so the kill lands in the middle of it.
	BatchRecords, ReplayPerSecond int
	// ConfirmWindow is remote.confirm_window.
	ConfirmWindow time.Duration
	// RestartDelay is systemd's delay before restarting a killed gatewayd
	// (systemd/gatewayd.service: Restart=on-failure, RestartSec=2s).
	RestartDelay time.Duration

	// HealthEvery is how often the status page (GET /healthz on the
	// daemon's socket) is checked; PollEvery how often the WAN state is
	// read from the status API.
	HealthEvery, PollEvery time.Duration
}

// WindowOf returns the steps of kind k.
func (p Params) WindowOf(k FaultKind) []Step {
	var out []Step
	for _, s := range p.Steps {
		if s.Kind == k {
			out = append(out, s)
		}
	}
	return out
}

func common(name string, length time.Duration, steps []Step) Params {
	return Params{
		Name: name, Length: length, Steps: steps, Drain: 90 * time.Second,
		POSInterval: 500 * time.Millisecond, POSTimeout: 3 * time.Second,
		OfficeDown: 30e6, OfficeUp: 25e6, GuestStream: 4e6,
		DNSInterval: time.Second, DeviceEvery: 15 * time.Second, DeviceRate: 150,
		FlapOn: time.Second, FlapOff: time.Second,
		SlowDown: 2e6, SlowUp: 1e6, ThrottleRate: 64e3,
		DataSize: "8m", FullFor: 20 * time.Second,
		Budget: 1 << 20, BatchRecords: 100, ReplayPerSecond: 5,
		ConfirmWindow: 60 * time.Second, RestartDelay: 2 * time.Second,
		HealthEvery: 5 * time.Second, PollEvery: 100 * time.Millisecond,
	}
}

// Long is the store's worst day compressed into about 15 minutes (`make
// soak`): every fault, each with time to recover, and both WANs down for
// three minutes.
func Long() Params {
	s := time.Second
	m := time.Minute
	return common("long", 15*m, []Step{
		{At: 30 * s, Dur: 20 * s, Kind: CarrierPull, WAN: 0},
		{At: 2 * m, Dur: 60 * s, Kind: Flap, WAN: 0},
		{At: 4 * m, Dur: 60 * s, Kind: Slow, WAN: 1},
		{At: 4*m + 10*s, Dur: 40 * s, Kind: BlackHole, WAN: 0},
		{At: 4*m + 30*s, Dur: 10 * s, Kind: BrokerRestart},
		{At: 6 * m, Dur: 3 * m, Kind: BothDown},
		{At: 6*m + 30*s, Dur: 2 * m, Kind: DeviceBurst},
		{At: 9 * m, Dur: 90 * s, Kind: KillDuringReplay},
		{At: 11 * m, Kind: BadPush},
		{At: 11*m + 30*s, Kind: GoodPush},
		{At: 12 * m, Dur: 20 * s, Kind: CarrierPull, WAN: 0},
		{At: 12*m + 40*s, Dur: 60 * s, Kind: Throttled},
		{At: 13*m + 40*s, Dur: 40 * s, Kind: DiskFullDuringReplay},
	})
}

// Short is the same day in about two and a half minutes, for `make test`:
// every fault once, shorter. As in the long day, the backup line turns slow
// while it is idle and a failure of wan1 then moves the store onto it (here
// the cable pull, there the black hole). Compressed, the slow phase used to
// begin on wan2 while it carried the store after the pull: in the lab a rate
// drop on a loaded line shrinks the modem's queue with the rate, which
// tail-drops everything for up to 2 s while the backlog drains (a real
// modem keeps its buffer), and one day in about eight failed on it.
func Short() Params {
	s := time.Second
	p := common("short", 150*s, []Step{
		{At: 4 * s, Dur: 16 * s, Kind: Slow, WAN: 1},
		{At: 10 * s, Dur: 8 * s, Kind: CarrierPull, WAN: 0},
		{At: 22 * s, Dur: 10 * s, Kind: Flap, WAN: 0},
		{At: 38 * s, Dur: 12 * s, Kind: BlackHole, WAN: 0},
		{At: 42 * s, Dur: 5 * s, Kind: BrokerRestart},
		{At: 56 * s, Dur: 30 * s, Kind: BothDown},
		{At: 60 * s, Dur: 20 * s, Kind: DeviceBurst},
		{At: 86 * s, Dur: 40 * s, Kind: KillDuringReplay},
		{At: 110 * s, Kind: BadPush},
		{At: 115 * s, Kind: GoodPush},
		{At: 118 * s, Dur: 10 * s, Kind: Throttled},
		{At: 130 * s, Dur: 10 * s, Kind: DiskFullDuringReplay},
	})
	p.Drain = 60 * s
	p.FullFor = 5 * s
	return p
}
