package wire

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
)

// seedFrames are valid frames for every decoder path: the fuzzer mutates
// them, and TestMutatedFrames below runs a short deterministic fuzz in
// every `go test`.
func seedFrames() [][]byte {
	hello := craft.ClientHello("pay.lab.example", 0, 0)
	frag := craft.ClientHello("pay.lab.example", 1200, 300)
	return [][]byte{
		craft.TCPFrame(pos, server, craft.Opts{}, craft.TCP{SYN: true, Seq: 1}),
		craft.TCPFrame(pos, server, craft.Opts{VLAN: 7}, craft.TCP{ACK: true, PSH: true, Payload: hello}),
		craft.TCPFrame(pos, server, craft.Opts{}, craft.TCP{ACK: true, Payload: frag}),
		craft.TCPFrame(pos6, srv6, craft.Opts{}, craft.TCP{ACK: true, Payload: []byte("GET /a HTTP/1.1\r\nHost: h.example\r\n\r\n")}),
		craft.UDPFrame(pos, dnsSrv, craft.Opts{}, craft.DNSQuery(9, "pay.lab.example")),
		craft.UDPFrame(dnsSrv, pos, craft.Opts{}, craft.DNSAnswer(9, "pay.lab.example", "cdn.lab.example", 60, netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10"))),
		craft.UDPFrame(dhcpC, craft.EP("ff:ff:ff:ff:ff:ff", "255.255.255.255", 67), craft.Opts{}, craft.DHCPRequest(pos.MAC, "till-1", []byte{1, 3, 6, 15, 28, 51, 58, 59}, "verifone")),
		craft.UDPFrame(dhcpS, pos, craft.Opts{VLAN: 3}, craft.DHCPAck(pos.MAC, pos.IP)),
		craft.ARP(pos, 2, netip.MustParseAddr("198.18.10.1")),
	}
}

// FuzzDecode: no frame makes the decoder panic (recovery is off, so a
// panic in gopacket's decoders would surface too), and what it reports is
// consistent.
func FuzzDecode(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	d := NewDecoder(false)
	f.Fuzz(func(t *testing.T, frame []byte) {
		var p Packet
		_ = d.Decode(frame, &p)
		checkPacket(t, &p)
	})
}

// FuzzParseClientHello feeds raw TCP payloads to the TLS parser.
func FuzzParseClientHello(f *testing.F) {
	f.Add(craft.ClientHello("a.example", 0, 0))
	f.Add(craft.ClientHello("a.example", 1500, 200))
	f.Add(craft.ClientHello("", 0, 0))
	scratch := make([]byte, 4096)
	f.Fuzz(func(t *testing.T, b []byte) {
		sni, st := ParseClientHello(b, scratch)
		if sni != nil && (st != HelloComplete || !ValidHostname(sni)) {
			t.Fatalf("sni %q with status %d", sni, st)
		}
	})
}

// FuzzParseHTTPRequest feeds raw TCP payloads to the HTTP parser.
func FuzzParseHTTPRequest(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"))
	f.Add([]byte("POST /x HTTP/1.0\nHOST: b:80\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r HTTPRequest
		if ParseHTTPRequest(b, &r) && r.Host != nil && !ValidHostname(r.Host) {
			t.Fatalf("host %q", r.Host)
		}
	})
}

func checkPacket(t *testing.T, p *Packet) {
	t.Helper()
	if p.SNI != nil && !ValidHostname(p.SNI) {
		t.Fatalf("invalid SNI %q reported", p.SNI)
	}
	if p.HTTP.Host != nil && !ValidHostname(p.HTTP.Host) {
		t.Fatalf("invalid Host %q reported", p.HTTP.Host)
	}
	if p.DNS != nil {
		for _, a := range p.DNS.Answers {
			_ = a.IP.String()
		}
	}
}

// TestMutatedFrames is a short, deterministic fuzz run that every `go
// test` does: random bit flips, truncations, length-field stomps and
// splices of the seed frames. `go test -fuzz FuzzDecode` runs the real
// coverage-guided fuzzer.
func TestMutatedFrames(t *testing.T) {
	n := 30000
	if testing.Short() {
		n = 3000
	}
	seeds := seedFrames()
	r := rand.New(rand.NewPCG(1, 2))
	d := NewDecoder(false)
	scratch := make([]byte, 4096)
	buf := make([]byte, 0, 4096)
	for i := 0; i < n; i++ {
		buf = append(buf[:0], seeds[r.IntN(len(seeds))]...)
		buf = mutate(r, buf, seeds)
		var p Packet
		_ = d.Decode(buf, &p)
		checkPacket(t, &p)
		if len(buf) > 54 {
			_, _ = ParseClientHello(buf[54:], scratch)
		}
	}
}

func mutate(r *rand.Rand, b []byte, seeds [][]byte) []byte {
	for k := 1 + r.IntN(4); k > 0 && len(b) > 0; k-- {
		switch r.IntN(5) {
		case 0: // flip bits
			b[r.IntN(len(b))] ^= byte(1 << r.IntN(8))
		case 1: // truncate
			b = b[:r.IntN(len(b))]
		case 2: // stomp a byte with an extreme value (length fields)
			v := [...]byte{0, 1, 0x7f, 0x80, 0xfe, 0xff}
			b[r.IntN(len(b))] = v[r.IntN(len(v))]
		case 3: // splice another seed's tail
			s := seeds[r.IntN(len(seeds))]
			at := r.IntN(len(b))
			b = append(b[:at], s[r.IntN(len(s)):]...)
		case 4: // stomp a 16-bit field
			if len(b) > 2 {
				i := r.IntN(len(b) - 1)
				b[i], b[i+1] = 0xff, byte(r.IntN(256))
			}
		}
	}
	return b
}
