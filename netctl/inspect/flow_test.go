package inspect

import (
	"fmt"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
)

func TestTCPFlowLifecycle(t *testing.T) {
	r := newRig(t, nil)
	cv := r.conv(office, webHost).open(30*time.Millisecond, 5*time.Millisecond)
	req := []byte("GET /index.html HTTP/1.1\r\nHost: www.lab.example\r\n\r\n")
	cv.client(req, time.Millisecond)
	cv.server(make([]byte, 1000), time.Millisecond)
	cv.server(make([]byte, 1000), time.Millisecond)
	cv.sseq -= 1000
	cv.server(make([]byte, 1000), time.Millisecond) // retransmission of the last segment
	f, ok := flowTo(r.snap(), webHost)
	if !ok {
		t.Fatal("flow missing")
	}
	if f.State != "established" || f.HandshakeRTT != 35*time.Millisecond || f.RetransDown != 1 || f.RetransUp != 0 {
		t.Errorf("state %s rtt %v retrans %d/%d", f.State, f.HandshakeRTT, f.RetransUp, f.RetransDown)
	}
	if f.Client != office.IP || f.ClientPort != office.Port || f.Name != "www.lab.example" || f.NameFrom != "http" {
		t.Errorf("client %v:%d name %q from %q", f.Client, f.ClientPort, f.Name, f.NameFrom)
	}
	if f.PktsUp != 3 || f.PktsDown != 4 || f.BytesUp == 0 {
		t.Errorf("packets %d/%d bytes %d", f.PktsUp, f.PktsDown, f.BytesUp)
	}
	cv.close()
	if f, _ := flowTo(r.snap(), webHost); f.State != "closed" {
		t.Errorf("after FINs: %s", f.State)
	}
	cv2 := r.conv(craft.EP(office.MAC.String(), office.IP.String(), 50002), webHost).open(time.Millisecond, time.Millisecond)
	cv2.rst(true)
	for _, f := range r.snap().TopFlows {
		if f.ClientPort == 50002 && (f.Resets != 1 || f.State != "closed") {
			t.Errorf("reset flow: resets %d state %s", f.Resets, f.State)
		}
	}
}

func TestMidstreamFlowGuessesClient(t *testing.T) {
	r := newRig(t, nil)
	// The first packet seen is the server's answer.
	r.send(craft.TCPFrame(payHost, till1, craft.Opts{}, craft.TCP{ACK: true, Seq: 9, Payload: appData}), 0)
	f, _ := flowTo(r.snap(), payHost)
	if f.Client != till1.IP || f.State != "midstream" || f.BytesDown == 0 || f.BytesUp != 0 {
		t.Errorf("%+v", f)
	}
}

func TestMaxFlowsAndIdleExpiry(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Inspect.MaxFlows = 64 })
	for i := 0; i < 100; i++ {
		c := craft.EP(office.MAC.String(), office.IP.String(), uint16(20000+i))
		r.send(craft.TCPFrame(c, webHost, craft.Opts{}, craft.TCP{SYN: true}), time.Millisecond)
	}
	s := r.snap()
	if s.Flows.Active != 64 || s.Flows.Evicted != 36 || s.Flows.Created != 100 {
		t.Fatalf("flows %+v", s.Flows)
	}
	// The survivors are the 64 most recent.
	for _, f := range s.TopFlows {
		if f.ClientPort < 20036 {
			t.Errorf("flow from port %d survived eviction", f.ClientPort)
		}
	}
	r.now = r.now.Add(2*time.Minute + time.Second)
	s = r.snap()
	if s.Flows.Active != 0 || s.Flows.Expired != 64 {
		t.Errorf("after idle timeout: %+v", s.Flows)
	}
}

func TestVLANSeparatesFlows(t *testing.T) {
	r := newRig(t, nil)
	for _, v := range []uint16{0, 10, 20} {
		r.send(craft.TCPFrame(office, webHost, craft.Opts{VLAN: v}, craft.TCP{SYN: true}), time.Millisecond)
	}
	s := r.snap()
	vlans := map[uint16]bool{}
	for _, f := range s.TopFlows {
		vlans[f.VLAN] = true
	}
	if s.Flows.Active != 3 || !vlans[0] || !vlans[10] || !vlans[20] {
		t.Errorf("active %d vlans %v", s.Flows.Active, vlans)
	}
}

func TestFlowTableLRU(t *testing.T) {
	ft := newFlowTable(3)
	var ended []int
	end := func(f *flow, _ endReason) { ended = append(ended, int(f.key.ap)) }
	key := func(i int) flowKey { return flowKey{ap: uint16(i)} }
	for i := 1; i <= 3; i++ {
		ft.at(ft.insert(key(i), end)).last = int64(i)
	}
	i1, _ := ft.get(key(1))
	ft.touch(i1) // 1 is now the most recent: 2 goes first
	ft.at(i1).last = 10
	ft.insert(key(4), end)
	if fmt.Sprint(ended) != "[2]" {
		t.Fatalf("evicted %v, want [2]", ended)
	}
	ft.at(ft.idx[key(4)]).last = 11
	ft.expire(10, 5, 5, end) // 3 (last 3) is idle for 7 > 5
	if fmt.Sprint(ended) != "[2 3]" || ft.len() != 2 {
		t.Fatalf("ended %v len %d", ended, ft.len())
	}
	var order []int
	ft.each(func(f *flow) { order = append(order, int(f.key.ap)) })
	if fmt.Sprint(order) != "[4 1]" {
		t.Errorf("order %v", order)
	}
}
