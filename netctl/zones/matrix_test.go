//go:build linux

package zones

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// cell is one source → destination flow of the reachability matrix.
type cell struct {
	from, to string // zone or side, and what is reached
	proto    string
	addr     string
	allow    bool
	// masq: an allowed flow must reach the server from this WAN address.
	masq string
}

func (c cell) String() string {
	verb := "refused"
	if c.allow {
		verb = "allowed"
	}
	return fmt.Sprintf("%s -> %s %s %s (%s)", c.from, c.to, c.proto, c.addr, verb)
}

// both expands a destination into a TCP and a UDP cell.
func both(from, to, addr string, allow bool, masq string) []cell {
	return []cell{{from, to, "tcp", addr, allow, masq}, {from, to, "udp", addr, allow, masq}}
}

// matrix is the expected reachability of the lab with pos.strict on and no
// payment address learned yet.
func matrix() []cell {
	var m []cell
	add := func(cs ...cell) { m = append(m, cs...) }
	type zone struct{ name, gw string }
	for _, z := range []zone{{"pos", gwPOS}, {"office", gwOffice}, {"guest", gwGuest}} {
		pos, off, gst := z.name == "pos", z.name == "office", z.name == "guest"
		if !pos {
			add(both(z.name, "pos host", hostPOS+":7000", false, "")...)
		}
		if !off {
			add(both(z.name, "office host", hostOff+":7000", false, "")...)
		}
		if !gst {
			add(both(z.name, "guest host", hostGst+":7000", false, "")...)
		}
		add(both(z.name, "box DNS", z.gw+":53", true, "")...)
		add(cell{z.name, "box NTP", "udp", z.gw + ":123", true, ""})
		add(both(z.name, "box other service", z.gw+":2222", false, "")...)
		add(cell{z.name, "status page", "tcp", gwOffice + ":" + pagePort, off, ""})
		add(both(z.name, "internet", netServer+":7000", !pos, gwWAN1)...)
		add(cell{z.name, "internet NTP", "udp", netServer + ":123", true, gwWAN1})
		add(cell{z.name, "payment host", "tcp", netPay + ":443", !pos, gwWAN1})
		add(both(z.name, "allowlisted host", netAllow+":7000", true, gwWAN1)...)
	}
	// The ISP side, with a route into the store: nothing gets in.
	for _, h := range []struct{ to, addr string }{
		{"pos host", hostPOS + ":7000"}, {"office host", hostOff + ":7000"}, {"guest host", hostGst + ":7000"},
		{"box DNS", gwWAN1 + ":53"}, {"box other service", gwWAN1 + ":2222"},
	} {
		add(both("isp", h.to, h.addr, false, "")...)
	}
	add(cell{"isp", "box NTP", "udp", gwWAN1 + ":123", false, ""})
	add(cell{"isp", "status page", "tcp", gwOffice + ":" + pagePort, false, ""})
	// The box itself reaches everything.
	for _, h := range []struct{ to, addr string }{
		{"pos host", hostPOS + ":7000"}, {"office host", hostOff + ":7000"}, {"guest host", hostGst + ":7000"},
		{"internet", netServer + ":7000"},
	} {
		add(both("box", h.to, h.addr, true, "")...)
	}
	return m
}

func (s *store) ns(from string) netns.NsHandle {
	return map[string]netns.NsHandle{"pos": s.pos, "office": s.office, "guest": s.guest, "isp": s.cloud, "box": s.gw}[from]
}

// check runs the cells in parallel and reports every cell whose outcome
// differs from the expectation.
func (s *store) check(t *testing.T, cells []cell) {
	t.Helper()
	var mu sync.Mutex
	var bad []string
	var fs []func()
	for _, c := range cells {
		fs = append(fs, func() {
			seen, ok := probe(s.ns(c.from), c.proto, c.addr, probeTimeout)
			// A refused flow is refused at the first try. An allowed one
			// gets two more, slower tries: on a loaded CI machine an
			// answer can be late, which says nothing about the firewall.
			for try := 2; c.allow && !ok && try <= 3; try++ {
				seen, ok = probe(s.ns(c.from), c.proto, c.addr, time.Duration(try*try)*probeTimeout)
			}
			var msg string
			switch {
			case ok != c.allow && ok:
				msg = fmt.Sprintf("%v: passed (server saw %s)", c, seen)
			case ok != c.allow:
				msg = fmt.Sprintf("%v: got no answer", c)
			case ok && c.masq != "" && !strings.HasPrefix(seen, c.masq+":"):
				msg = fmt.Sprintf("%v: server saw %s, want the WAN address %s (masquerade)", c, seen, c.masq)
			}
			if msg != "" {
				mu.Lock()
				bad = append(bad, msg)
				mu.Unlock()
			}
		})
	}
	parallel(16, fs)
	for _, b := range bad {
		t.Error(b)
	}
}

func TestReachabilityMatrix(t *testing.T) {
	s := newStore(t)
	serveTCP(t, s.cloud, ispWAN2+":7000")

	// Without the firewall the store is wide open: the probes can see a
	// refused flow pass, so a refusal below is the firewall's doing.
	s.check(t, []cell{
		{"guest", "pos host", "tcp", hostPOS + ":7000", true, ""},
		{"isp", "office host", "udp", hostOff + ":7000", true, ""},
		{"guest", "status page", "tcp", gwOffice + ":" + pagePort, true, ""},
	})

	var evMu sync.Mutex
	var events []Event
	f := s.firewall(t, s.config(true), func(e Event) { evMu.Lock(); events = append(events, e); evMu.Unlock() })
	if err := f.Apply(); err != nil {
		t.Fatal(err)
	}
	cells := matrix()
	t.Logf("%d cells", len(cells))
	s.check(t, cells)

	t.Run("strict POS allows a payment host once its DNS answer is learned", func(t *testing.T) {
		// What the daemon does with inspection's payment IP set after it
		// snooped the DNS answer for a payment domain.
		if err := f.SetPaymentIPs(map[netip.Addr]time.Duration{netip.MustParseAddr(netPay): 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
		s.check(t, []cell{
			{"pos", "payment host", "tcp", netPay + ":443", true, gwWAN1},
			{"pos", "payment host", "udp", netPay + ":7000", true, gwWAN1},
			{"pos", "internet", "tcp", netServer + ":7000", false, ""},
		})
		if err := f.Check(); err != nil {
			t.Fatal(err)
		}
		snap := f.Snapshot()
		if len(snap.PaymentIPs) != 1 || snap.PaymentIPs[0].IP.String() != netPay || snap.PaymentIPs[0].Expires < MinTTL-time.Minute {
			t.Errorf("snapshot payment IPs = %+v, want %s with about %s left (TTL raised to MinTTL)", snap.PaymentIPs, netPay, MinTTL)
		}
		want := Unlisted{Src: netip.MustParseAddr(hostPOS), Dst: netip.MustParseAddr(netServer)}
		if !containsUnlisted(snap.Unlisted, want) {
			t.Errorf("snapshot unlisted = %+v, want %v -> %v", snap.Unlisted, want.Src, want.Dst)
		}
	})

	t.Run("POS not strict passes any destination with an alarm", func(t *testing.T) {
		if err := f.Reload(s.config(false)); err != nil {
			t.Fatal(err)
		}
		s.check(t, []cell{
			{"pos", "internet", "tcp", netServer + ":7000", true, gwWAN1},
			{"pos", "the other ISP's host", "tcp", ispWAN2 + ":7000", true, gwWAN2},
			{"pos", "office host", "tcp", hostOff + ":7000", false, ""},
			{"guest", "pos host", "udp", hostPOS + ":7000", false, ""},
		})
		evMu.Lock()
		events = nil
		evMu.Unlock()
		if err := f.Check(); err != nil {
			t.Fatal(err)
		}
		evMu.Lock()
		defer evMu.Unlock()
		var alarm, drop bool
		for _, e := range events {
			if e.Kind == EventPOSUnlisted && e.Dst.String() == ispWAN2 && e.Src.String() == hostPOS && e.Rule == rulePOSAlarm {
				alarm = true
			}
			if e.Kind == EventDrop && e.Rule == ruleIsolation && e.Packets > 0 {
				drop = true
			}
		}
		if !alarm {
			t.Errorf("no %s alarm for %s -> %s in %+v", EventPOSUnlisted, hostPOS, ispWAN2, events)
		}
		if !drop {
			t.Errorf("no %s event for rule %s in %+v", EventDrop, ruleIsolation, events)
		}
	})
}

func containsUnlisted(us []Unlisted, want Unlisted) bool {
	for _, u := range us {
		if u.Src == want.Src && u.Dst == want.Dst {
			return true
		}
	}
	return false
}
