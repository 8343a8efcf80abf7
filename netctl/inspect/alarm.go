package inspect

import (
	"net/netip"
	"time"
)

// AlarmKind names an alarm.
type AlarmKind string

// The alarms the inspector raises.
const (
	// AlarmNewDevice: a device that is not a configured terminal appeared
	// on the POS subnet.
	AlarmNewDevice AlarmKind = "new_device"
	// AlarmPOSDestination: a terminal opened a connection to a destination
	// outside the payment domains and the pos zone's allowlist.
	AlarmPOSDestination AlarmKind = "pos_destination"
	// AlarmDNSResolver: a LAN device sent a DNS query to a resolver other
	// than inspect.resolvers.
	AlarmDNSResolver AlarmKind = "dns_resolver"
	// AlarmPOSDegraded: a terminal's handshakes got slow, failed, or its
	// retransmissions rose past pos.retransmit_alarm_percent.
	AlarmPOSDegraded AlarmKind = "pos_degraded"
	// AlarmPOSRecovered: a degraded terminal is healthy again.
	AlarmPOSRecovered AlarmKind = "pos_recovered"
)

// Alarm is one event for head office and the status page. Fields that do
// not apply to a kind are zero.
type Alarm struct {
	Kind AlarmKind `json:"kind"`
	Time time.Time `json:"time"`
	// MAC and IP identify the LAN device concerned.
	MAC string     `json:"mac,omitempty"`
	IP  netip.Addr `json:"ip,omitzero"`
	// Terminal is the POS terminal's configured name.
	Terminal string `json:"terminal,omitempty"`
	// Peer and Name are the remote side: a destination or a resolver.
	Peer netip.Addr `json:"peer,omitzero"`
	Name string     `json:"name,omitempty"`
	// Detail is one human sentence.
	Detail string `json:"detail"`
}

// AlarmFunc receives alarms. It is called on the capture goroutine and
// must not block: hand the alarm to a channel or a queue.
type AlarmFunc func(Alarm)

// PaymentSink consumes the payment IP set: the addresses that DNS answers
// and TLS server names seen on the LAN tie to payment domains. QoS puts
// them in the pos class, zones in the pos allowlist.
type PaymentSink interface {
	// PaymentIPs is called with the whole current set, sorted, each time
	// it changes. It runs on the capture goroutine and must not block;
	// the slice is the callee's to keep.
	PaymentIPs(ips []netip.Addr)
}

// PaymentSinkFunc adapts a function to PaymentSink.
type PaymentSinkFunc func([]netip.Addr)

// PaymentIPs implements PaymentSink.
func (f PaymentSinkFunc) PaymentIPs(ips []netip.Addr) { f(ips) }
