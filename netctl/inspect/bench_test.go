package inspect

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
)

// packetMix is an in-memory LAN mix over nflows TCP flows: bulk data and
// ACKs mostly, with DNS, ClientHellos (one split over two segments), HTTP,
// IPv6, VLAN and ARP sprinkled in.
func packetMix(nflows int) [][]byte {
	var mix [][]byte
	hello := craft.ClientHello("pay.lab.example", 0, 0)
	big := craft.GoClientHello("pos.acquirer.lab.example")
	for i := 0; i < nflows; i++ {
		c := craft.EP(office.MAC.String(), fmt.Sprintf("198.18.10.%d", 64+i%64), uint16(30000+i))
		s := craft.EP(gwMAC, fmt.Sprintf("203.0.113.%d", i%250+1), 443)
		o := craft.Opts{}
		if i%10 == 0 {
			o.VLAN = 20
		}
		if i%7 == 0 {
			c.IP = netip.MustParseAddr(fmt.Sprintf("2001:db8:10::%x", i+1))
			s.IP = netip.MustParseAddr(fmt.Sprintf("2001:db8:1::%x", i%250+1))
		}
		seq, ack := uint32(1000), uint32(9000)
		mix = append(mix, craft.TCPFrame(c, s, o, craft.TCP{SYN: true, Seq: seq - 1}))
		mix = append(mix, craft.TCPFrame(s, c, o, craft.TCP{SYN: true, ACK: true, Seq: ack - 1, Ack: seq}))
		switch i % 4 {
		case 0:
			mix = append(mix, craft.TCPFrame(c, s, o, craft.TCP{ACK: true, Seq: seq, Ack: ack, Payload: hello}))
		case 1:
			mix = append(mix, craft.TCPFrame(c, s, o, craft.TCP{ACK: true, Seq: seq, Ack: ack, Payload: big[:1400]}))
			mix = append(mix, craft.TCPFrame(c, s, o, craft.TCP{ACK: true, Seq: seq + 1400, Ack: ack, Payload: big[1400:]}))
		case 2:
			mix = append(mix, craft.TCPFrame(c, s, o, craft.TCP{ACK: true, Seq: seq, Ack: ack, Payload: []byte("GET / HTTP/1.1\r\nHost: www.lab.example\r\n\r\n")}))
		}
		for k := 0; k < 8; k++ {
			mix = append(mix, craft.TCPFrame(s, c, o, craft.TCP{ACK: true, Seq: ack + uint32(k*1400), Ack: seq, Payload: make([]byte, 1400)}))
			if k%2 == 1 {
				mix = append(mix, craft.TCPFrame(c, s, o, craft.TCP{ACK: true, Seq: seq, Ack: ack + uint32(k*1400)}))
			}
		}
		if i%5 == 0 {
			q := craft.EP(c.MAC.String(), "198.18.10.70", uint16(40000+i))
			mix = append(mix, craft.UDPFrame(q, resolver, craft.Opts{}, craft.DNSQuery(uint16(i), "www.lab.example")))
			mix = append(mix, craft.UDPFrame(resolver, q, craft.Opts{}, craft.DNSAnswer(uint16(i), "www.lab.example", "", 300, s.IP)))
		}
		if i%20 == 0 {
			mix = append(mix, craft.ARP(office, 1, netip.MustParseAddr("198.18.10.1")))
		}
	}
	return mix
}

// BenchmarkInspect measures decode + flow update per packet on the mix,
// replayed over and over (flows stay in the table; the TCP and app state
// machines see repeats as retransmissions). Reports ns/packet, packets/s
// and allocs/packet.
func BenchmarkInspect(b *testing.B) {
	for _, nflows := range []int{100, 10000} {
		b.Run(fmt.Sprintf("flows=%d", nflows), func(b *testing.B) {
			mix := packetMix(nflows)
			cfg := testConfig()
			in, err := New(cfg, nil, Deps{Now: func() time.Time { return t0 }})
			if err != nil {
				b.Fatal(err)
			}
			ts := t0.UnixNano()
			for _, f := range mix { // warm: the tables reach their size
				in.handle(f, ts, 0)
			}
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				ts += 1000
				in.handle(mix[i%len(mix)], ts, 0)
			}
			el := time.Since(start)
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(b.N)/el.Seconds(), "packets/s")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N), "allocs/packet")
		})
	}
}

// TestSteadyStateAllocatesNothing: once flows exist, inspecting their
// packets allocates nothing (the BenchmarkInspect figure, as a test).
func TestSteadyStateAllocatesNothing(t *testing.T) {
	mix := packetMix(50)
	in, err := New(testConfig(), nil, Deps{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	ts := t0.UnixNano()
	for _, f := range mix {
		in.handle(f, ts, 0)
	}
	allocs := testing.AllocsPerRun(5, func() {
		for _, f := range mix {
			ts += 1000
			in.handle(f, ts, 0)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per pass over %d packets; want 0", allocs, len(mix))
	}
}

// BenchmarkFlowMemory fills a table of 100k concurrent TCP flows and
// reports the heap it holds: MB in total and bytes per flow.
func BenchmarkFlowMemory(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		frames := make([][]byte, 0, n)
		for k := 0; k < n; k++ {
			c := craft.EP(office.MAC.String(), fmt.Sprintf("198.18.%d.%d", 10+k/60000, 1+k%250), uint16(1024+k%60000))
			frames = append(frames, craft.TCPFrame(c, webHost, craft.Opts{}, craft.TCP{SYN: true}))
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cfg := testConfig()
		cfg.Inspect.MaxFlows = n
		in, err := New(cfg, nil, Deps{Now: func() time.Time { return t0 }})
		if err != nil {
			b.Fatal(err)
		}
		ts := t0.UnixNano()
		for _, f := range frames {
			in.handle(f, ts, 0)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if in.flows.len() != n {
			b.Fatalf("%d flows, want %d", in.flows.len(), n)
		}
		held := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		b.ReportMetric(held/(1<<20), "MB")
		b.ReportMetric(held/n, "bytes/flow")
		runtime.KeepAlive(in)
		runtime.KeepAlive(frames)
	}
}
