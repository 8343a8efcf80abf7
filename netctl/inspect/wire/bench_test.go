package wire

import (
	"net/netip"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
)

// BenchmarkDecode is the decoder alone over a mix of frames: bulk TCP
// data, a ClientHello, HTTP over IPv6, a DNS answer, VLAN, ARP.
func BenchmarkDecode(b *testing.B) {
	mix := [][]byte{
		craft.TCPFrame(pos, server, craft.Opts{}, craft.TCP{ACK: true, Payload: make([]byte, 1400)}),
		craft.TCPFrame(server, pos, craft.Opts{}, craft.TCP{ACK: true}),
		craft.TCPFrame(pos, server, craft.Opts{VLAN: 20}, craft.TCP{ACK: true, Payload: make([]byte, 1400)}),
		craft.TCPFrame(pos, server, craft.Opts{}, craft.TCP{ACK: true, Payload: craft.ClientHello("pay.lab.example", 0, 0)}),
		craft.TCPFrame(pos6, srv6, craft.Opts{}, craft.TCP{ACK: true, Payload: []byte("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")}),
		craft.UDPFrame(dnsSrv, pos, craft.Opts{}, craft.DNSAnswer(7, "pay.lab.example", "", 300, netip.MustParseAddr("192.0.2.10"))),
		craft.ARP(pos, 1, netip.MustParseAddr("198.18.10.1")),
	}
	d := NewDecoder(true)
	var p Packet
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		_ = d.Decode(mix[i%len(mix)], &p)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "packets/s")
}
