// Package inspect is local packet inspection on the store LAN: it captures
// with AF_PACKET (TPACKET_V3), decodes with zero allocations (package
// wire), and keeps in bounded memory a flow table, a device inventory,
// application identity (DNS answers, TLS server names, HTTP hosts, domain
// categories), the payment IP set and the health of each POS terminal. It
// raises alarms through an injected callback and publishes an immutable
// Snapshot for the status page and the API.
package inspect

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/wire"
)

// Deps are the inspector's collaborators; all are optional.
type Deps struct {
	// OnAlarm receives alarms (see AlarmFunc).
	OnAlarm AlarmFunc
	// Payment receives the payment IP set whenever it changes.
	Payment PaymentSink
	// Now is the clock for ticks; time.Now when nil.
	Now func() time.Time
	// Open opens the packet source; Run uses AF_PACKET on
	// inspect.interface when nil.
	Open func() (Source, error)
	// SelfMACs are the gateway's own MACs on the LAN: frames from them are
	// the gateway forwarding traffic, not a device. Run adds the capture
	// interface's MAC when it opens AF_PACKET itself.
	SelfMACs []net.HardwareAddr
	// SelfIPs are the gateway's LAN addresses besides lan.address (its
	// IPv6 ones, say); Run adds the capture interface's.
	SelfIPs []netip.Addr
	// SnapshotEvery is how often Run expires flows and publishes a
	// snapshot; one second when zero.
	SnapshotEvery time.Duration
	// OnSummary receives a Summary every SummaryEvery (a minute when zero).
	OnSummary    SummaryFunc
	SummaryEvery time.Duration
}

// Inspector is the packet inspection component. Build it with New; Run
// owns it after that. HandleFrame and Tick let tests and offline analysis
// drive it without a capture; they must not run concurrently with Run.
type Inspector struct {
	cfg  Config
	s    *settings
	log  *slog.Logger
	deps Deps

	dec     *wire.Decoder
	pkt     wire.Packet
	flows   *flowTable
	reasm   *reasmPool
	scratch []byte
	devs    *deviceTable
	apps    *appTable
	terms   []terminal
	self    [][6]byte
	selfIPs []netip.Addr // the gateway's other LAN addresses (IPv6)
	endFn   func(*flow, endReason)
	lastTS  int64

	posDestSeen  map[posDest]bool
	resolverSeen map[resolverUse]bool

	// onFlowEnd and onName let offline analysis see every flow and name,
	// not just the snapshot's top ones; nil in the daemon.
	onFlowEnd func(Flow)
	onName    func(Name)

	sum     summaryState
	c       counters
	capture CaptureStats
	snap    atomic.Pointer[Snapshot]
}

type posDest struct {
	term int16
	peer netip.Addr
}

type resolverUse struct {
	mac      [6]byte
	resolver netip.Addr
}

// maxAlarmKeys bounds each alarm's memory of what it already reported.
const maxAlarmKeys = 4096

// counters are the inspector's own statistics.
type counters struct {
	frames, decodeErrors, fragments, notIP uint64
	dnsAnswers, dhcp, arp                  uint64
	helloComplete, helloMalformed          uint64
}

// reasmSlots is how many flows may reassemble a ClientHello at once.
const reasmSlots = 256

// closedIdle is how long a closed TCP flow stays for late packets.
const closedIdle = int64(10e9)

// New builds an inspector from its configuration.
func New(cfg Config, log *slog.Logger, deps Deps) (*Inspector, error) {
	s, err := compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.SnapshotEvery <= 0 {
		deps.SnapshotEvery = time.Second
	}
	if deps.SummaryEvery <= 0 {
		deps.SummaryEvery = time.Minute
	}
	in := &Inspector{
		cfg: cfg, s: s, log: log, deps: deps,
		dec:          wire.NewDecoder(true),
		flows:        newFlowTable(s.maxFlows),
		reasm:        newReasmPool(s.reasmBytes, reasmSlots),
		scratch:      make([]byte, s.reasmBytes),
		devs:         newDeviceTable(s.maxDevices),
		apps:         newAppTable(),
		terms:        newTerminals(s.terminals),
		posDestSeen:  map[posDest]bool{},
		resolverSeen: map[resolverUse]bool{},
	}
	for _, m := range deps.SelfMACs {
		in.addSelf(m)
	}
	for _, ip := range deps.SelfIPs {
		in.selfIPs = append(in.selfIPs, ip.Unmap())
	}
	in.endFn = in.endFlow
	in.publish(deps.Now())
	return in, nil
}

func (in *Inspector) addSelf(m net.HardwareAddr) {
	if len(m) == 6 && !in.isSelf([6]byte(m)) {
		in.self = append(in.self, [6]byte(m))
	}
}

// isSelfIP reports whether ip is one of the gateway's own LAN addresses.
func (in *Inspector) isSelfIP(ip netip.Addr) bool {
	return ip == in.s.self || slices.Contains(in.selfIPs, ip)
}

func (in *Inspector) isSelf(mac [6]byte) bool {
	for _, m := range in.self {
		if m == mac {
			return true
		}
	}
	return false
}

// HandleFrame inspects one Ethernet frame captured at ts.
func (in *Inspector) HandleFrame(frame []byte, ts time.Time) {
	in.handle(frame, ts.UnixNano(), 0)
}

// handle is the hot path: decode, then device, flow and app updates.
func (in *Inspector) handle(frame []byte, ts int64, vlan uint16) {
	in.c.frames++
	in.lastTS = ts
	p := &in.pkt
	if err := in.dec.Decode(frame, p); err != nil {
		// Keep what decoded: a truncated DNS answer still has its IPs.
		in.c.decodeErrors++
	}
	if vlan != 0 && p.VLAN == 0 {
		p.VLAN = vlan // the kernel stripped the tag and reported it aside
	}
	if p.ARP {
		in.c.arp++
		in.arp(p, ts)
		return
	}
	if !p.HasIP() {
		in.c.notIP++
		return
	}
	dev := in.observe(p, ts, len(frame))
	if p.Fragment {
		in.c.fragments++
		return
	}
	k, aToB := makeKey(p)
	i, ok := in.flows.get(k)
	if ok {
		in.flows.touch(i)
	} else {
		i = in.flows.insert(k, in.endFn)
	}
	f := in.flows.at(i)
	if !ok {
		in.newFlow(f, p, aToB, ts)
	}
	d := f.dir(aToB)
	f.last = ts
	f.bytes[d] += uint64(len(frame))
	f.pkts[d]++
	switch p.Proto {
	case wire.ProtoTCP:
		retrans := f.trackTCP(p, d, ts)
		if f.term >= 0 && len(p.Payload) > 0 {
			in.terms[f.term].segment(retrans, ts)
		}
		in.tcpApp(f, p, d, ts)
	case wire.ProtoUDP:
		if p.DNS != nil {
			in.dns(p, f, d, ts)
		}
		if p.DHCP != nil {
			in.dhcp(p, dev, ts)
		}
	}
}

// newFlow fills a flow's identity from its first packet.
func (in *Inspector) newFlow(f *flow, p *wire.Packet, aToB bool, ts int64) {
	srcIsClient := clientGuess(p)
	f.clientIsA = aToB == srcIsClient
	f.first = ts
	clientMAC, clientIP, server := p.SrcMAC, p.Src, p.Dst
	if !srcIsClient {
		clientMAC, clientIP, server = p.DstMAC, p.Dst, p.Src
	}
	f.term = findTerminal(in.terms, clientMAC, clientIP.Unmap())
	if e, ok := in.apps.dns[server.Unmap()]; ok {
		f.name, f.category, f.nameSrc = e.name, e.category, nameDNS
	}
	if p.Proto != wire.ProtoTCP {
		f.appDone = true
		in.checkPOS(f, ts)
	}
}

// server returns the flow's server address.
func (f *flow) server() netip.Addr {
	if f.clientIsA {
		return addr16(f.key.b)
	}
	return addr16(f.key.a)
}

// client returns the flow's client address.
func (f *flow) client() netip.Addr {
	if f.clientIsA {
		return addr16(f.key.a)
	}
	return addr16(f.key.b)
}

func (f *flow) serverPort() uint16 {
	if f.clientIsA {
		return f.key.bp
	}
	return f.key.ap
}

// endFlow runs when a flow leaves the table.
func (in *Inspector) endFlow(f *flow, _ endReason) {
	if f.tls == tlsHelloSent || f.tls == tlsServerSpoke {
		in.tlsFailed(f, in.lastTS)
	}
	in.reasm.put(f.reasm)
	f.reasm = nilIdx
	if !f.checked {
		in.checkPOS(f, in.lastTS)
	}
	in.apps.addTotal(f.name, f.category, f.bytes[0]+f.bytes[1])
	if in.onFlowEnd != nil {
		in.onFlowEnd(in.flowView(f))
	}
}

// Tick expires idle flows, DNS mappings and payment IPs, closes the POS
// retransmit windows and publishes a snapshot. Run calls it every
// Deps.SnapshotEvery; offline analysis calls it with packet time.
func (in *Inspector) Tick(now time.Time) {
	ts := now.UnixNano()
	if ts > in.lastTS {
		in.lastTS = ts
	}
	in.flows.expire(ts, in.s.idle, min(in.s.idle, closedIdle), in.endFn)
	if in.apps.expire(ts) {
		in.notifyPayment()
	}
	for i := range in.terms {
		in.terms[i].roll(ts)
		in.judge(int16(i), ts)
	}
	in.publish(now)
	in.maybeSummarize(ts)
}

func (in *Inspector) notifyPayment() {
	if in.deps.Payment != nil {
		in.deps.Payment.PaymentIPs(in.apps.paymentList())
	}
}

func (in *Inspector) alarm(a Alarm) {
	in.log.Info("inspect alarm", "kind", a.Kind, "mac", a.MAC, "ip", a.IP, "terminal", a.Terminal,
		"peer", a.Peer, "name", a.Name, "detail", a.Detail)
	if in.deps.OnAlarm != nil {
		in.deps.OnAlarm(a)
	}
}

func macString(m [6]byte) string { return net.HardwareAddr(m[:]).String() }
