package inspect

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
	"github.com/branchgw/branchgw/netctl/inspect/wire"
)

// conversationFrames is a realistic exchange touching every decoder path:
// ARP, DHCP, DNS, a TCP handshake, a ClientHello split over segments and
// TLS records, HTTP, IPv6, VLAN.
func conversationFrames() [][]byte {
	hello := craft.ClientHello("pay.lab.example", 1800, 700)
	c6 := craft.EP(office.MAC.String(), "2001:db8:10::70", 40000)
	s6 := craft.EP(gwMAC, "2001:db8:1::80", 80)
	dhcpC := craft.EP(till1.MAC.String(), "0.0.0.0", 68)
	return [][]byte{
		craft.ARP(till1, 1, netip.MustParseAddr("198.18.10.1")),
		craft.UDPFrame(dhcpC, craft.EP("ff:ff:ff:ff:ff:ff", "255.255.255.255", 67), craft.Opts{}, craft.DHCPRequest(till1.MAC, "till-1", []byte{1, 3, 6}, "vx")),
		craft.UDPFrame(craft.EP(gwMAC, "198.18.10.1", 67), till1, craft.Opts{}, craft.DHCPAck(till1.MAC, till1.IP)),
		craft.UDPFrame(till1, resolver, craft.Opts{}, craft.DNSQuery(1, "pay.lab.example")),
		craft.UDPFrame(resolver, till1, craft.Opts{}, craft.DNSAnswer(1, "pay.lab.example", "", 60, payHost.IP)),
		craft.TCPFrame(till1, payHost, craft.Opts{}, craft.TCP{SYN: true, Seq: 99}),
		craft.TCPFrame(payHost, till1, craft.Opts{}, craft.TCP{SYN: true, ACK: true, Seq: 7, Ack: 100}),
		craft.TCPFrame(till1, payHost, craft.Opts{}, craft.TCP{ACK: true, Seq: 100, Ack: 8}),
		craft.TCPFrame(till1, payHost, craft.Opts{}, craft.TCP{ACK: true, Seq: 1100, Ack: 8, Payload: hello[1000:]}),
		craft.TCPFrame(till1, payHost, craft.Opts{}, craft.TCP{ACK: true, Seq: 100, Ack: 8, Payload: hello[:1000]}),
		craft.TCPFrame(payHost, till1, craft.Opts{}, craft.TCP{ACK: true, Seq: 8, Ack: uint32(100 + len(hello)), Payload: serverFlight}),
		craft.TCPFrame(till1, payHost, craft.Opts{}, craft.TCP{ACK: true, Seq: uint32(100 + len(hello)), Ack: 8, Payload: clientFinished}),
		craft.TCPFrame(c6, s6, craft.Opts{VLAN: 20}, craft.TCP{ACK: true, Payload: []byte("GET / HTTP/1.1\r\nHost: www.lab.example\r\n\r\n")}),
		craft.TCPFrame(till1, payHost, craft.Opts{}, craft.TCP{RST: true, Seq: 5000}),
	}
}

// pack joins frames as length-prefixed records: the fuzz input format.
func pack(frames [][]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

// feed replays a packed input into a fresh inspector with small tables,
// advancing a packet clock, and builds a snapshot at the end.
func feed(t testing.TB, in *Inspector, data []byte) {
	ts := t0
	for len(data) >= 2 {
		n := int(binary.BigEndian.Uint16(data))
		data = data[2:]
		n = min(n, len(data))
		in.HandleFrame(data[:n], ts)
		data = data[n:]
		ts = ts.Add(7 * time.Millisecond)
	}
	in.Tick(ts.Add(time.Hour))
	_ = in.Snapshot()
}

func fuzzInspector(t testing.TB) *Inspector {
	cfg := testConfig()
	cfg.Inspect.MaxFlows = 64
	cfg.Inspect.MaxDevices = 16
	cfg.Inspect.ReassemblyBytes = 4096
	in, err := New(cfg, nil, Deps{OnAlarm: func(Alarm) {}, Payment: PaymentSinkFunc(func([]netip.Addr) {}), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	// A panic inside a gopacket decoder must surface, not be recovered.
	in.dec = wire.NewDecoder(false)
	return in
}

// FuzzInspector: no sequence of frames makes the inspector panic, and its
// tables stay within their bounds.
func FuzzInspector(f *testing.F) {
	frames := conversationFrames()
	f.Add(pack(frames))
	for _, fr := range frames {
		f.Add(pack([][]byte{fr}))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInspector(t)
		feed(t, in, data)
		checkBounds(t, in)
	})
}

func checkBounds(t testing.TB, in *Inspector) {
	t.Helper()
	if in.flows.len() > in.s.maxFlows || len(in.devs.slab) > in.s.maxDevices || in.reasm.inUse != 0 {
		t.Fatalf("bounds: flows %d devices %d reassembly %d", in.flows.len(), len(in.devs.slab), in.reasm.inUse)
	}
}

// TestMutatedConversations is the short fuzz run of every `go test`:
// random mutations of the conversation, frame by frame.
func TestMutatedConversations(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 40
	}
	frames := conversationFrames()
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < n; i++ {
		in := fuzzInspector(t)
		var mutated [][]byte
		for _, fr := range frames {
			b := append([]byte(nil), fr...)
			if r.IntN(2) == 0 {
				b = mutateFrame(r, b)
			}
			mutated = append(mutated, b)
		}
		r.Shuffle(len(mutated), func(i, j int) {
			if r.IntN(4) == 0 {
				mutated[i], mutated[j] = mutated[j], mutated[i]
			}
		})
		feed(t, in, pack(mutated))
		checkBounds(t, in)
	}
}

func mutateFrame(r *rand.Rand, b []byte) []byte {
	switch r.IntN(4) {
	case 0:
		b[r.IntN(len(b))] ^= byte(1 << r.IntN(8))
	case 1:
		b = b[:r.IntN(len(b))]
	case 2:
		b[r.IntN(len(b))] = 0xff
	case 3:
		if i := 14 + r.IntN(max(1, len(b)-15)); i+1 < len(b) {
			b[i], b[i+1] = byte(r.IntN(256)), byte(r.IntN(256))
		}
	}
	return b
}
