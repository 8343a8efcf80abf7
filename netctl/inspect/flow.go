package inspect

import "github.com/branchgw/branchgw/netctl/inspect/wire"

// tcpState is the connection state as seen from the middle.
type tcpState uint8

const (
	tcpNone        tcpState = iota // not TCP
	tcpSynSent                     // client SYN seen
	tcpSynReceived                 // server SYN-ACK seen
	tcpEstablished                 // handshake completed
	tcpMidstream                   // picked up without its handshake
	tcpClosing                     // one FIN seen
	tcpClosed                      // both FINs or a RST
)

var tcpStateNames = [...]string{"", "syn_sent", "syn_received", "established", "midstream", "closing", "closed"}

// String names the state for the snapshot.
func (s tcpState) String() string { return tcpStateNames[s] }

// tlsState follows a TLS handshake well enough to time it.
type tlsState uint8

const (
	tlsNone        tlsState = iota
	tlsHelloSent            // ClientHello seen (complete or partial)
	tlsServerSpoke          // the server answered the hello
	tlsDone                 // the client's second flight: handshake complete
	tlsFailed               // alert, reset or close before completion
)

// nameSource says where a flow's name came from.
type nameSource uint8

const (
	nameNone nameSource = iota
	nameDNS
	nameSNI
	nameHTTP
)

var nameSourceNames = [...]string{"", "dns", "sni", "http"}

// String names the source for the snapshot: dns, sni or http.
func (s nameSource) String() string { return nameSourceNames[s] }

// endReason says why a flow left the table.
type endReason uint8

const (
	endIdle endReason = iota
	endEvicted
)

// Directions index the per-direction counters of a flow.
const (
	fromClient = 0
	fromServer = 1
)

// flow is one conversation. Times are Unix nanoseconds of packet
// timestamps. It is kept small (see BenchmarkFlowMemory).
type flow struct {
	key        flowKey
	prev, next int32
	reasm      int32 // reassembly buffer index, or nilIdx
	term       int16 // POS terminal index, or -1

	clientIsA bool
	state     tcpState
	tls       tlsState
	nameSrc   nameSource
	appDone   bool // app identification finished (found or gave up)
	checked   bool // POS allowlist decided
	synSeen   bool
	appSegs   uint8 // client payload segments looked at for identification

	first, last     int64
	synAt, synAckAt int64
	rtt             int64 // SYN to handshake ACK, ns
	helloAt, tlsAt  int64 // ClientHello time; handshake completion time
	bytes           [2]uint64
	pkts            [2]uint32
	dataSegs        [2]uint32
	retrans         [2]uint32
	seqEnd          [2]uint32
	isn             [2]uint32
	resets          uint16
	seqOK, fin      [2]bool

	name, category string
}

// dir returns the direction index of a packet given whether it goes a->b.
func (f *flow) dir(aToB bool) int {
	if aToB == f.clientIsA {
		return fromClient
	}
	return fromServer
}

// seqAfter reports whether a is after b in sequence space (RFC 1982).
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// trackTCP updates state, handshake RTT, retransmissions and resets. It
// reports whether the segment carried data already seen (a retransmission).
func (f *flow) trackTCP(p *wire.Packet, d int, ts int64) (retrans bool) {
	fl := p.TCPFlags
	n := uint32(len(p.Payload))
	switch {
	case fl&wire.FlagRST != 0:
		f.resets++
		f.state = tcpClosed
	case fl&wire.FlagSYN != 0 && fl&wire.FlagACK == 0:
		if f.synSeen && d == fromClient {
			f.retrans[d]++
			retrans = true
		}
		if f.state == tcpNone || f.state == tcpSynSent {
			f.state = tcpSynSent
		}
		f.synSeen = true
		f.synAt = ts
		f.isn[d], f.seqEnd[d], f.seqOK[d] = p.Seq, p.Seq+1, true
		return retrans
	case fl&wire.FlagSYN != 0:
		if f.synAckAt != 0 {
			f.retrans[d]++
			retrans = true
		}
		if f.state == tcpSynSent || f.state == tcpNone {
			f.state = tcpSynReceived
		}
		f.synAckAt = ts
		f.isn[d], f.seqEnd[d], f.seqOK[d] = p.Seq, p.Seq+1, true
		return retrans
	}
	if f.state == tcpSynReceived && d == fromClient && fl&wire.FlagACK != 0 {
		f.state = tcpEstablished
		if f.synAt != 0 {
			f.rtt = ts - f.synAt
		}
	}
	if f.state == tcpNone {
		f.state = tcpMidstream
	}
	if n > 0 {
		f.dataSegs[d]++
		end := p.Seq + n
		if f.seqOK[d] && !seqAfter(end, f.seqEnd[d]) {
			// Everything in it was sent before: a retransmission (or a
			// reordered segment, which a passive observer cannot tell apart).
			f.retrans[d]++
			retrans = true
		}
		if !f.seqOK[d] || seqAfter(end, f.seqEnd[d]) {
			f.seqEnd[d], f.seqOK[d] = end, true
		}
	}
	if fl&wire.FlagFIN != 0 && !f.fin[d] {
		f.fin[d] = true
		f.state = tcpClosing
		if f.fin[fromClient] && f.fin[fromServer] {
			f.state = tcpClosed
		}
	}
	return retrans
}

// clientGuess decides, for a flow first seen mid-conversation, whether the
// packet's source is the client: the side with the higher port, as
// ephemeral ports are above service ports.
func clientGuess(p *wire.Packet) bool {
	if p.Proto == wire.ProtoTCP && p.TCPFlags&wire.FlagSYN != 0 {
		return p.TCPFlags&wire.FlagACK == 0
	}
	if p.Proto == wire.ProtoUDP || p.Proto == wire.ProtoTCP {
		return p.SrcPort >= p.DstPort
	}
	return true
}
