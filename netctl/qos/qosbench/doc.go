// Package qosbench measures what gatewayd's QoS is for, on the lab: the
// round-trip time of small POS transactions (pos1 to the payment host's
// echo) while the office and the guest saturate the line both ways, idle,
// loaded without QoS and loaded with QoS, side by side in one run, plus
// the bulk throughput as a share of the line rate. The QoS is started
// through a callback so this package does not depend on how it is built
// (the qos tests and `gwlab bench qos` pass their own).
package qosbench
