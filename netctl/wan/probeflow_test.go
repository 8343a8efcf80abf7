package wan

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/branchgw/branchgw/gateway/config"
)

func TestProbeFlows(t *testing.T) {
	a := netip.MustParseAddr
	wans := []config.WAN{
		{Name: "wan1", Probes: []config.Probe{
			{Type: "icmp", Target: "192.0.2.1"},
			{Type: "tcp", Target: "192.0.2.2:443"},
			{Type: "dns", Target: "192.0.2.3", Query: "example.com"},
			{Type: "dns", Target: "192.0.2.4:5353", Query: "example.com"},
		}},
		{Name: "wan2", Probes: []config.Probe{
			{Type: "icmp", Target: "192.0.2.1"}, // the same flow once
			{Type: "http", Target: "http://192.0.2.5/health"},
			{Type: "http", Target: "https://192.0.2.6/"},
			{Type: "http", Target: "http://192.0.2.7:8080/"},
			{Type: "http", Target: "http://probe.example/"}, // no fixed address
			{Type: "icmp", Target: "2001:db8::1"},           // IPv4 only
		}},
	}
	want := []ProbeFlow{
		{a("192.0.2.1"), protoICMP, 0},
		{a("192.0.2.2"), protoTCP, 443},
		{a("192.0.2.3"), protoUDP, 53},
		{a("192.0.2.4"), protoUDP, 5353},
		{a("192.0.2.5"), protoTCP, 80},
		{a("192.0.2.6"), protoTCP, 443},
		{a("192.0.2.7"), protoTCP, 8080},
	}
	if got := ProbeFlows(wans); !reflect.DeepEqual(got, want) {
		t.Errorf("ProbeFlows:\n got %v\nwant %v", got, want)
	}
}
