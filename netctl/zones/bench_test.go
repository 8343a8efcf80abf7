//go:build linux

package zones

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// bigConfig is the lab config with n extra allowlisted CIDRs per zone: a
// worst case for the ruleset's size.
func bigConfig(s *store, n int) Config {
	c := s.config(true)
	for i := range c.Zones {
		for j := range n {
			c.Zones[i].Allow = append(c.Zones[i].Allow, netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(j)}), 32))
		}
	}
	return c
}

// BenchmarkApply measures one complete ruleset transaction (read back the
// old table, apply in place, read back and verify), and the same for the
// rebuild path and for a periodic check.
func BenchmarkApply(b *testing.B) {
	s := &store{prefix: randomPrefix(b), wan1: "wan1", wan2: "wan2", ifPOS: "pos0", ifOff: "off0", ifGst: "gst0"}
	needLab(b)
	s.gwName = s.prefix + "gw"
	s.gw = addNS(b, s.gwName)
	for _, size := range []int{0, 100} {
		cfg := bigConfig(s, size)
		f := s.firewall(b, cfg, nil)
		if err := f.Apply(); err != nil {
			b.Fatal(err)
		}
		rules := float64(len(f.rs.Rules))
		b.Run(fmt.Sprintf("Apply-with-verify/%d-rules", len(f.rs.Rules)), func(b *testing.B) {
			for b.Loop() {
				if err := f.Apply(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(rules, "rules")
		})
		for _, mode := range []string{"in-place", "rebuild"} {
			b.Run(fmt.Sprintf("%s/%d-rules", mode, len(f.rs.Rules)), func(b *testing.B) {
				for b.Loop() {
					old, err := f.k.read(f.table)
					if err != nil {
						b.Fatal(err)
					}
					if err := f.k.apply(f.rs, old, mode == "rebuild"); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(rules, "rules")
			})
		}
		// For comparison: nft(8) loading the same table from its own
		// listing (delete and re-create in one transaction), which is
		// what shelling out would cost.
		b.Run(fmt.Sprintf("nft-cli-rebuild/%d-rules", len(f.rs.Rules)), func(b *testing.B) {
			nft := testenv.NeedCommand(b, "nft")
			listing, err := exec.Command("ip", "netns", "exec", s.gwName, nft, "list", "table", "inet", f.table).Output()
			if err != nil {
				b.Fatal(err)
			}
			script := filepath.Join(b.TempDir(), "zones.nft")
			if err := os.WriteFile(script, append([]byte("delete table inet "+f.table+"\n"), listing...), 0o600); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if out, err := exec.Command("ip", "netns", "exec", s.gwName, nft, "-f", script).CombinedOutput(); err != nil {
					b.Fatalf("nft -f: %v: %s", err, out)
				}
			}
			b.ReportMetric(rules, "rules")
		})
		b.Run(fmt.Sprintf("check/%d-rules", len(f.rs.Rules)), func(b *testing.B) {
			for b.Loop() {
				if err := f.Check(); err != nil {
					b.Fatal(err)
				}
			}
		})
		if err := Cleanup(s.prefix, int(s.gw)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddPaymentIP is one DNS answer reaching the POS allowlist.
func BenchmarkAddPaymentIP(b *testing.B) {
	s := &store{prefix: randomPrefix(b), wan1: "wan1", wan2: "wan2", ifPOS: "pos0", ifOff: "off0", ifGst: "gst0"}
	needLab(b)
	s.gw = addNS(b, s.prefix+"gw")
	f := s.firewall(b, s.config(true), nil)
	if err := f.Apply(); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if err := f.AddPaymentIP(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForward measures what the firewall costs a packet, side by
// side: the same flows through the box without the table and with it.
// "udp-rtt" is one request and reply on an established flow (conntrack
// fast path: the first rule accepts it); "tcp-connect" is a new flow, whose
// SYN walks guard, dispatch, the zone chain and masquerade; "pos-payment"
// is a new POS flow matched against a payment set of 1000 addresses.
func BenchmarkForward(b *testing.B) {
	s := newStore(b)
	sink := serveCount(b, s.cloud, netServer+":7005")
	var f *Firewall
	k := kernel{netns: int(s.gw)}
	for _, mode := range []string{"no-firewall", "conntrack-nat-only", "zones"} {
		switch mode {
		case "conntrack-nat-only":
			// The floor of any stateful NAT firewall: conntrack and
			// masquerade with one accept rule, so that "zones" minus this
			// is the cost of the zone rules themselves.
			if err := k.apply(baseline(s.prefix+"_base", s.wan1), &state{}, false); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = k.remove(s.prefix + "_base") })
		case "zones":
			if err := k.remove(s.prefix + "_base"); err != nil {
				b.Fatal(err)
			}
			f = s.firewall(b, s.config(true), nil)
			if err := f.Apply(); err != nil {
				b.Fatal(err)
			}
			ips := map[netip.Addr]time.Duration{netip.MustParseAddr(netPay): time.Hour}
			for i := range 999 {
				ips[netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})] = time.Hour
			}
			if err := f.SetPaymentIPs(ips); err != nil {
				b.Fatal(err)
			}
		}
		if mode == "conntrack-nat-only" {
			b.Run("udp-stream/"+mode, func(b *testing.B) { udpStream(b, s, sink) })
			continue
		}
		b.Run("udp-rtt/"+mode, func(b *testing.B) {
			var c net.Conn
			if err := inNS(s.office, func() (err error) { c, err = net.Dial("udp4", netServer+":7000"); return err }); err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 64)
			for b.Loop() {
				_ = c.SetDeadline(time.Now().Add(time.Second))
				if _, err := c.Write([]byte("x")); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		// One flow, as fast as the sender can write: the time per
		// datagram is the syscall plus forwarding through the box in
		// softirq on the same core, so the difference between the two
		// modes is the firewall's per-packet cost on an established flow.
		b.Run("udp-stream/"+mode, func(b *testing.B) { udpStream(b, s, sink) })
		for _, tc := range []struct{ name, from, addr string }{
			{"tcp-connect/", "office", netServer + ":7000"},
			{"pos-payment/", "pos", netPay + ":443"},
		} {
			b.Run(tc.name+mode, func(b *testing.B) {
				for b.Loop() {
					if _, ok := probe(s.ns(tc.from), "tcp", tc.addr, time.Second); !ok {
						b.Fatal("flow refused")
					}
				}
			})
		}
	}
}

// udpStream sends 64-byte datagrams on one flow as fast as the sender can
// write: the time per datagram is the syscall plus forwarding through the
// box in softirq on the same core, so the difference between modes is the
// per-packet cost of what the box runs on an established flow.
func udpStream(b *testing.B, s *store, sink *atomic.Int64) {
	var c net.Conn
	if err := inNS(s.office, func() (err error) { c, err = net.Dial("udp4", netServer+":7005"); return err }); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	payload := make([]byte, 64)
	before := sink.Load()
	n := 0
	for b.Loop() {
		_, _ = c.Write(payload)
		n++
	}
	time.Sleep(50 * time.Millisecond)
	b.ReportMetric(100*float64(sink.Load()-before)/float64(n), "%delivered")
}

// baseline is a minimal stateful NAT table: accept replies and everything
// else in forward, masquerade on one WAN.
func baseline(name, wan string) *ruleset {
	return &ruleset{
		Table: name,
		Chains: []chainSpec{
			{Name: "forward", Hook: nftables.ChainHookForward, Prio: nftables.ChainPriorityFilter, Type: nftables.ChainTypeFilter, Policy: policy(nftables.ChainPolicyAccept)},
			{Name: "postrouting", Hook: nftables.ChainHookPostrouting, Prio: nftables.ChainPriorityNATSource, Type: nftables.ChainTypeNAT, Policy: policy(nftables.ChainPolicyAccept)},
		},
		Rules: []ruleSpec{
			{Chain: "forward", Name: ruleReplies, Exprs: join(ctState(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), match{counter(), accept()})},
			{Chain: "postrouting", Name: ruleMasquerade, Exprs: join(oifname(wan), ipv4(), match{&expr.Masq{}})},
		},
	}
}
