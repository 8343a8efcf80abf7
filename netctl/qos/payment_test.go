package qos

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestPaymentSet(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("192.0.2.10")
	p := newPaymentSet()
	steps := []struct {
		name           string
		addr           netip.Addr
		ttl            time.Duration
		at             time.Duration // since t0
		isNew, refresh bool
		err            bool
		left           time.Duration // a's time left after the step (0: gone)
	}{
		{"short ttl gets the floor", a, 5 * time.Second, 0, true, false, false, MinPaymentTTL},
		{"same answer again changes nothing", a, 5 * time.Second, 0, false, false, false, MinPaymentTTL},
		{"longer ttl refreshes", a, 10 * time.Minute, 30 * time.Second, false, true, false, 10 * time.Minute},
		{"huge ttl is capped", a, 1000 * time.Hour, time.Minute, false, true, false, MaxPaymentTTL},
		{"ipv6 refused", netip.MustParseAddr("2001:db8::1"), time.Hour, time.Minute, false, false, true, MaxPaymentTTL},
		{"loopback refused", netip.MustParseAddr("127.0.0.1"), time.Hour, time.Minute, false, false, true, MaxPaymentTTL},
		{"mapped v4 accepted as v4", netip.MustParseAddr("::ffff:192.0.2.10"), time.Hour, time.Minute, false, false, false, MaxPaymentTTL},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		isNew, refreshed, err := p.add(s.addr, s.ttl, now)
		if (err != nil) != s.err || isNew != s.isNew || refreshed != s.refresh {
			t.Errorf("%s: new %v refreshed %v err %v", s.name, isNew, refreshed, err)
		}
		var left time.Duration
		for _, e := range p.list(now) {
			if e.Addr == a {
				left = e.Timeout
			}
		}
		if left != s.left {
			t.Errorf("%s: %v left, want %v", s.name, left, s.left)
		}
	}
	if p.expire(t0.Add(time.Minute + MaxPaymentTTL)); len(p.addrs(t0.Add(time.Minute+MaxPaymentTTL))) != 0 {
		t.Error("not expired")
	}
	for i := range MaxPaymentIPs {
		if _, _, err := p.add(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), time.Hour, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := p.add(a, time.Hour, t0); !errors.Is(err, errPaymentFull) {
		t.Errorf("full set: %v", err)
	}
}
