package qos

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func testConfig() Config {
	return Config{
		Enabled:               true,
		MarginPercent:         10,
		DownloadMarginPercent: 20,
		Classes: []Class{
			{Name: ClassPOS, RatePercent: 20, CeilPercent: 100},
			{Name: ClassInteractive, RatePercent: 20, CeilPercent: 100},
			{Name: ClassDefault, RatePercent: 30, CeilPercent: 100},
			{Name: ClassBulk, RatePercent: 20, CeilPercent: 90},
			{Name: ClassGuest, RatePercent: 10, CeilPercent: 50},
		},
		Rules: []Rule{
			{Class: ClassInteractive, Proto: "udp", Ports: []PortRange{{53, 53}, {5060, 5061}}, DSCP: -1},
			{Class: ClassBulk, DSCP: 8},
		},
		WANs: []WAN{
			{Name: "fibre", Interface: "wan1", Up: 5e6, Down: 20e6},
			{Name: "lte", Interface: "wan2", Up: 2e6, Down: 10e6, Metered: true},
		},
		POSIPs:       []netip.Addr{netip.MustParseAddr("198.18.10.11")},
		POSMACs:      []net.HardwareAddr{{2, 0, 0, 0, 0x10, 1}},
		GuestSubnets: []netip.Prefix{netip.MustParsePrefix("198.18.10.128/25")},
		Probes: []Probe{
			{Addr: netip.MustParseAddr("198.51.100.1"), Proto: 1},
			{Addr: netip.MustParseAddr("198.51.100.2"), Proto: 6, Port: 443},
		},
	}
}

func TestPlanLines(t *testing.T) {
	cfg := testConfig()
	pay := []netip.Addr{netip.MustParseAddr("192.0.2.123")}
	for _, tc := range []struct {
		name  string
		wan   int
		leaf  string
		want  []string // lines that must be present
		avoid []string // lines that must not
	}{
		{"fibre, fallback leaf", 0, LeafTBF, []string{
			"tc qdisc replace dev wan1 root handle 1: htb default 30",
			"tc class replace dev wan1 parent 1: classid 1:1 htb rate 4500kbit ceil 4500kbit",
			"tc class replace dev wan1 parent 1:1 classid 1:10 htb rate 900kbit ceil 4500kbit prio 0 quantum 11250 # pos",
			"tc class replace dev wan1 parent 1:1 classid 1:40 htb rate 900kbit ceil 4050kbit prio 3 quantum 11250 # bulk",
			"tc class replace dev wan1 parent 1:1 classid 1:50 htb rate 450kbit ceil 2250kbit prio 4 quantum 5625 # guest",
			"tc qdisc replace dev wan1 parent 1:10 handle 10: tbf rate 100mbit limit 30280",
			"tc qdisc replace dev ifb9 root handle 1: htb default 30",
			"tc class replace dev ifb9 parent 1: classid 1:1 htb rate 16mbit ceil 16mbit",
			"tc filter add dev ifb9 parent 1: prio probes protocol ip u32 match u32 0xc6336401 0xffffffff at 12 match u32 0x00010000 0x00ff0000 at 8 classid 1:10 # probe icmp 198.51.100.1",
			"tc filter add dev ifb9 parent 1: prio probes protocol ip u32 match u32 0xc6336402 0xffffffff at 12 match u32 0x00060000 0x00ff0000 at 8 match u32 0x05000000 0x0f000000 at 0 match u32 0x00000000 0x00001fff at 4 match u32 0x01bb0000 0xffff0000 at 20 classid 1:10 # probe tcp 198.51.100.2:443",
			"tc filter add dev ifb9 parent 1: prio payment protocol ip u32 match u32 0xc000027b 0xffffffff at 12 classid 1:10 # payment 192.0.2.123",
			"tc filter add dev ifb9 parent 1: prio rules protocol ip u32 match u32 0x00110000 0x00ff0000 at 8 match u32 0x05000000 0x0f000000 at 0 match u32 0x00000000 0x00001fff at 4 match u32 0x13c40000 0xfffe0000 at 20 classid 1:20 # rule 0: interactive",
			"tc filter add dev ifb9 parent 1: prio rules protocol ip u32 match u32 0x00200000 0x00fc0000 at 0 classid 1:40 # rule 1: bulk",
			"tc qdisc replace dev wan1 ingress handle ffff: ingress",
			"tc filter add dev wan1 parent ffff: prio redirect protocol all u32 match u32 0 0 action mirred egress redirect dev ifb9 # all download traffic through the IFB",
		}, nil},
		{"lte is metered: bulk and guest get no more than their share", 1, LeafFqCodel, []string{
			"tc class replace dev wan2 parent 1:1 classid 1:40 htb rate 360kbit ceil 360kbit prio 3 quantum 4500 # bulk",
			"tc class replace dev wan2 parent 1:1 classid 1:50 htb rate 180kbit ceil 180kbit prio 4 quantum 2250 # guest",
			"tc class replace dev wan2 parent 1:1 classid 1:10 htb rate 360kbit ceil 1800kbit prio 0 quantum 4500 # pos",
			"tc qdisc replace dev wan2 parent 1:30 handle 30: fq_codel",
		}, []string{"tbf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := Plan(cfg, cfg.WANs[tc.wan], "ifb9", pay).Lines(tc.leaf)
			for _, w := range tc.want {
				if !slices.Contains(lines, w) {
					t.Errorf("missing %q in:\n%s", w, strings.Join(lines, "\n"))
				}
			}
			for _, a := range tc.avoid {
				for _, l := range lines {
					if strings.Contains(l, a) {
						t.Errorf("unexpected %q in %q", a, l)
					}
				}
			}
		})
	}
}

func TestPortBlocks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi uint16
		want   [][2]uint16
	}{
		{53, 53, [][2]uint16{{53, 0xffff}}},
		{5060, 5061, [][2]uint16{{5060, 0xfffe}}},
		{5061, 5062, [][2]uint16{{5061, 0xffff}, {5062, 0xffff}}},
		{1024, 2047, [][2]uint16{{1024, 0xfc00}}},
		{1, 65535, [][2]uint16{{1, 0xffff}, {2, 0xfffe}, {4, 0xfffc}, {8, 0xfff8}, {16, 0xfff0}, {32, 0xffe0}, {64, 0xffc0},
			{128, 0xff80}, {256, 0xff00}, {512, 0xfe00}, {1024, 0xfc00}, {2048, 0xf800}, {4096, 0xf000}, {8192, 0xe000},
			{16384, 0xc000}, {32768, 0x8000}}},
	} {
		got := portBlocks(tc.lo, tc.hi)
		if !slices.Equal(got, tc.want) {
			t.Errorf("portBlocks(%d, %d) = %v, want %v", tc.lo, tc.hi, got, tc.want)
		}
		// Every port in the range matches exactly one block, none outside.
		for p := max(int(tc.lo)-2, 0); p <= min(int(tc.hi)+2, 65535); p++ {
			n := 0
			for _, b := range got {
				if uint16(p)&b[1] == b[0] {
					n++
				}
			}
			in := p >= int(tc.lo) && p <= int(tc.hi)
			if (in && n != 1) || (!in && n != 0) {
				t.Fatalf("range %d-%d: port %d matches %d blocks", tc.lo, tc.hi, p, n)
			}
		}
	}
}

func TestRuleset(t *testing.T) {
	cfg := testConfig()
	rs := PlanRuleset(cfg, "bgwq", "wan1", []PaymentIP{{Addr: netip.MustParseAddr("192.0.2.123"), Timeout: 90e9}})
	want := `table inet bgwq {
  set pos_ip { type ipv4_addr; elements = {198.18.10.11} }
  set pos_mac { type ether_addr; elements = {02:00:00:00:10:01} }
  set payment { type ipv4_addr; flags timeout; elements = {192.0.2.123 timeout 1m30s} }
  chain classify { type filter hook forward priority mangle; policy accept;
    oifname != "wan1" return
    meta l4proto udp th dport 53 counter meta priority set 1:20 comment "rule 0: interactive"
    meta l4proto udp th dport 5060-5061 counter meta priority set 1:20 comment "rule 0: interactive"
    ip dscp 8 counter meta priority set 1:40 comment "rule 1: bulk"
    meta l4proto tcp ip length <= 80 counter meta priority set 1:20 comment "small tcp (acks)"
    ip daddr @payment counter meta priority set 1:10 comment "payment processors"
    ip saddr 198.18.10.128/25 counter meta priority set 1:50 comment "guest lan"
    ip saddr @pos_ip counter meta priority set 1:10 comment "pos devices by ip"
    ether saddr @pos_mac counter meta priority set 1:10 comment "pos devices by mac"
    meta priority 1:10 counter ip dscp set 46 comment "pos marked EF"
  }
  chain probes { type filter hook output priority mangle; policy accept;
    oifname != "wan1" return
    meta l4proto icmp ip daddr 198.51.100.1/32 counter meta priority set 1:10 comment "probe icmp 198.51.100.1"
    meta l4proto tcp th dport 443 ip daddr 198.51.100.2/32 counter meta priority set 1:10 comment "probe tcp 198.51.100.2:443"
  }
}
`
	if got := rs.String(); got != want {
		t.Errorf("ruleset:\n%s\nwant:\n%s", got, want)
	}
	// Without a guest class the guest subnet has nowhere to go.
	cfg.Classes = cfg.Classes[:4]
	if s := PlanRuleset(cfg, "bgwq", "wan1", nil).String(); strings.Contains(s, "guest") {
		t.Errorf("guest rule without a guest class:\n%s", s)
	}
}
