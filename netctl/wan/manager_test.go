//go:build linux

package wan

import (
	"strings"
	"testing"

	"github.com/branchgw/branchgw/gateway/config"
)

func TestNewRefusesBadConfig(t *testing.T) {
	fo := config.Defaults().Failover
	good := config.WAN{Name: "wan1", Interface: "wan1", Probes: []config.Probe{{Type: "icmp", Target: "192.0.2.1"}}}
	with := func(p config.Probe) []config.WAN {
		w := good
		w.Probes = []config.Probe{p}
		return []config.WAN{w}
	}
	tests := []struct {
		name string
		wans []config.WAN
		fo   config.Failover
		want string
	}{
		{"no wan", nil, fo, "no WAN"},
		{"no probes", []config.WAN{{Name: "wan1", Interface: "wan1"}}, fo, "wan[0].probes"},
		{"icmp hostname", with(config.Probe{Type: "icmp", Target: "example.com"}), fo, "wan[0].probes[0]: icmp target"},
		{"tcp without port", with(config.Probe{Type: "tcp", Target: "192.0.2.1"}), fo, "IP:port"},
		{"http ftp", with(config.Probe{Type: "http", Target: "ftp://192.0.2.1/"}), fo, "http(s) URL"},
		{"dns no query", with(config.Probe{Type: "dns", Target: "192.0.2.53"}), fo, "query is empty"},
		{"dns bad server", with(config.Probe{Type: "dns", Target: "resolver", Query: "a.example"}), fo, "resolver IP"},
		{"unknown type", with(config.Probe{Type: "smoke", Target: "x"}), fo, "probe type"},
		{"bad gateway", []config.WAN{{Name: "wan1", Interface: "wan1", Gateway: "1.2.3", Probes: good.Probes}}, fo, "wan[0].gateway"},
		{"zero window", []config.WAN{good}, config.Failover{ProbeInterval: fo.ProbeInterval, ProbeTimeout: fo.ProbeTimeout, Quorum: 1}, "must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.wans, tc.fo, nil, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	if _, err := New([]config.WAN{good}, fo, nil, Options{}); err != nil {
		t.Fatalf("good config: %v", err)
	}
}

func TestBudget(t *testing.T) {
	lte := []config.Probe{{Type: "icmp", Target: "203.0.113.1"}, {Type: "http", Target: "http://203.0.113.80/health"}}
	b := budgetFor(lte, config.Defaults().Failover.ProbeInterval.D())
	if b.StandbyMB >= 50 {
		t.Errorf("metered standby probing costs %.1f MB a month, goal < 50", b.StandbyMB)
	}
	if b.ActiveMB <= b.StandbyMB {
		t.Errorf("active %.1f MB <= standby %.1f MB", b.ActiveMB, b.StandbyMB)
	}
	t.Logf("LTE probe budget: %.0f MB/month active at 200 ms, %.1f MB/month on standby", b.ActiveMB, b.StandbyMB)
}
