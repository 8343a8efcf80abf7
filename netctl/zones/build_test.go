//go:build linux

package zones

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/google/nftables/expr"
)

func labConfig() Config {
	return Config{
		WANs: []string{"wan1", "wan2"},
		Zones: []Zone{
			{Name: "pos", Interface: "lan0", Subnet: netip.MustParsePrefix("198.18.10.0/26"), Strict: true,
				Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.123/32")}},
			{Name: "office", Interface: "lan0", Subnet: netip.MustParsePrefix("198.18.10.64/26")},
			{Name: "guest", Interface: "guest0", Subnet: netip.MustParsePrefix("198.18.10.128/25"),
				AllowDomains: []string{"portal.lab.example"}},
		},
		StatusPage: netip.MustParseAddrPort("198.18.10.1:80"),
	}
}

// text renders a ruleset the way the page does, one "chain: rule # comment"
// line per kernel rule.
func text(rs *ruleset) string {
	var b strings.Builder
	for _, r := range rs.Rules {
		fmt.Fprintf(&b, "%s: %s # %s\n", r.Chain, render(r.Exprs), r.comment())
	}
	return b.String()
}

func TestBuild(t *testing.T) {
	strict := labConfig()
	loose := labConfig()
	loose.Zones[0].Strict = false
	noPage := labConfig()
	noPage.StatusPage = netip.AddrPort{}
	for _, tc := range []struct {
		name    string
		cfg     Config
		want    []string // lines that must be there
		notWant []string // substrings that must not
	}{
		{"zones sharing an interface are anti-spoofed together", strict, []string{
			`guard: iifname "lan0" meta nfproto ipv4 ip saddr != 198.18.10.0/26 ip saddr != 198.18.10.64/26 counter drop # anti-spoof pos,office`,
			`guard: iifname "guest0" meta nfproto ipv4 ip saddr != 198.18.10.128/25 counter drop # anti-spoof guest`,
			`guard: iifname "wan2" meta nfproto ipv4 ip saddr 198.18.10.128/25 counter drop # anti-spoof wan2`,
			`input: iifname "lan0" meta nfproto ipv4 meta l4proto udp udp dport 67 counter accept # dhcp lan0`,
		}, []string{`dhcp guest0 #`}},
		{"nothing from a WAN but replies", strict, []string{
			`input: ct state established,related counter accept # replies`,
			`input: iifname "wan1" counter drop # wan-in wan1`,
			`forward: iifname "wan2" counter drop # wan-in wan2`,
			`forward: counter drop # unmatched`,
		}, nil},
		{"masquerade on every WAN", strict, []string{
			`postrouting: oifname "wan1" meta nfproto ipv4 counter masquerade # masquerade wan1`,
			`postrouting: oifname "wan2" meta nfproto ipv4 counter masquerade # masquerade wan2`,
		}, nil},
		{"strict POS", strict, []string{
			`fwd_pos: meta nfproto ipv4 ip daddr 192.0.2.123 counter accept # zone-allow pos`,
			`fwd_pos: oifname "wan1" meta nfproto ipv4 ip daddr @payment counter accept # pos-payment wan1`,
			`fwd_pos: oifname "wan1" meta l4proto udp udp dport 123 counter accept # pos-ntp wan1`,
			`fwd_pos: oifname "wan2" meta nfproto ipv4 add @pos_unlisted { ip saddr . ip daddr timeout 1h0m0s } counter drop # pos-strict wan2`,
			`fwd_pos: counter drop # zone-isolation pos`,
		}, []string{"pos-alarm", "internet pos"}},
		{"POS not strict alarms", loose, []string{
			`fwd_pos: oifname "wan1" meta nfproto ipv4 add @pos_unlisted { ip saddr . ip daddr timeout 1h0m0s } counter accept # pos-alarm wan1`,
		}, []string{"pos-strict"}},
		{"office and status page", strict, []string{
			`in_office: meta nfproto ipv4 ip daddr 198.18.10.1 meta l4proto tcp tcp dport 80 counter accept # status-page office`,
			`fwd_office: oifname "wan1" counter accept # internet office/wan1`,
		}, []string{"status-page pos", "status-page guest"}},
		{"no status page on the LAN", noPage, nil, []string{"status-page"}},
		{"guest: internet, DNS, allow domains; no ping, no page", strict, []string{
			`in_guest: meta l4proto udp udp dport 53 counter accept # box-services guest`,
			`in_guest: counter drop # box-refused guest`,
			`fwd_guest: meta nfproto ipv4 ip daddr @allow_guest counter accept # zone-allow guest`,
			`fwd_guest: oifname "wan2" counter accept # internet guest/wan2`,
			`fwd_guest: counter drop # zone-isolation guest`,
		}, []string{"icmp type 8 counter accept # box-services guest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := text(build("t", tc.cfg))
			for _, w := range tc.want {
				if !strings.Contains(got, w+"\n") {
					t.Errorf("missing %q in\n%s", w, got)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("unexpected %q in\n%s", nw, got)
				}
			}
		})
	}
}

// TestBuildOrder checks the properties the firewall's safety rests on,
// whatever the config: base chains drop by default, every zone chain ends
// in a drop, and every rule has a documented name.
func TestBuildOrder(t *testing.T) {
	rs := build("t", labConfig())
	for _, c := range rs.Chains {
		if c.Name == "input" || c.Name == "forward" {
			if c.Policy == nil || chainHeader(c) != fmt.Sprintf("type filter hook %s priority 0; policy drop", c.Name) {
				t.Errorf("chain %s: %s, want policy drop", c.Name, chainHeader(c))
			}
		}
		if strings.HasPrefix(c.Name, "in_") || strings.HasPrefix(c.Name, "fwd_") {
			var last ruleSpec
			for _, r := range rs.Rules {
				if r.Chain == c.Name {
					last = r
				}
			}
			if v, ok := last.Exprs[len(last.Exprs)-1].(*expr.Verdict); !ok || v.Kind != expr.VerdictDrop || len(last.Exprs) != 2 {
				t.Errorf("chain %s ends with %q, want an unconditional counted drop", c.Name, render(last.Exprs))
			}
		}
	}
	for _, r := range rs.Rules {
		if _, ok := ruleInfo(r.Name); !ok {
			t.Errorf("rule %q (%s) is not in the catalog", r.Name, render(r.Exprs))
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"no WAN", func(c *Config) { c.WANs = nil }, "no WAN"},
		{"duplicate WAN", func(c *Config) { c.WANs = []string{"wan1", "wan1"} }, "listed twice"},
		{"unknown zone", func(c *Config) { c.Zones[0].Name = "kitchen" }, "not pos, office or guest"},
		{"zone twice", func(c *Config) { c.Zones[1].Name = "pos" }, "defined twice"},
		{"zone on a WAN", func(c *Config) { c.Zones[0].Interface = "wan2" }, "is a WAN"},
		{"IPv6 zone", func(c *Config) { c.Zones[0].Subnet = netip.MustParsePrefix("2001:db8::/64") }, "only IPv4"},
		{"host bits", func(c *Config) { c.Zones[0].Subnet = netip.MustParsePrefix("198.18.10.1/26") }, "host bits"},
		{"overlap", func(c *Config) { c.Zones[2].Subnet = netip.MustParsePrefix("198.18.10.0/24") }, "overlaps"},
		{"strict office", func(c *Config) { c.Zones[1].Strict = true }, "only the pos zone"},
		{"bad ifname", func(c *Config) { c.Zones[1].Interface = "lan 0" }, "not an interface name"},
		{"IPv6 allow", func(c *Config) { c.Zones[0].Allow = []netip.Prefix{netip.MustParsePrefix("2001:db8::1/128")} }, "only IPv4"},
		{"IPv6 page", func(c *Config) { c.StatusPage = netip.MustParseAddrPort("[2001:db8::1]:80") }, "only an IPv4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := labConfig()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if _, nerr := New(c, testLogger(), Options{}); (nerr == nil) != (err == nil) {
				t.Errorf("New disagrees with Validate: %v", nerr)
			}
		})
	}
}

func TestConfigFromExample(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	c, err := config.Load(filepath.Join(filepath.Dir(file), "../../gateway/config/example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	zc, err := ConfigFrom(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(zc.WANs) != 2 || len(zc.Zones) != 3 || !zc.StatusPage.IsValid() {
		t.Fatalf("config from example: %+v", zc)
	}
	if pos, _ := zc.zone("pos"); !pos.Strict || len(pos.Allow) != 1 || pos.Interface != c.LAN.Interface {
		t.Errorf("pos zone from example: %+v", pos)
	}
	if n := len(build(TableName(DefaultTablePrefix), zc).Rules); n < 30 {
		t.Errorf("example config builds only %d rules", n)
	}
}

func TestRenderShowsUnknownExpressions(t *testing.T) {
	got := render([]expr.Any{&expr.Meta{Key: expr.MetaKeyMARK, Register: 1}, &expr.Cmp{Register: 1, Data: []byte{1, 0, 0, 0}}, &expr.Log{}, accept()})
	if got != "meta key 3 0x01000000 <*expr.Log> accept" {
		t.Errorf("render = %q", got)
	}
}

func TestClampTTL(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, MinTTL}, {30 * time.Second, MinTTL}, {2 * time.Hour, 2 * time.Hour}, {72 * time.Hour, MaxTTL},
	} {
		if got := clampTTL(tc.in); got != tc.want {
			t.Errorf("clampTTL(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the code")

// TestBuildGolden compares the whole ruleset for the lab store (chains with
// their hooks and policies, then every rule in order) with the reviewed
// copy in testdata: TestBuild checks lines that must be there, this catches
// a rule that appears, moves or goes. After a deliberate change run
// `go test ./netctl/zones -run TestBuildGolden -update` and review the diff.
func TestBuildGolden(t *testing.T) {
	cfg := labConfig()
	cfg.StatusPage = netip.MustParseAddrPort("198.18.10.1:443")
	cfg.StatusRedirect = netip.MustParseAddrPort("198.18.10.1:80")
	rs := build("t", cfg)
	var b strings.Builder
	for _, c := range rs.Chains {
		fmt.Fprintf(&b, "chain %s: %s\n", c.Name, chainHeader(c))
	}
	b.WriteString(text(rs))
	path := filepath.Join("testdata", "ruleset.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to make it)", err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			g, w := "", ""
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("ruleset differs from %s at line %d:\n got: %s\nwant: %s\n(run with -update after a deliberate change)", path, i+1, g, w)
			}
		}
	}
}
