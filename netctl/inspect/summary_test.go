package inspect

import (
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
)

func TestSummary(t *testing.T) {
	r := newRig(t, nil)
	r.snap() // the first period starts
	cv := r.conv(till1, payHost).open(time.Millisecond, time.Millisecond)
	cv.tlsExchange(craft.ClientHello("pay.lab.example", 0, 0), 20*time.Millisecond)
	r.conv(office, webHost).open(time.Millisecond, time.Millisecond).client([]byte("GET / HTTP/1.1\r\nHost: www.lab.example\r\n\r\n"), 0)
	r.now = r.now.Add(30 * time.Second)
	r.snap()
	if len(r.summaries) != 0 {
		t.Fatalf("summary before the minute: %+v", r.summaries)
	}
	r.now = r.now.Add(31 * time.Second)
	r.snap()
	if len(r.summaries) != 1 {
		t.Fatalf("%d summaries", len(r.summaries))
	}
	s := r.summaries[0]
	if s.FlowsNew != 2 || s.FlowsActive != 2 || s.FlowsEnded != 0 || !s.Start.Equal(t0) {
		t.Errorf("flows %+v", s)
	}
	if len(s.TopApps) != 2 || s.TopApps[0].Name != "pay.lab.example" || s.TopApps[0].Category != "payment" || s.TopApps[0].Bytes == 0 {
		t.Errorf("apps %+v", s.TopApps)
	}
	if len(s.TopDevices) != 2 || len(s.Devices) != 2 || len(s.POS) != 1 || s.POS[0].Handshakes != 1 {
		t.Errorf("devices %+v inventory %+v pos %+v", s.TopDevices, s.Devices, s.POS)
	}
	// A quiet minute later the flows have expired (2m idle) and nothing moved.
	r.now = r.now.Add(61 * time.Second)
	r.snap()
	s = r.summaries[1]
	if s.FlowsNew != 0 || s.FlowsEnded != 2 || len(s.TopApps) != 0 || len(s.TopDevices) != 0 || len(s.Devices) != 0 {
		t.Errorf("quiet minute %+v", s)
	}
}
