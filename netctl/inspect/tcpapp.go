package inspect

import (
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/wire"
)

// maxAppSegs bounds the client segments looked at to identify a flow.
const maxAppSegs = 8

// tlsAlert is the TLS content type of an alert record.
const tlsAlert = 0x15

// tcpApp follows the application on a TCP flow: it identifies it from the
// client's first bytes (TLS server name, HTTP Host) and times the TLS
// handshake: ClientHello, the server's first flight, then the client's
// second flight, which it only sends once the handshake succeeded.
func (in *Inspector) tcpApp(f *flow, p *wire.Packet, d int, ts int64) {
	pl := p.Payload
	if d == fromServer && len(pl) > 0 {
		switch f.tls {
		case tlsHelloSent:
			if wire.TLSRecordType(pl) == tlsAlert {
				in.tlsFailed(f, ts)
			} else {
				f.tls = tlsServerSpoke
			}
		case tlsDone:
			if f.term >= 0 && in.isPayment(f) {
				// Application data from the payment host after a good
				// handshake: the terminal got its answer.
				in.terms[f.term].lastSuccess = ts
			}
		}
	}
	if d == fromClient && len(pl) > 0 {
		if f.tls == tlsServerSpoke {
			f.tls, f.tlsAt = tlsDone, ts
			if f.term >= 0 && in.isPayment(f) {
				in.terms[f.term].handshake(ts - f.helloAt)
				in.judge(f.term, ts)
			}
		}
		if !f.appDone {
			in.identify(f, p, ts)
		}
	}
	if p.TCPFlags&(wire.FlagRST|wire.FlagFIN) != 0 && (f.tls == tlsHelloSent || f.tls == tlsServerSpoke) {
		in.tlsFailed(f, ts)
	}
}

// identify looks at one client payload segment of a flow not yet named.
func (in *Inspector) identify(f *flow, p *wire.Packet, ts int64) {
	f.appSegs++
	if f.reasm != nilIdx {
		in.reassemble(f, p.Seq, p.Payload, ts)
	} else {
		switch p.App {
		case wire.AppTLSClientHello:
			f.tls, f.helloAt = tlsHelloSent, ts
			switch p.HelloStatus {
			case wire.HelloComplete:
				in.c.helloComplete++
				in.setName(f, p.SNI, nameSNI, ts)
				in.appDone(f, ts)
			case wire.HelloPartial:
				in.startReasm(f, p.Seq, ts)
				if f.reasm != nilIdx {
					in.reassemble(f, p.Seq, p.Payload, ts)
				}
			default:
				in.c.helloMalformed++
				in.appDone(f, ts)
			}
		case wire.AppHTTPRequest:
			if len(p.HTTP.Host) > 0 {
				in.setName(f, p.HTTP.Host, nameHTTP, ts)
			}
			in.appDone(f, ts)
		default:
			// A segment ahead of the stream's first byte: the start of a
			// ClientHello may still be on its way (reordering). Buffer
			// from the first byte, known from the SYN.
			first := f.isn[fromClient] + 1
			if f.synSeen && f.seqOK[fromClient] && seqAfter(p.Seq, first) && int(p.Seq-first) < in.reasm.size {
				in.startReasm(f, first, ts)
				if f.reasm != nilIdx {
					in.reassemble(f, p.Seq, p.Payload, ts)
				}
			} else {
				in.appDone(f, ts)
			}
		}
	}
	if !f.appDone && f.appSegs >= maxAppSegs {
		in.appDone(f, ts)
	}
}

// startReasm gives the flow a reassembly buffer starting at sequence
// number base.
func (in *Inspector) startReasm(f *flow, base uint32, ts int64) {
	f.reasm = in.reasm.get(base)
	if f.reasm == nilIdx {
		in.appDone(f, ts) // every slot busy: give up on this one
		return
	}
	if f.tls == tlsNone {
		f.tls, f.helloAt = tlsHelloSent, ts
	}
}

// reassemble adds a segment to the flow's buffer and parses what is
// contiguous from the stream start.
func (in *Inspector) reassemble(f *flow, seq uint32, payload []byte, ts int64) {
	b := &in.reasm.bufs[f.reasm]
	if len(payload) > 0 && !b.add(seq, payload) {
		in.reasm.tooBig++
		in.appDone(f, ts)
		return
	}
	pre := b.prefix()
	if len(pre) < 6 {
		return
	}
	if !wire.LooksLikeClientHello(pre) {
		f.tls = tlsNone // reordered data that is not TLS after all
		in.appDone(f, ts)
		return
	}
	sni, st := wire.ParseClientHello(pre, in.scratch)
	switch st {
	case wire.HelloComplete:
		in.reasm.completed++
		in.c.helloComplete++
		in.setName(f, sni, nameSNI, ts)
		in.appDone(f, ts)
	case wire.HelloPartial:
		if b.full() {
			in.reasm.tooBig++
			in.appDone(f, ts)
		}
	default:
		in.c.helloMalformed++
		in.appDone(f, ts)
	}
}

// appDone ends identification: frees the buffer and decides the POS
// allowlist check with what is known now.
func (in *Inspector) appDone(f *flow, ts int64) {
	f.appDone = true
	in.reasm.put(f.reasm)
	f.reasm = nilIdx
	in.checkPOS(f, ts)
}

// setName names a flow from a server name or Host header; a payment
// category puts the server into the payment IP set.
func (in *Inspector) setName(f *flow, b []byte, src nameSource, ts int64) {
	name := in.apps.names.intern(b)
	if name == "" {
		return
	}
	f.name, f.nameSrc = name, src
	if in.onName != nil {
		in.onName(Name{Kind: src.String(), Name: name, Time: time.Unix(0, ts), Client: f.client(), Server: f.server()})
	}
	f.category, _ = in.s.categories.match(name)
	if f.category == CategoryPayment && in.apps.addPayment(f.server(), ts+paymentHold) {
		in.notifyPayment()
	}
}

func (in *Inspector) isPayment(f *flow) bool {
	if f.category == CategoryPayment {
		return true
	}
	_, ok := in.apps.payment[f.server()]
	return ok
}

// tlsFailed records a handshake that ended before completing.
func (in *Inspector) tlsFailed(f *flow, ts int64) {
	f.tls = tlsFailed
	if f.term >= 0 && in.isPayment(f) {
		in.terms[f.term].handshakeFailed()
		in.judge(f.term, ts)
	}
}
