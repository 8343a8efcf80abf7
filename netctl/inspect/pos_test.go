package inspect

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
)

func TestPOSHealth(t *testing.T) {
	hello := craft.ClientHello("pay.lab.example", 0, 0)
	type step struct {
		hs    time.Duration // handshake time; 0: fails (RST after hello)
		count int
	}
	tests := []struct {
		name   string
		steps  []step
		alarms []AlarmKind
		failed uint64
	}{
		{"fast handshakes stay healthy", []step{{40 * time.Millisecond, 5}}, nil, 0},
		{"slow path degrades, then recovers", []step{{40 * time.Millisecond, 3}, {3 * time.Second, 4}, {40 * time.Millisecond, 10}},
			[]AlarmKind{AlarmPOSDegraded, AlarmPOSRecovered}, 0},
		{"one failure is tolerated", []step{{40 * time.Millisecond, 2}, {0, 1}, {40 * time.Millisecond, 2}}, nil, 1},
		{"failures in a row degrade", []step{{40 * time.Millisecond, 2}, {0, 2}, {40 * time.Millisecond, 1}},
			[]AlarmKind{AlarmPOSDegraded, AlarmPOSRecovered}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			port := uint16(30000)
			for _, st := range tt.steps {
				for i := 0; i < st.count; i++ {
					port++
					c := craft.EP(till1.MAC.String(), till1.IP.String(), port)
					cv := r.conv(c, payHost).open(10*time.Millisecond, time.Millisecond)
					if st.hs == 0 {
						cv.client(hello, 5*time.Millisecond)
						cv.rst(true)
						continue
					}
					cv.tlsExchange(hello, st.hs)
					cv.close()
				}
			}
			var kinds []AlarmKind
			for _, a := range r.alarms {
				kinds = append(kinds, a.Kind)
				if a.Terminal != "till-1" || a.MAC != till1.MAC.String() {
					t.Errorf("alarm %+v", a)
				}
			}
			if strings.Join(alarmStrings(kinds), ",") != strings.Join(alarmStrings(tt.alarms), ",") {
				t.Errorf("alarms %v, want %v", kinds, tt.alarms)
			}
			p := r.snap().POS[0]
			if p.Failed != tt.failed || p.Name != "till-1" || p.LastSuccess.IsZero() {
				t.Errorf("terminal %+v", p)
			}
		})
	}
}

func alarmStrings(ks []AlarmKind) []string {
	var s []string
	for _, k := range ks {
		s = append(s, string(k))
	}
	return s
}

func TestPOSHandshakeFigures(t *testing.T) {
	r := newRig(t, nil)
	cv := r.conv(till1, payHost).open(10*time.Millisecond, time.Millisecond)
	cv.tlsExchange(craft.GoClientHello("pay.lab.example"), 120*time.Millisecond)
	p := r.snap().POS[0]
	// Hello to the client's second flight: 120 ms + the 1 ms server gap.
	if p.Handshakes != 1 || p.LastHS != 121*time.Millisecond || p.AvgHS != p.LastHS || p.MaxHS != p.LastHS {
		t.Errorf("%+v", p)
	}
	if f, _ := flowTo(r.snap(), payHost); f.TLSHandshake != 121*time.Millisecond || f.Terminal != "till-1" {
		t.Errorf("flow %+v", f)
	}
	// Handshakes to hosts that are not payment hosts do not count.
	other := craft.EP(gwMAC, "198.51.100.7", 443)
	r.conv(till1, other).open(time.Millisecond, time.Millisecond).tlsExchange(craft.ClientHello("tms.vendor.lab.example", 0, 0), 5*time.Second)
	if p := r.snap().POS[0]; p.Handshakes != 1 || p.Degraded {
		t.Errorf("after a non-payment handshake: %+v", p)
	}
}

func TestPOSRetransmitRate(t *testing.T) {
	r := newRig(t, nil)
	cv := r.conv(till1, payHost).open(time.Millisecond, time.Millisecond)
	cv.tlsExchange(craft.ClientHello("pay.lab.example", 0, 0), 30*time.Millisecond)
	// A minute of traffic with one segment in five retransmitted.
	for i := 0; i < 100; i++ {
		seg := make([]byte, 100)
		if i%5 == 0 {
			cv.clientAt(-100, seg, 300*time.Millisecond)
			continue
		}
		cv.client(seg, 300*time.Millisecond)
	}
	r.now = r.now.Add(time.Minute)
	s := r.snap()
	if len(r.alarmsOf(AlarmPOSDegraded)) != 1 || !s.POS[0].Degraded || !strings.Contains(s.POS[0].Reason, "retransmitted") {
		t.Errorf("alarms %+v terminal %+v", r.alarms, s.POS[0])
	}
	if s.POS[0].Retransmits != 20 {
		t.Errorf("retransmits %d", s.POS[0].Retransmits)
	}
	// A clean minute later it recovers.
	for i := 0; i < 100; i++ {
		cv.client(make([]byte, 100), 700*time.Millisecond)
	}
	r.snap()
	if len(r.alarmsOf(AlarmPOSRecovered)) != 1 {
		t.Errorf("alarms %+v", r.alarms)
	}
}

func TestAlarms(t *testing.T) {
	tests := []struct {
		name   string
		send   func(r *rig)
		kind   AlarmKind
		detail string
	}{
		{"unknown device on the POS subnet", func(r *rig) {
			r.send(craft.ARP(craft.EP("00:0b:4f:66:66:66", "198.18.10.40", 0), 1, netip.MustParseAddr("198.18.10.1")), 0)
		}, AlarmNewDevice, "unknown device 00:0b:4f:66:66:66 198.18.10.40 (Verifone) on the POS subnet 198.18.10.0/26"},
		{"device learnt by DHCP on the POS subnet", func(r *rig) {
			mac := craft.EP("02:99:00:00:00:01", "0.0.0.0", 68).MAC
			r.send(craft.UDPFrame(craft.EP(gwMAC, "198.18.10.1", 67), craft.EP("02:99:00:00:00:01", "198.18.10.41", 68), craft.Opts{}, craft.DHCPAck(mac, netip.MustParseAddr("198.18.10.41"))), 0)
		}, AlarmNewDevice, "unknown device 02:99:00:00:00:01 198.18.10.41 (vendor unknown) on the POS subnet 198.18.10.0/26"},
		{"POS to a destination not allowlisted", func(r *rig) {
			r.conv(till1, craft.EP(gwMAC, "203.0.113.9", 443)).open(time.Millisecond, time.Millisecond).
				client(craft.ClientHello("social.lab.example", 0, 0), 0)
		}, AlarmPOSDestination, "terminal till-1 talks to social.lab.example (203.0.113.9) port 443, which is not on its allowlist"},
		{"POS UDP to a destination not allowlisted", func(r *rig) {
			r.send(craft.UDPFrame(till1, craft.EP(gwMAC, "203.0.113.9", 123), craft.Opts{}, []byte{0x23}), 0)
		}, AlarmPOSDestination, "terminal till-1 talks to 203.0.113.9 port 123, which is not on its allowlist"},
		{"DNS to another resolver", func(r *rig) {
			r.send(craft.UDPFrame(office, craft.EP(gwMAC, "203.0.113.53", 53), craft.Opts{}, craft.DNSQuery(3, "a.lab.example")), 0)
			r.send(craft.UDPFrame(office, craft.EP(gwMAC, "203.0.113.53", 53), craft.Opts{}, craft.DNSQuery(4, "b.lab.example")), 0)
		}, AlarmDNSResolver, "198.18.10.70 sends DNS queries to 203.0.113.53, not to the store's resolver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			tt.send(r)
			if len(r.alarms) != 1 || r.alarms[0].Kind != tt.kind || r.alarms[0].Detail != tt.detail {
				t.Errorf("alarms %+v", r.alarms)
			}
		})
	}
}

func TestNoFalseAlarms(t *testing.T) {
	r := newRig(t, nil)
	// The configured terminal, the gateway and an office device outside the POS subnet.
	r.send(craft.ARP(till1, 1, netip.MustParseAddr("198.18.10.1")), 0)
	r.send(craft.ARP(craft.EP(gwMAC, "198.18.10.1", 0), 2, till1.IP), 0)
	r.send(craft.ARP(office, 1, netip.MustParseAddr("198.18.10.1")), 0)
	// Terminal traffic to allowed places: payment by SNI, payment by DNS,
	// an allowlisted CIDR, an allowlisted domain, the resolver, the LAN.
	r.conv(till1, payHost).open(time.Millisecond, time.Millisecond).client(craft.ClientHello("pay.lab.example", 0, 0), 0)
	r.send(craft.UDPFrame(craft.EP(till1.MAC.String(), till1.IP.String(), 5000), resolver, craft.Opts{}, craft.DNSQuery(1, "a.acquirer.lab.example")), 0)
	r.send(craft.UDPFrame(resolver, craft.EP(till1.MAC.String(), till1.IP.String(), 5000), craft.Opts{}, craft.DNSAnswer(1, "a.acquirer.lab.example", "", 60, netip.MustParseAddr("203.0.113.20"))), 0)
	r.conv(till1, craft.EP(gwMAC, "203.0.113.20", 443)).open(time.Millisecond, time.Millisecond).client([]byte{0x16, 3, 1, 0, 0}, 0)
	r.conv(till1, craft.EP(gwMAC, "198.51.100.5", 8443)).open(time.Millisecond, time.Millisecond).client([]byte("x"), 0)
	r.conv(till1, craft.EP(gwMAC, "203.0.113.30", 443)).open(time.Millisecond, time.Millisecond).client(craft.ClientHello("tms.vendor.lab.example", 0, 0), 0)
	r.conv(till1, craft.EP("02:00:00:00:00:77", "198.18.10.77", 9100)).open(time.Millisecond, time.Millisecond).client([]byte("receipt"), 0)
	r.snap()
	r.now = r.now.Add(10 * time.Minute)
	r.snap() // flows end: nothing raised at the end either
	if len(r.alarms) != 0 {
		t.Errorf("alarms %+v", r.alarms)
	}
}
