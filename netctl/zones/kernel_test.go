//go:build linux

package zones

import (
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// nft runs nft(8) in the lab's gw namespace. The firewall never uses it;
// the tests use it as an independent reader and as the "someone edited the
// firewall by hand" that drift repair must undo.
func (s *store) nft(t *testing.T, args ...string) string {
	t.Helper()
	nft := testenv.NeedCommand(t, "nft")
	out, err := exec.Command("ip", append([]string{"netns", "exec", s.gwName, nft}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var (
	nftComment  = regexp.MustCompile(` comment "([^"]*)"$`)
	nftCounter  = regexp.MustCompile(`counter packets \d+ bytes \d+`)
	ourL4       = regexp.MustCompile(`meta l4proto (tcp|udp|icmp|icmpv6) `)
	ourNfproto  = regexp.MustCompile(`meta nfproto ipv[46] `)
	nftChainHdr = regexp.MustCompile(`^\s*chain (\S+) \{$`)
)

// nftRules parses `nft list table` into chain → "[comment] text" lines,
// normalised so nft's spelling and ours compare equal.
func nftRules(listing string) map[string][]string {
	out := map[string][]string{}
	chain := ""
	for _, line := range strings.Split(listing, "\n") {
		line = strings.TrimSpace(line)
		if m := nftChainHdr.FindStringSubmatch(line); m != nil {
			chain = m[1]
			continue
		}
		m := nftComment.FindStringSubmatch(line)
		if chain == "" || m == nil {
			if chain != "" && line != "" && line != "}" && !strings.HasPrefix(line, "type ") {
				out[chain] = append(out[chain], "[] "+normalise(line)) // a rule without our comment
			}
			continue
		}
		text := normalise(strings.TrimSuffix(line, m[0]))
		out[chain] = append(out[chain], "["+m[1]+"] "+text)
	}
	return out
}

func normalise(s string) string {
	s = nftCounter.ReplaceAllString(s, "counter")
	s = ourL4.ReplaceAllString(s, "")
	s = ourNfproto.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "icmp type 8 ", "icmp type echo-request ")
	s = strings.ReplaceAll(s, "timeout 1h0m0s", "timeout 1h")
	return s
}

// snapshotRules parses Snapshot.Ruleset the same way.
func snapshotRules(ruleset string) map[string][]string {
	out := map[string][]string{}
	chain := ""
	for _, line := range strings.Split(ruleset, "\n") {
		if name, ok := strings.CutPrefix(line, "chain "); ok {
			chain, _, _ = strings.Cut(name, " ")
			continue
		}
		text, comment, ok := strings.Cut(strings.TrimSpace(line), "  # ")
		if ok {
			out[chain] = append(out[chain], "["+comment+"] "+normalise(text))
		}
	}
	return out
}

func TestRulesetTextMatchesKernel(t *testing.T) {
	s := newStore(t)
	f := s.firewall(t, s.config(true), nil)
	if err := f.Apply(); err != nil {
		t.Fatal(err)
	}
	snap := f.Snapshot()
	if !snap.InSync || snap.Generation != 1 {
		t.Fatalf("snapshot after apply: in sync %v, generation %d", snap.InSync, snap.Generation)
	}
	got := snapshotRules(snap.Ruleset)
	want := nftRules(s.nft(t, "list", "table", "inet", f.Table()))
	if len(want) != len(f.rs.Chains) {
		t.Errorf("nft lists %d chains, the ruleset has %d", len(want), len(f.rs.Chains))
	}
	n := 0
	for chain, rules := range want {
		n += len(rules)
		if !slices.Equal(got[chain], rules) {
			t.Errorf("chain %s:\n page shows:\n  %s\n nft lists:\n  %s", chain,
				strings.Join(got[chain], "\n  "), strings.Join(rules, "\n  "))
		}
	}
	if n != len(f.rs.Rules) {
		t.Errorf("nft lists %d rules, the ruleset has %d", n, len(f.rs.Rules))
	}
	// Every named rule in force is documented on the page.
	var lines int
	for _, r := range snap.Rules {
		if r.Doc == "" || r.Verdict == "?" {
			t.Errorf("rule %s has no documentation", r.Name)
		}
		lines += len(r.Lines)
	}
	if lines != len(f.rs.Rules) {
		t.Errorf("page rules cover %d kernel rules, want %d", lines, len(f.rs.Rules))
	}
}

func TestDriftIsRepaired(t *testing.T) {
	s := newStore(t)
	var kinds []string
	f := s.firewall(t, s.config(true), func(e Event) { kinds = append(kinds, e.Kind) })
	if err := f.Apply(); err != nil {
		t.Fatal(err)
	}
	refused := []cell{{"guest", "pos host", "tcp", hostPOS + ":7000", false, ""}}
	for _, tc := range []struct {
		name string
		edit [][]string
	}{
		{"rogue accept rule", [][]string{{"insert", "rule", "inet", f.Table(), "forward", "accept"}}},
		{"policy opened and chain flushed", [][]string{
			{"add", "chain", "inet", f.Table(), "forward", "{ type filter hook forward priority 0 ; policy accept ; }"},
			{"flush", "chain", "inet", f.Table(), "forward"}}},
		{"deleted table", [][]string{{"delete", "table", "inet", f.Table()}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, e := range tc.edit {
				s.nft(t, e...)
			}
			// The hand edit really opened the store…
			s.check(t, []cell{{"guest", "pos host", "tcp", hostPOS + ":7000", true, ""}})
			kinds = nil
			repairs := f.Snapshot().Repairs
			if err := f.Check(); err != nil {
				t.Fatal(err)
			}
			snap := f.Snapshot()
			if !snap.InSync || snap.Repairs != repairs+1 || !slices.Contains(kinds, EventDrift) {
				t.Errorf("after check: in sync %v, repairs %d (was %d), events %v", snap.InSync, snap.Repairs, repairs, kinds)
			}
			if rules := nftRules(s.nft(t, "list", "table", "inet", f.Table())); !slices.Equal(rules["forward"], snapshotRules(snap.Ruleset)["forward"]) {
				t.Errorf("forward chain after repair: %v", rules["forward"])
			}
			s.check(t, refused) // …and the repair closed it again.
		})
	}
}

func TestReapplyKeepsLearnedState(t *testing.T) {
	s := newStore(t)
	f := s.firewall(t, s.config(true), nil)
	if err := f.Apply(); err != nil {
		t.Fatal(err)
	}
	if err := f.AddPaymentIP(netip.MustParseAddr(netPay), 20*time.Minute); err != nil {
		t.Fatal(err)
	}
	s.check(t, []cell{
		{"guest", "pos host", "tcp", hostPOS + ":7000", false, ""},
		{"pos", "internet", "tcp", netServer + ":7000", false, ""},
	})
	isolation := func() uint64 {
		for _, r := range f.Snapshot().Rules {
			if r.Name == ruleIsolation {
				return r.Packets
			}
		}
		return 0
	}
	if err := f.Check(); err != nil {
		t.Fatal(err)
	}
	before := isolation()
	if before == 0 {
		t.Fatal("zone-isolation counted no packets")
	}
	for _, mode := range []string{"in place", "rebuilt"} {
		t.Run(mode, func(t *testing.T) {
			old, err := f.k.read(f.table)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.k.apply(f.rs, old, mode == "rebuilt"); err != nil {
				t.Fatal(err)
			}
			if err := f.Check(); err != nil {
				t.Fatal(err)
			}
			snap := f.Snapshot()
			if len(snap.PaymentIPs) != 1 || snap.PaymentIPs[0].Expires < 19*time.Minute {
				t.Errorf("payment IPs after re-apply: %+v", snap.PaymentIPs)
			}
			if len(snap.Unlisted) != 1 {
				t.Errorf("unlisted after re-apply: %+v", snap.Unlisted)
			}
			if got := isolation(); got < before {
				t.Errorf("zone-isolation counter went from %d to %d", before, got)
			}
			s.check(t, []cell{{"pos", "payment host", "tcp", netPay + ":443", true, gwWAN1}})
		})
	}
}

func TestBadConfigChangesNothing(t *testing.T) {
	s := newStore(t)
	f := s.firewall(t, s.config(true), nil)
	if err := f.Apply(); err != nil {
		t.Fatal(err)
	}
	before := s.nft(t, "list", "table", "inet", f.Table())
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"IPv6 zone", func(c *Config) { c.Zones[2].Subnet = netip.MustParsePrefix("2001:db8::/64") }},
		{"overlapping zones", func(c *Config) { c.Zones[1].Subnet = netip.MustParsePrefix("198.18.10.0/24") }},
		{"zone on a WAN", func(c *Config) { c.Zones[0].Interface = c.WANs[0] }},
		{"strict guest", func(c *Config) { c.Zones[2].Strict = true }},
		{"no WAN", func(c *Config) { c.WANs = nil }},
		{"interface name too long", func(c *Config) { c.Zones[0].Interface = "a-very-long-ifname" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := s.config(true)
			tc.edit(&cfg)
			if err := f.Reload(cfg); err == nil {
				t.Fatal("Reload accepted a bad config")
			}
			if after := s.nft(t, "list", "table", "inet", f.Table()); after != before {
				t.Errorf("table changed:\n%s", after)
			}
		})
	}
	if f.Snapshot().Generation != 1 {
		t.Errorf("generation %d after refused reloads, want 1", f.Snapshot().Generation)
	}
}

func TestCleanupRemovesTheTable(t *testing.T) {
	s := newStore(t)
	f := s.firewall(t, s.config(false), nil)
	if err := f.Apply(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.nft(t, "list", "tables"), f.Table()) {
		t.Fatal("table not there after apply")
	}
	for i := range 2 { // twice: a table already gone is fine
		if err := Cleanup(s.prefix, int(s.gw)); err != nil {
			t.Fatalf("cleanup %d: %v", i, err)
		}
	}
	if out := s.nft(t, "list", "tables"); strings.Contains(out, f.Table()) {
		t.Errorf("table still there after cleanup: %s", out)
	}
}

func TestLearnedAddressInput(t *testing.T) {
	needLab(t)
	s := &store{prefix: randomPrefix(t), wan1: "wan1", wan2: "wan2", ifPOS: "pos0", ifOff: "off0", ifGst: "gst0"}
	s.gwName = s.prefix + "gw"
	s.gw = addNS(t, s.gwName)
	cfg := s.config(true)
	cfg.Zones[2].AllowDomains = []string{"portal.lab.example"}
	f := s.firewall(t, cfg, nil)
	if err := f.Apply(); err != nil {
		t.Fatal(err)
	}
	payment := func() []string {
		t.Helper()
		if err := f.Check(); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range f.Snapshot().PaymentIPs {
			out = append(out, e.IP.String())
		}
		return out
	}
	a, b := netip.MustParseAddr("192.0.2.20"), netip.MustParseAddr("192.0.2.21")
	v6 := netip.MustParseAddr("2001:db8::20")
	if err := f.SetPaymentIPs(map[netip.Addr]time.Duration{a: time.Hour, v6: time.Hour}); err != nil {
		t.Fatalf("a set with an IPv6 address (AAAA answers) is refused: %v", err)
	}
	if got := payment(); !slices.Equal(got, []string{a.String()}) {
		t.Fatalf("payment set %v, want [%s]", got, a)
	}
	big := map[netip.Addr]time.Duration{}
	for i := range setSize + 1 {
		big[netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})] = time.Hour
	}
	for name, bad := range map[string]map[netip.Addr]time.Duration{
		"invalid address": {b: time.Hour, {}: time.Hour},
		"too many":        big,
	} {
		if err := f.SetPaymentIPs(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if got := payment(); !slices.Equal(got, []string{a.String()}) {
			t.Errorf("%s: payment set changed to %v", name, got)
		}
	}
	if err := f.AddPaymentIP(b, 0); err != nil {
		t.Fatal(err)
	}
	if got := payment(); !slices.Equal(got, []string{a.String(), b.String()}) {
		t.Errorf("payment set %v after adding %s", got, b)
	}
	if err := f.SetPaymentIPs(nil); err != nil {
		t.Fatal(err)
	}
	if got := payment(); len(got) != 0 {
		t.Errorf("payment set %v after replacing it with nothing", got)
	}
	if err := f.AddZoneIP("office", a, time.Hour); err == nil {
		t.Error("AddZoneIP accepted a zone without allow domains")
	}
	if err := f.AddZoneIP("guest", a, time.Hour); err != nil {
		t.Fatal(err)
	}
	if out := s.nft(t, "list", "set", "inet", f.Table(), setAllowPrefix+"guest"); !strings.Contains(out, a.String()) {
		t.Errorf("allow_guest after AddZoneIP:\n%s", out)
	}
}

func TestDropEventsAreRateLimited(t *testing.T) {
	var got []Event
	f := &Firewall{opts: Options{DropEventInterval: time.Minute, Emit: func(e Event) { got = append(got, e) }}, drops: map[string]dropMark{}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rule := func(p uint64) *RuleStatus {
		return &RuleStatus{RuleInfo: RuleInfo{Name: ruleWANIn, Verdict: "drop"}, Packets: p, Bytes: p * 60}
	}
	for _, step := range []struct {
		after   time.Duration
		packets uint64
		want    uint64 // packets in an event, 0 for none
	}{
		{0, 500, 0},                 // first sight: totals from before a restart are not news
		{2 * time.Second, 510, 10},  // never reported: at once
		{4 * time.Second, 530, 0},   // within the interval: held back…
		{50 * time.Second, 540, 0},  //
		{62 * time.Second, 545, 35}, // …and summed into the next event
		{64 * time.Second, 545, 0},  // nothing new
		{200 * time.Second, 3, 0},   // counters restarted (table rebuilt by hand): new baseline
		{300 * time.Second, 9, 6},
	} {
		got = nil
		f.dropEventLocked(t0.Add(step.after), rule(step.packets))
		switch {
		case step.want == 0 && len(got) != 0:
			t.Errorf("at %s with %d packets: unexpected event %+v", step.after, step.packets, got)
		case step.want != 0 && (len(got) != 1 || got[0].Packets != step.want || got[0].Bytes != step.want*60):
			t.Errorf("at %s with %d packets: events %+v, want one of %d packets", step.after, step.packets, got, step.want)
		}
	}
	f.dropEventLocked(t0, &RuleStatus{RuleInfo: RuleInfo{Name: ruleReplies, Verdict: "accept"}, Packets: 9})
	if len(got) != 1 {
		t.Error("an accept rule produced a drop event")
	}
}

// TestRebuildWhenSetChanged: a table left by an older gatewayd whose set
// has another definition cannot be updated in place; Apply rebuilds it in
// one transaction instead of failing.
func TestRebuildWhenSetChanged(t *testing.T) {
	needLab(t)
	s := &store{prefix: randomPrefix(t), wan1: "wan1", wan2: "wan2", ifPOS: "pos0", ifOff: "off0", ifGst: "gst0"}
	s.gwName = s.prefix + "gw"
	s.gw = addNS(t, s.gwName)
	f := s.firewall(t, s.config(true), nil)
	s.nft(t, "add", "table", "inet", f.Table())
	s.nft(t, "add", "set", "inet", f.Table(), setPayment, "{ type ipv4_addr; elements = { 192.0.2.99 } ; }")
	if err := f.Apply(); err != nil {
		t.Fatal(err)
	}
	if snap := f.Snapshot(); !snap.InSync {
		t.Fatalf("not in sync after apply: %s", snap.Err)
	}
	if out := s.nft(t, "list", "set", "inet", f.Table(), setPayment); !strings.Contains(out, "timeout") {
		t.Errorf("payment set not rebuilt with timeouts:\n%s", out)
	}
}
