package inspect

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
)

// Lab addresses (TEST-NETs and 198.18.0.0/15 only).
var (
	gwMAC    = "02:00:00:00:00:01"
	till1    = craft.EP("00:0b:4f:00:10:01", "198.18.10.11", 40001) // Verifone OUI, configured terminal
	office   = craft.EP("b8:27:eb:00:20:01", "198.18.10.70", 50001) // Raspberry Pi, office zone
	payHost  = craft.EP(gwMAC, "192.0.2.10", 443)
	webHost  = craft.EP(gwMAC, "203.0.113.80", 80)
	resolver = craft.EP(gwMAC, "198.18.10.1", 53)
	t0       = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
)

func testConfig() Config {
	c := config.Defaults()
	c.Inspect.Interface = "lan0"
	c.Inspect.Categories = map[string]string{"*.update.lab.example": "os-update", "video.lab.example": "streaming"}
	c.POS.Devices = []config.POSDevice{{Name: "till-1", MAC: "00:0b:4f:00:10:01", IP: "198.18.10.11"}}
	c.POS.PaymentDomains = []string{"pay.lab.example", "*.acquirer.lab.example"}
	return Config{
		Inspect:   c.Inspect,
		POS:       c.POS,
		LAN:       netip.MustParsePrefix("198.18.10.1/24"),
		POSSubnet: netip.MustParsePrefix("198.18.10.0/26"),
		POSAllow:  []string{"198.51.100.0/24", "tms.vendor.lab.example"},
	}
}

// rig is an inspector driven by hand with a packet clock.
type rig struct {
	t         *testing.T
	in        *Inspector
	now       time.Time
	alarms    []Alarm
	payment   [][]netip.Addr
	summaries []Summary
}

func newRig(t *testing.T, mutate func(*Config)) *rig {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	r := &rig{t: t, now: t0}
	mac := craft.EP(gwMAC, "198.18.10.1", 0).MAC
	in, err := New(cfg, nil, Deps{
		OnAlarm:   func(a Alarm) { r.alarms = append(r.alarms, a) },
		Payment:   PaymentSinkFunc(func(ips []netip.Addr) { r.payment = append(r.payment, ips) }),
		Now:       func() time.Time { return r.now },
		SelfMACs:  []net.HardwareAddr{mac},
		OnSummary: func(s Summary) { r.summaries = append(r.summaries, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.in = in
	return r
}

// send inspects frame at the rig's clock, then advances it by d.
func (r *rig) send(frame []byte, d time.Duration) {
	r.in.HandleFrame(frame, r.now)
	r.now = r.now.Add(d)
}

func (r *rig) snap() *Snapshot {
	r.in.Tick(r.now)
	return r.in.Snapshot()
}

func (r *rig) alarmsOf(k AlarmKind) []Alarm {
	var out []Alarm
	for _, a := range r.alarms {
		if a.Kind == k {
			out = append(out, a)
		}
	}
	return out
}

// conv is one TCP conversation between a client and a server.
type conv struct {
	r          *rig
	c, s       craft.Endpoint
	o          craft.Opts
	cseq, sseq uint32
}

func (r *rig) conv(c, s craft.Endpoint) *conv {
	return &conv{r: r, c: c, s: s, cseq: 1000, sseq: 50000}
}

// open runs the three-way handshake: the server answers after up, the
// client acks after down.
func (cv *conv) open(up, down time.Duration) *conv {
	cv.r.send(craft.TCPFrame(cv.c, cv.s, cv.o, craft.TCP{SYN: true, Seq: cv.cseq}), up)
	cv.cseq++
	cv.r.send(craft.TCPFrame(cv.s, cv.c, cv.o, craft.TCP{SYN: true, ACK: true, Seq: cv.sseq, Ack: cv.cseq}), down)
	cv.sseq++
	cv.r.send(craft.TCPFrame(cv.c, cv.s, cv.o, craft.TCP{ACK: true, Seq: cv.cseq, Ack: cv.sseq}), 0)
	return cv
}

// client sends payload from the client, then waits d.
func (cv *conv) client(payload []byte, d time.Duration) {
	cv.r.send(craft.TCPFrame(cv.c, cv.s, cv.o, craft.TCP{ACK: true, PSH: true, Seq: cv.cseq, Ack: cv.sseq, Payload: payload}), d)
	cv.cseq += uint32(len(payload))
}

// clientAt sends a client segment at an offset from the current sequence
// number without advancing it (reordering, retransmission).
func (cv *conv) clientAt(off int, payload []byte, d time.Duration) {
	cv.r.send(craft.TCPFrame(cv.c, cv.s, cv.o, craft.TCP{ACK: true, Seq: cv.cseq + uint32(off), Ack: cv.sseq, Payload: payload}), d)
}

func (cv *conv) server(payload []byte, d time.Duration) {
	cv.r.send(craft.TCPFrame(cv.s, cv.c, cv.o, craft.TCP{ACK: true, PSH: true, Seq: cv.sseq, Ack: cv.cseq, Payload: payload}), d)
	cv.sseq += uint32(len(payload))
}

func (cv *conv) rst(fromServer bool) {
	if fromServer {
		cv.r.send(craft.TCPFrame(cv.s, cv.c, cv.o, craft.TCP{RST: true, ACK: true, Seq: cv.sseq, Ack: cv.cseq}), 0)
		return
	}
	cv.r.send(craft.TCPFrame(cv.c, cv.s, cv.o, craft.TCP{RST: true, Seq: cv.cseq}), 0)
}

func (cv *conv) close() {
	cv.r.send(craft.TCPFrame(cv.c, cv.s, cv.o, craft.TCP{FIN: true, ACK: true, Seq: cv.cseq, Ack: cv.sseq}), time.Millisecond)
	cv.cseq++
	cv.r.send(craft.TCPFrame(cv.s, cv.c, cv.o, craft.TCP{FIN: true, ACK: true, Seq: cv.sseq, Ack: cv.cseq}), time.Millisecond)
	cv.sseq++
}

// tlsExchange runs hello, server flight after hs, client finished, and a
// request/response: a complete, successful TLS transaction.
func (cv *conv) tlsExchange(hello []byte, hs time.Duration) {
	cv.client(hello, hs)
	cv.server(serverFlight, time.Millisecond)
	cv.client(clientFinished, time.Millisecond)
	cv.server(appData, time.Millisecond)
}

var (
	serverFlight   = append([]byte{0x16, 3, 3, 0, 4, 2, 0, 0, 0}, []byte{0x17, 3, 3, 0, 1, 0}...)
	clientFinished = []byte{0x14, 3, 3, 0, 1, 1, 0x17, 3, 3, 0, 1, 0}
	appData        = []byte{0x17, 3, 3, 0, 3, 1, 2, 3}
)

// flowTo returns the snapshot flow to server:port.
func flowTo(s *Snapshot, server craft.Endpoint) (Flow, bool) {
	for _, f := range s.TopFlows {
		if f.Server == server.IP && f.ServerPort == server.Port {
			return f, true
		}
	}
	return Flow{}, false
}
