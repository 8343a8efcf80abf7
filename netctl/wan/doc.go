// Package wan keeps the store on a working uplink. Each WAN is probed
// (ICMP, TCP, HTTP, DNS) out of its own interface; a sliding window per
// target turns results into up, degraded or down with hysteresis
// (health.go, window.go), and a pure policy picks the WAN for new
// connections: priority failover with a failback hold-down that doubles
// on flaps, or weighted sharing (policy.go). Routing is a desired state of
// rules and tables applied idempotently, with connmark keeping each
// connection on the WAN it started on (routes.go, connmark_linux.go).
//
// Two rules keep a busy store from failing over falsely:
//
//   - a full line is not a dead line: a probe lost while the WAN's
//     interface counters show it carrying the store's traffic near its
//     configured rate and still receiving is excused (traffic.go); QoS
//     carries the probes in its top class (ProbeFlows), so such losses are
//     rare to begin with;
//   - the policy never moves onto a line inside its hold-down while the
//     active one, though failing its probes, still carries traffic both
//     ways: it stays and raises a "stay" event instead.
//
// A black hole or a pulled cable silences the line, so neither rule delays
// a real failover.
package wan
