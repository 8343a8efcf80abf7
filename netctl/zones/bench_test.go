//go:build linux

package zones

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

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
	var f *Firewall
	for _, mode := range []string{"no-firewall", "zones"} {
		if mode == "zones" {
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
