package qos

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// newFake builds a QoS on the recording backends with a settable clock.
func newFake(t *testing.T, cfg Config) (*QoS, *fakeTC, *fakeNFT, *time.Time) {
	t.Helper()
	f, n := newFakeTC(LeafFqCodel, LeafCake), &fakeNFT{tables: map[string]string{}}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	q, err := New(cfg, nil, Options{IFB: "ifb9", Table: "bgwq", Interval: time.Hour, Now: func() time.Time { return now },
		OpenTC: func() (TC, func(), error) { return f, func() {}, nil }, NFT: n})
	if err != nil {
		t.Fatal(err)
	}
	return q, f, n, &now
}

// startFake runs q until the test ends and waits for the first apply.
func startFake(t *testing.T, q *QoS) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); !q.Snapshot().Active; time.Sleep(time.Millisecond) {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("Run ended before shaping was active: %v", err)
		default:
		}
		if time.Now().After(deadline) { // a hang, not a timing goal
			cancel()
			t.Fatalf("shaping not active after 10 s: %+v", q.Snapshot())
		}
	}
	stopped := false
	var err error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestComponent(t *testing.T) {
	q, f, n, _ := newFake(t, testConfig())
	if s := q.Snapshot(); s.Active || s.WAN != "fibre" {
		t.Fatalf("before run: %+v", s)
	}
	stop := startFake(t, q)
	s := q.Snapshot()
	if s.Interface != "wan1" || s.UpBits != 4.5e6 || s.DownBits != 16e6 || s.Leaf != LeafTBF || len(s.Upload) != 5 || s.Upload[0].Class != ClassPOS {
		t.Fatalf("snapshot: %+v", s)
	}
	if !strings.Contains(n.tables["bgwq"], `oifname != "wan1" return`) {
		t.Fatalf("table: %s", n.tables["bgwq"])
	}
	f.take()
	n.ops = nil

	// Bad input is refused and changes nothing.
	bad := testConfig()
	bad.Rules[0].Class = "vip"
	for name, err := range map[string]error{
		"unknown wan":  q.SetActiveWAN("dsl"),
		"bad config":   q.Reload(bad),
		"bad payment":  q.AddPaymentIP(netip.MustParseAddr("224.0.0.1"), time.Hour),
		"ipv6 payment": q.AddPaymentIP(netip.MustParseAddr("2001:db8::1"), time.Hour),
		"invalid addr": q.AddPaymentIP(netip.Addr{}, time.Hour),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if len(f.take()) != 0 || len(n.ops) != 0 || q.Snapshot().Interface != "wan1" {
		t.Errorf("refused input changed something: %v", n.ops)
	}

	// A payment address: a set element and a download filter.
	if err := q.AddPaymentIP(netip.MustParseAddr("192.0.2.123"), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if ops := f.take(); !has(ops, "0xc000027b 0xffffffff at 12 classid 1:10") || !has(n.ops, "nft add element inet bgwq payment { 192.0.2.123 timeout 5m0s }") {
		t.Errorf("payment ip: %q %q", ops, n.ops)
	}
	n.ops = nil
	if err := q.AddPaymentIP(netip.MustParseAddr("192.0.2.123"), 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if ops := f.take(); len(ops) != 0 || !has(n.ops, "nft refresh element inet bgwq payment { 192.0.2.123 timeout 10m0s }") {
		t.Errorf("refresh: tc %q nft %q", ops, n.ops)
	}

	// Failover: shaping moves to lte's interface at its rate, wan1 is cleared.
	if err := q.SetActiveWAN("lte"); err != nil {
		t.Fatal(err)
	}
	ops := f.take()
	if !has(ops, "tc qdisc replace dev wan2 root handle 1: htb") || !has(ops, "tc qdisc del dev wan1 root") || has(ops, "ip link del ifb9") {
		t.Errorf("failover ops:\n%s", strings.Join(ops, "\n"))
	}
	if s := q.Snapshot(); s.Interface != "wan2" || s.UpBits != 1.8e6 {
		t.Errorf("after failover: %+v", s)
	}

	// Reload: new rates on the active WAN.
	c := testConfig()
	c.WANs[1].Up = 4e6
	if err := q.Reload(c); err != nil {
		t.Fatal(err)
	}
	if s := q.Snapshot(); s.UpBits != 3.6e6 {
		t.Errorf("after reload: up %d", s.UpBits)
	}
	// Disabling removes everything but keeps running.
	c.Enabled = false
	if err := q.Reload(c); err != nil {
		t.Fatal(err)
	}
	if s := q.Snapshot(); s.Active || n.tables["bgwq"] != "" {
		t.Errorf("disabled but active: %+v", s)
	}
	c.Enabled = true
	if err := q.Reload(c); err != nil || !q.Snapshot().Active {
		t.Fatalf("re-enabled: %v", err)
	}
	f.take()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	ops = f.take()
	for _, w := range []string{"tc qdisc del dev wan1 root", "tc qdisc del dev wan2 root", "tc qdisc del dev wan2 ingress", "ip link del ifb9"} {
		if !has(ops, w) {
			t.Errorf("stop: missing %q in %q", w, ops)
		}
	}
	if _, ok := n.tables["bgwq"]; ok || q.Snapshot().Active {
		t.Error("stop left the table or an active snapshot")
	}
}

// TestComponentPaymentExpiry: an address whose TTL ran out leaves the
// download filters at the next pass.
func TestComponentPaymentExpiry(t *testing.T) {
	q, f, _, now := newFake(t, testConfig())
	startFake(t, q)
	if err := q.AddPaymentIP(netip.MustParseAddr("192.0.2.7"), time.Minute); err != nil {
		t.Fatal(err)
	}
	f.take()
	q.mu.Lock()
	*now = now.Add(2 * time.Minute)
	q.pay.expire(*now)
	err := q.syncLocked()
	q.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if ops := f.take(); !has(ops, "tc filter del dev ifb9 parent 1: prio 10") {
		t.Errorf("expired address kept: %q", ops)
	}
	if q.Snapshot().PaymentIPs != 0 {
		t.Error("snapshot still counts it")
	}
}

func TestNewRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  func() Config
		opts Options
	}{
		"unknown active wan": {testConfig, Options{ActiveWAN: "dsl"}},
		"long ifb name":      {testConfig, Options{IFB: "a-very-long-ifb-name"}},
		"no pos class": {func() Config {
			c := testConfig()
			c.Classes = c.Classes[1:]
			return c
		}, Options{}},
		"tcp probe without a port": {func() Config {
			c := testConfig()
			c.Probes = append(c.Probes, Probe{Addr: netip.MustParseAddr("192.0.2.9"), Proto: 6})
			return c
		}, Options{}},
		"icmp probe with a port": {func() Config {
			c := testConfig()
			c.Probes = append(c.Probes, Probe{Addr: netip.MustParseAddr("192.0.2.9"), Proto: 1, Port: 7})
			return c
		}, Options{}},
		"ipv6 probe": {func() Config {
			c := testConfig()
			c.Probes = append(c.Probes, Probe{Addr: netip.MustParseAddr("2001:db8::9"), Proto: 1})
			return c
		}, Options{}},
	} {
		tc.opts.OpenTC = func() (TC, func(), error) { return nil, nil, errors.New("unused") }
		tc.opts.NFT = &fakeNFT{}
		if _, err := New(tc.cfg(), nil, tc.opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
