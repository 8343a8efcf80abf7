//go:build linux

package inspect

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

const (
	liveTillMAC = "00:0b:4f:00:10:01" // a Verifone OUI
	liveGwMAC   = "02:00:00:00:00:01"
	liveTill    = "198.18.10.11"
	liveGw      = "198.18.10.1"
	livePay     = "192.0.2.10"
	liveWeb     = "192.0.2.20"
	liveSocial  = "192.0.2.30"
	liveRogueNS = "192.0.2.53"
)

// TestLiveCapture runs the inspector on a real AF_PACKET ring in a
// throwaway netns while a "terminal" namespace resolves names, makes TLS
// 1.3 connections with Go's default X25519MLKEM768 key share (a
// ClientHello over one MSS, and one over a 536-byte MSS), an HTTP request,
// a connection to a host off its allowlist, a DNS query to a stray
// resolver, and a new device announces itself on the POS subnet.
func TestLiveCapture(t *testing.T) {
	lr := startLive(t, nil)
	l, servers, in := lr.lab, lr.servers, lr.in

	// The terminal's traffic.
	if got := dnsQuery(t, l, liveGw, "pay.lab.example"); got != livePay {
		t.Fatalf("DNS answer %q", got)
	}
	for i := 0; i < 3; i++ {
		tlsPing(t, l, servers, livePay, "pay.lab.example", 0)
	}
	tlsPing(t, l, servers, livePay, "small.acquirer.lab.example", 536)
	httpGet(t, l, liveWeb, "www.lab.example")
	tlsPing(t, l, servers, liveSocial, "social.lab.example", 0)
	dnsSend(t, l, liveRogueNS, "pay.lab.example")
	injectARP(t, l, "02:99:00:00:00:40", "198.18.10.40")

	// Wait until the inspector has seen it all.
	var s *Snapshot
	waitFor(t, 15*time.Second, func() bool {
		s = in.Snapshot()
		lr.mu.Lock()
		defer lr.mu.Unlock()
		kinds := map[AlarmKind]bool{}
		for _, a := range lr.alarms {
			kinds[a.Kind] = true
		}
		return len(s.POS) == 1 && s.POS[0].Handshakes >= 4 && namedFlows(s) >= 6 &&
			kinds[AlarmNewDevice] && kinds[AlarmDNSResolver] && kinds[AlarmPOSDestination]
	})

	names := map[string]Flow{}
	for _, f := range s.TopFlows {
		if f.Name != "" && f.Proto == "tcp" {
			names[f.Name+"/"+f.NameFrom] = f
		}
	}
	for _, want := range []string{"pay.lab.example/sni", "small.acquirer.lab.example/sni", "www.lab.example/http", "social.lab.example/sni"} {
		f, ok := names[want]
		if !ok {
			t.Errorf("no flow named %s; flows: %+v", want, s.TopFlows)
			continue
		}
		if f.Client != netip.MustParseAddr(liveTill) || f.HandshakeRTT <= 0 || f.Terminal != "till-1" {
			t.Errorf("%s: client %v rtt %v terminal %q", want, f.Client, f.HandshakeRTT, f.Terminal)
		}
	}
	if f := names["pay.lab.example/sni"]; f.Category != "payment" || f.TLSHandshake <= 0 {
		t.Errorf("payment flow: category %q tls handshake %v", f.Category, f.TLSHandshake)
	}
	if s.Decode.Reassembled < 4 {
		t.Errorf("ClientHellos reassembled from segments: %d, want >= 4 (is GSO on?)", s.Decode.Reassembled)
	}
	p := s.POS[0]
	if p.Failed != 0 || p.LastSuccess.IsZero() || p.AvgHS <= 0 || p.Degraded {
		t.Errorf("terminal %+v", p)
	}
	var till *Device
	for i := range s.Devices {
		if s.Devices[i].MAC == liveTillMAC {
			till = &s.Devices[i]
		}
	}
	if till == nil || till.Vendor != "Verifone" || till.Terminal != "till-1" || !slices.Contains(till.IPs, netip.MustParseAddr(liveTill)) {
		t.Errorf("terminal device %+v in %+v", till, s.Devices)
	}
	lr.mu.Lock()
	alarms, payment := lr.alarms, lr.payment
	has := func(k AlarmKind, match func(Alarm) bool) {
		for _, a := range alarms {
			if a.Kind == k && match(a) {
				return
			}
		}
		t.Errorf("no %s alarm as expected in %+v", k, alarms)
	}
	has(AlarmPOSDestination, func(a Alarm) bool { return a.Name == "social.lab.example" && a.Terminal == "till-1" })
	has(AlarmDNSResolver, func(a Alarm) bool { return a.Peer == netip.MustParseAddr(liveRogueNS) && a.MAC == liveTillMAC })
	has(AlarmNewDevice, func(a Alarm) bool { return a.MAC == "02:99:00:00:00:40" })
	for _, a := range alarms {
		if a.Kind == AlarmPOSDestination && (a.Peer == netip.MustParseAddr(livePay) || a.Peer == netip.MustParseAddr(liveGw)) {
			t.Errorf("false alarm %+v", a)
		}
	}
	if !slices.Contains(payment, netip.MustParseAddr(livePay)) {
		t.Errorf("payment set %v", payment)
	}
	lr.mu.Unlock()
	t.Logf("capture: %+v; decode: %+v; terminal: handshakes %d avg %v", s.Capture, s.Decode, p.Handshakes, p.AvgHS)

	// Clean shutdown: Run notices the cancel at its next poll timeout.
	lr.cancel()
	select {
	case <-lr.done:
		if lr.runErr != nil {
			t.Errorf("Run: %v", lr.runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if c := in.Snapshot().Capture; c.Packets == 0 || c.Interface != l.gwIf {
		t.Errorf("capture stats %+v", c)
	}
}

// liveRig is the lab with its servers and an inspector running on the
// gateway's LAN side.
type liveRig struct {
	lab     *lab
	servers *labServers
	in      *Inspector
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run returned
	runErr  error

	mu      sync.Mutex
	alarms  []Alarm
	payment []netip.Addr
	names   []Name
}

func startLive(t *testing.T, mutate func(*config.Config)) *liveRig {
	l := newLab(t)
	l.ip("-n", l.posNS, "link", "set", l.posIf, "address", liveTillMAC)
	l.ip("-n", l.gwNS, "link", "set", l.gwIf, "address", liveGwMAC)
	// No GSO: the stack hands the veth one MSS per packet, as a real NIC
	// puts them on the wire, so the ClientHello really is split.
	l.ip("-n", l.posNS, "link", "set", l.posIf, "gso_max_segs", "1")
	l.ip("-n", l.gwNS, "link", "set", l.gwIf, "gso_max_segs", "1")
	l.ip("-n", l.posNS, "addr", "add", liveTill+"/24", "dev", l.posIf)
	l.ip("-n", l.gwNS, "addr", "add", liveGw+"/24", "dev", l.gwIf)
	for _, a := range []string{livePay, liveWeb, liveSocial, liveRogueNS} {
		l.ip("-n", l.gwNS, "addr", "add", a+"/32", "dev", l.gwIf)
	}
	l.ip("-n", l.posNS, "link", "set", l.posIf, "up")
	l.ip("-n", l.gwNS, "link", "set", l.gwIf, "up")
	l.ip("-n", l.posNS, "route", "add", "192.0.2.0/24", "dev", l.posIf)
	l.ip("-n", l.posNS, "addr", "add", v6Till+"/64", "dev", l.posIf, "nodad")
	l.ip("-n", l.gwNS, "addr", "add", v6Gw+"/64", "dev", l.gwIf, "nodad")

	lr := &liveRig{lab: l, servers: startServers(t, l), done: make(chan struct{})}
	cfg := liveConfig(l)
	if mutate != nil {
		mutate(cfg)
	}
	opened := make(chan struct{}, 1)
	gwMAC, _ := net.ParseMAC(liveGwMAC)
	in, err := New(ConfigFrom(cfg), nil, Deps{
		OnAlarm: func(a Alarm) { lr.mu.Lock(); lr.alarms = append(lr.alarms, a); lr.mu.Unlock() },
		Payment: PaymentSinkFunc(func(ips []netip.Addr) { lr.mu.Lock(); lr.payment = ips; lr.mu.Unlock() }),
		Open: func() (Source, error) {
			var src *AFPacket
			err := l.in(l.gwNSH, func() (err error) {
				src, err = OpenAFPacket(l.gwIf, 50*time.Millisecond)
				return err
			})
			if err == nil {
				opened <- struct{}{}
			}
			return src, err
		},
		SelfMACs:      []net.HardwareAddr{gwMAC},
		SelfIPs:       []netip.Addr{netip.MustParseAddr(v6Gw)},
		SnapshotEvery: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	lr.in = in
	in.onName = func(n Name) { lr.mu.Lock(); lr.names = append(lr.names, n); lr.mu.Unlock() }
	ctx, cancel := context.WithCancel(context.Background())
	lr.cancel = cancel
	go func() { lr.runErr = in.Run(ctx); close(lr.done) }()
	t.Cleanup(func() {
		cancel()
		<-lr.done
	})
	select {
	case <-opened:
	case <-lr.done:
		t.Fatalf("Run: %v", lr.runErr)
	}
	return lr
}

// liveConfig is the gatewayd configuration of the lab's gateway.
func liveConfig(l *lab) *config.Config {
	cfg := config.Defaults()
	cfg.LAN = config.LAN{Interface: l.gwIf, Address: liveGw + "/24"}
	cfg.Inspect.Interface = l.gwIf
	cfg.Zones = []config.Zone{{Name: "pos", Subnet: "198.18.10.0/26"}}
	cfg.POS.Devices = []config.POSDevice{{Name: "till-1", MAC: liveTillMAC, IP: liveTill}}
	cfg.POS.PaymentDomains = []string{"pay.lab.example", "*.acquirer.lab.example"}
	return &cfg
}

func (lr *liveRig) alarmsOf(k AlarmKind) []Alarm {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	var out []Alarm
	for _, a := range lr.alarms {
		if a.Kind == k {
			out = append(out, a)
		}
	}
	return out
}

func namedFlows(s *Snapshot) int {
	n := 0
	for _, f := range s.TopFlows {
		if f.NameFrom == "sni" || f.NameFrom == "http" {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
