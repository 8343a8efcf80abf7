package inspect

import (
	"encoding/json"
	"fmt"
	"strings"
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

// A flood of new devices in one period: the summary lists the first
// summaryDevices, counts the rest, and stays well inside the telemetry
// store's 64 KiB record limit (it was refused whole at 441–675 KB in the
// store day's device burst).
func TestSummaryOfADeviceFlood(t *testing.T) {
	r := newRig(t, nil)
	r.snap()
	const n = 300
	for i := range n {
		ep := craft.EP(fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff), fmt.Sprintf("198.18.11.%d", i%250+1), uint16(40000+i))
		r.conv(ep, webHost).open(time.Millisecond, time.Millisecond)
	}
	r.now = r.now.Add(61 * time.Second)
	flood := 0
	for _, d := range r.snap().Devices {
		if strings.HasPrefix(d.MAC, "02:00:00:00:") {
			flood++
		}
	}
	if len(r.summaries) != 1 || flood < summaryDevices*2 {
		t.Fatalf("%d summaries, %d of the %d devices seen", len(r.summaries), flood, n)
	}
	s := r.summaries[0]
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d devices listed, %d more counted, %d bytes of JSON", len(s.Devices), s.DevicesMore, len(b))
	if len(s.Devices) != summaryDevices || len(s.Devices)+s.DevicesMore != flood {
		t.Errorf("%d devices listed and %d counted, want %d and %d", len(s.Devices), s.DevicesMore, summaryDevices, flood-summaryDevices)
	}
	if len(b) > 48<<10 {
		t.Errorf("summary of %d bytes: too close to the store's 64 KiB record limit", len(b))
	}
}
