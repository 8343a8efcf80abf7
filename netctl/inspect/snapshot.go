package inspect

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// Snapshot is the inspector's state at one moment, for the status page,
// the API and /metrics. It is immutable: build a new one, never edit.
type Snapshot struct {
	Time    time.Time    `json:"time"`
	Capture CaptureStats `json:"capture"`
	Flows   FlowStats    `json:"flows"`
	// TopFlows are the active flows with the most bytes, at most maxTopFlows.
	TopFlows []Flow `json:"top_flows"`
	// Apps are bytes per name (ended and active flows), most first.
	Apps    []App      `json:"apps"`
	Devices []Device   `json:"devices"`
	POS     []Terminal `json:"pos"`
	// PaymentIPs is the payment IP set, sorted.
	PaymentIPs []netip.Addr `json:"payment_ips"`
	Decode     DecodeStats  `json:"decode"`
}

// CaptureStats are the AF_PACKET socket's counters (TPACKET_V3).
type CaptureStats struct {
	Interface string `json:"interface"`
	// Packets the kernel delivered to the ring; Drops it had to drop
	// because the ring was full; QueueFreezes times the ring filled up.
	Packets      uint64 `json:"packets"`
	Drops        uint64 `json:"drops"`
	QueueFreezes uint64 `json:"queue_freezes"`
}

// FlowStats describe the flow table.
type FlowStats struct {
	Active   int    `json:"active"`
	Max      int    `json:"max"`
	Created  uint64 `json:"created"`
	Expired  uint64 `json:"expired"`
	Evicted  uint64 `json:"evicted"` // removed to make room: max_flows too small
	Devices  int    `json:"devices"`
	DevEvict uint64 `json:"devices_evicted"`
}

// DecodeStats count what the decoder and the reassembler saw.
type DecodeStats struct {
	Frames         uint64 `json:"frames"`
	Errors         uint64 `json:"errors"` // truncated or malformed at some layer
	NotIP          uint64 `json:"not_ip"`
	Fragments      uint64 `json:"fragments"`
	DNSAnswers     uint64 `json:"dns_answers"`
	HelloComplete  uint64 `json:"tls_hello"`
	HelloMalformed uint64 `json:"tls_hello_malformed"`
	Reassembled    uint64 `json:"tls_hello_reassembled"`
	ReasmTooBig    uint64 `json:"tls_hello_too_big"`
	ReasmNoSlot    uint64 `json:"tls_hello_no_slot"`
}

// Flow is one conversation; Client is the side that opened it.
type Flow struct {
	Proto      string     `json:"proto"`
	VLAN       uint16     `json:"vlan,omitempty"`
	Client     netip.Addr `json:"client"`
	ClientPort uint16     `json:"client_port"`
	Server     netip.Addr `json:"server"`
	ServerPort uint16     `json:"server_port"`
	First      time.Time  `json:"first"`
	Last       time.Time  `json:"last"`
	BytesUp    uint64     `json:"bytes_up"` // client to server
	BytesDown  uint64     `json:"bytes_down"`
	PktsUp     uint32     `json:"packets_up"`
	PktsDown   uint32     `json:"packets_down"`
	// Name is the server's name; NameFrom says how it is known: dns, sni or http.
	Name     string `json:"name,omitempty"`
	NameFrom string `json:"name_from,omitempty"`
	Category string `json:"category,omitempty"`
	// TCP only.
	State        string        `json:"state,omitempty"`
	HandshakeRTT time.Duration `json:"handshake_rtt_ns,omitempty"`
	RetransUp    uint32        `json:"retransmits_up,omitempty"`
	RetransDown  uint32        `json:"retransmits_down,omitempty"`
	Resets       uint16        `json:"resets,omitempty"`
	TLSHandshake time.Duration `json:"tls_handshake_ns,omitempty"`
	TLSFailed    bool          `json:"tls_failed,omitempty"`
	Terminal     string        `json:"terminal,omitempty"`
}

// App is traffic per server name.
type App struct {
	Name     string `json:"name"`
	Category string `json:"category,omitempty"`
	Bytes    uint64 `json:"bytes"`
	Flows    uint64 `json:"flows"`
}

// Device is one LAN station.
type Device struct {
	MAC         string       `json:"mac"`
	IPs         []netip.Addr `json:"ips"`
	Vendor      string       `json:"vendor,omitempty"`
	Hostname    string       `json:"hostname,omitempty"`
	Fingerprint string       `json:"dhcp_fingerprint,omitempty"`
	VendorClass string       `json:"dhcp_vendor_class,omitempty"`
	Terminal    string       `json:"terminal,omitempty"`
	First       time.Time    `json:"first_seen"`
	Last        time.Time    `json:"last_seen"`
	Bytes       uint64       `json:"bytes"`
	Packets     uint64       `json:"packets"`
}

// Terminal is one POS terminal's health.
type Terminal struct {
	Name string `json:"name"`
	// Degraded is true when a threshold is crossed; Reason says which.
	Degraded    bool          `json:"degraded"`
	Reason      string        `json:"reason,omitempty"`
	Handshakes  uint64        `json:"tls_handshakes"`
	Failed      uint64        `json:"tls_failed"`
	LastHS      time.Duration `json:"tls_handshake_last_ns"`
	AvgHS       time.Duration `json:"tls_handshake_avg_ns"`
	MaxHS       time.Duration `json:"tls_handshake_max_ns"`
	Segments    uint64        `json:"tcp_segments"`
	Retransmits uint64        `json:"tcp_retransmits"`
	RetransRate float64       `json:"retransmit_rate"` // share, per minute window
	LastSuccess time.Time     `json:"last_success,omitzero"`
}

const (
	maxTopFlows = 100
	maxTopApps  = 100
)

// Snapshot returns the latest published state; never nil.
func (in *Inspector) Snapshot() *Snapshot { return in.snap.Load() }

// PaymentIPs returns the payment IP set of the latest snapshot.
func (in *Inspector) PaymentIPs() []netip.Addr { return slices.Clone(in.snap.Load().PaymentIPs) }

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// publish builds and stores a snapshot. It runs on the capture goroutine.
func (in *Inspector) publish(now time.Time) {
	s := &Snapshot{
		Time:    now,
		Capture: in.capture,
		Flows: FlowStats{Active: in.flows.len(), Max: in.s.maxFlows, Created: in.flows.created,
			Expired: in.flows.expired, Evicted: in.flows.evicted, Devices: len(in.devs.idx), DevEvict: in.devs.evicted},
		PaymentIPs: in.apps.paymentList(),
		Decode: DecodeStats{Frames: in.c.frames, Errors: in.c.decodeErrors, NotIP: in.c.notIP, Fragments: in.c.fragments,
			DNSAnswers: in.c.dnsAnswers, HelloComplete: in.c.helloComplete, HelloMalformed: in.c.helloMalformed,
			Reassembled: in.reasm.completed, ReasmTooBig: in.reasm.tooBig, ReasmNoSlot: in.reasm.noSlot},
	}
	apps := map[string]*App{}
	for name, t := range in.apps.totals {
		apps[name] = &App{Name: name, Category: t.category, Bytes: t.bytes, Flows: t.flows}
	}
	// Top flows: keep a bounded, sorted candidate list.
	in.flows.each(func(f *flow) {
		total := f.bytes[0] + f.bytes[1]
		if f.name != "" {
			a := apps[f.name]
			if a == nil && len(apps) < maxApps {
				a = &App{Name: f.name, Category: f.category}
				apps[f.name] = a
			}
			if a != nil {
				a.Bytes += total
				a.Flows++
			}
		}
		if len(s.TopFlows) == maxTopFlows && total <= s.TopFlows[maxTopFlows-1].BytesUp+s.TopFlows[maxTopFlows-1].BytesDown {
			return
		}
		fl := in.flowView(f)
		i, _ := slices.BinarySearchFunc(s.TopFlows, total, func(e Flow, t uint64) int { return cmp.Compare(t, e.BytesUp+e.BytesDown) })
		s.TopFlows = slices.Insert(s.TopFlows, i, fl)
		if len(s.TopFlows) > maxTopFlows {
			s.TopFlows = s.TopFlows[:maxTopFlows]
		}
	})
	for _, a := range apps {
		s.Apps = append(s.Apps, *a)
	}
	slices.SortFunc(s.Apps, func(a, b App) int { return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.Name, b.Name)) })
	if len(s.Apps) > maxTopApps {
		s.Apps = s.Apps[:maxTopApps]
	}
	for i := range in.devs.slab {
		d := &in.devs.slab[i]
		if d.first == 0 {
			continue
		}
		dv := Device{MAC: macString(d.mac), Vendor: d.vendor, Hostname: d.hostname, Fingerprint: d.fingerprint,
			VendorClass: d.class, First: unixTime(d.first), Last: unixTime(d.last), Bytes: d.bytes, Packets: d.pkts}
		for _, ip := range d.ips {
			if ip.IsValid() {
				dv.IPs = append(dv.IPs, ip)
			}
		}
		if d.term >= 0 {
			dv.Terminal = in.terms[d.term].name
		}
		s.Devices = append(s.Devices, dv)
	}
	slices.SortFunc(s.Devices, func(a, b Device) int { return cmp.Compare(a.MAC, b.MAC) })
	for i := range in.terms {
		t := &in.terms[i]
		s.POS = append(s.POS, Terminal{Name: t.name, Degraded: t.degraded, Reason: t.reason, Handshakes: t.handshakes,
			Failed: t.failed, LastHS: time.Duration(t.lastHS), AvgHS: time.Duration(t.avgHS), MaxHS: time.Duration(t.maxHS),
			Segments: t.segs, Retransmits: t.retrans, RetransRate: t.rate(), LastSuccess: unixTime(t.lastSuccess)})
	}
	in.snap.Store(s)
}

func (in *Inspector) flowView(f *flow) Flow {
	fl := Flow{Proto: protoName(f.key.proto), VLAN: f.key.vlan, Client: f.client(), Server: f.server(),
		ServerPort: f.serverPort(), First: unixTime(f.first), Last: unixTime(f.last),
		BytesUp: f.bytes[fromClient], BytesDown: f.bytes[fromServer], PktsUp: f.pkts[fromClient], PktsDown: f.pkts[fromServer],
		Name: f.name, NameFrom: f.nameSrc.String(), Category: f.category, State: f.state.String(),
		HandshakeRTT: time.Duration(f.rtt), RetransUp: f.retrans[fromClient], RetransDown: f.retrans[fromServer],
		Resets: f.resets, TLSFailed: f.tls == tlsFailed}
	fl.ClientPort = f.key.ap
	if !f.clientIsA {
		fl.ClientPort = f.key.bp
	}
	if f.tls == tlsDone {
		fl.TLSHandshake = time.Duration(f.tlsAt - f.helloAt)
	}
	if f.term >= 0 {
		fl.Terminal = in.terms[f.term].name
	}
	return fl
}

func protoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 58:
		return "icmpv6"
	}
	return "ip" + strconv.Itoa(int(p))
}
