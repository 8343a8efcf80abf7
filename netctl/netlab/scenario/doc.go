// Package scenario is a store's worst day in the lab: one chaos scenario
// over the whole system, with a verdict computed from what the tills and
// head office actually saw.
//
// Run builds the store (netctl/netlab), starts a persistent mosquitto as
// head office's broker in the cloud namespace, runs the real gatewayd in
// the gw namespace (restarted like systemd would after a crash), and then,
// for Params.Length, drives the store's load (POS transactions from both
// tills, office bulk both ways, guest video, DNS, new devices joining)
// while the fault schedule of Params.Steps plays: cable pulls, a flapping
// line, an upstream black hole while the backup is slow, both lines down,
// a broker restart, kill -9 during the backlog replay, a bad and a good
// config push, and a burst of alarms that presses on the telemetry budget.
//
// Head office is a Recorder subscribed to <prefix>/<site>/# that dedupes
// records by (gateway, boot, stream, seq), plus a gateway/fleet session
// that pushes the configs. A monitor reads the daemon's status API over its
// unix socket (WAN states, the store's sequence numbers) and checks
// /healthz every five seconds. Judge turns it all into a Verdict: each
// product goal (goals.go) side by side with the measured value, as a table
// and as JSON. `gwlab scenario` and `make soak` run the 15-minute Long
// scenario; the Short one runs in `make test`.
package scenario
