package inspect

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
)

// TestServerName covers every way a ClientHello reaches the inspector.
func TestServerName(t *testing.T) {
	goHello := craft.GoClientHello("pay.lab.example")
	big := craft.ClientHello("pos.acquirer.lab.example", 3000, 0)
	recs := craft.ClientHello("pos.acquirer.lab.example", 3000, 700) // 5 TLS records
	huge := craft.ClientHello("huge.lab.example", 20000, 0)          // > reassembly_bytes
	tests := []struct {
		name     string
		send     func(cv *conv)
		want     string
		category string
		reasm    uint64
	}{
		{"one segment", func(cv *conv) { cv.client(craft.ClientHello("pay.lab.example", 0, 0), 0) }, "pay.lab.example", "payment", 0},
		{"go crypto/tls hello over two MSS segments", func(cv *conv) {
			cv.client(goHello[:1460], 0)
			cv.client(goHello[1460:], 0)
		}, "pay.lab.example", "payment", 1},
		{"three small-MSS segments out of order", func(cv *conv) {
			cv.clientAt(1000, big[1000:2000], 0)
			cv.clientAt(2000, big[2000:], 0)
			cv.client(big[:1000], 0)
		}, "pos.acquirer.lab.example", "payment", 1},
		{"second segment retransmitted, last first", func(cv *conv) {
			cv.clientAt(1200, big[1200:], 0)
			cv.clientAt(1200, big[1200:], 0)
			cv.client(big[:1200], 0)
		}, "pos.acquirer.lab.example", "payment", 1},
		{"fragmented over TLS records and segments", func(cv *conv) {
			for off := 0; off < len(recs); off += 536 {
				cv.clientAt(off, recs[off:min(off+536, len(recs))], 0)
			}
		}, "pos.acquirer.lab.example", "payment", 1},
		{"larger than the reassembly buffer", func(cv *conv) {
			for off := 0; off < len(huge); off += 1460 {
				cv.clientAt(off, huge[off:min(off+1460, len(huge))], 0)
			}
		}, "", "", 0},
		{"http host", func(cv *conv) {
			cv.client([]byte("GET /f HTTP/1.1\r\nHost: dl.update.lab.example\r\n\r\n"), 0)
		}, "dl.update.lab.example", "os-update", 0},
		{"not tls, not http", func(cv *conv) { cv.client([]byte("SSH-2.0-OpenSSH_9.2\r\n"), 0) }, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			tt.send(r.conv(office, payHost).open(time.Millisecond, time.Millisecond))
			s := r.snap()
			f, _ := flowTo(s, payHost)
			if f.Name != tt.want || f.Category != tt.category {
				t.Errorf("name %q category %q; want %q %q", f.Name, f.Category, tt.want, tt.category)
			}
			if tt.want != "" && f.NameFrom != "sni" && f.NameFrom != "http" {
				t.Errorf("name from %q", f.NameFrom)
			}
			if s.Decode.Reassembled != tt.reasm {
				t.Errorf("reassembled %d, want %d", s.Decode.Reassembled, tt.reasm)
			}
			if r.in.reasm.inUse != 0 {
				t.Errorf("%d reassembly buffers still held", r.in.reasm.inUse)
			}
		})
	}
}

func TestDNSNamesAndPaymentSet(t *testing.T) {
	r := newRig(t, nil)
	client := craft.EP(till1.MAC.String(), till1.IP.String(), 5353)
	pay1, pay2 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")
	video := netip.MustParseAddr("203.0.113.50")
	r.send(craft.UDPFrame(client, resolver, craft.Opts{}, craft.DNSQuery(1, "pay.lab.example")), time.Millisecond)
	r.send(craft.UDPFrame(resolver, client, craft.Opts{}, craft.DNSAnswer(1, "pay.lab.example", "edge.cdn.lab.example", 30, pay1, pay2)), time.Millisecond)
	r.send(craft.UDPFrame(resolver, client, craft.Opts{}, craft.DNSAnswer(2, "video.lab.example", "", 30, video)), time.Millisecond)
	if len(r.payment) != 1 || !slices.Equal(r.payment[0], []netip.Addr{pay1, pay2}) {
		t.Fatalf("payment sink got %v", r.payment)
	}
	// A later flow to the address is named from DNS before any payload.
	r.conv(office, craft.EP(gwMAC, "203.0.113.50", 443)).open(time.Millisecond, time.Millisecond)
	s := r.snap()
	f, _ := flowTo(s, craft.EP(gwMAC, "203.0.113.50", 443))
	if f.Name != "video.lab.example" || f.NameFrom != "dns" || f.Category != "streaming" {
		t.Errorf("flow %+v", f)
	}
	if !slices.Equal(s.PaymentIPs, []netip.Addr{pay1, pay2}) || !slices.Equal(r.in.PaymentIPs(), s.PaymentIPs) {
		t.Errorf("snapshot payment IPs %v", s.PaymentIPs)
	}
	// An SNI for a payment domain adds its server even without DNS.
	r.conv(office, craft.EP(gwMAC, "192.0.2.99", 443)).open(time.Millisecond, time.Millisecond).
		client(craft.ClientHello("x.acquirer.lab.example", 0, 0), 0)
	if got := r.payment[len(r.payment)-1]; !slices.Contains(got, netip.MustParseAddr("192.0.2.99")) {
		t.Errorf("after SNI: %v", got)
	}
	// Payment IPs are held an hour whatever the TTL, then dropped.
	r.now = r.now.Add(59 * time.Minute)
	if len(r.snap().PaymentIPs) != 3 {
		t.Error("payment IPs dropped before the hold time")
	}
	r.now = r.now.Add(2 * time.Minute)
	if s := r.snap(); len(s.PaymentIPs) != 0 || len(r.payment[len(r.payment)-1]) != 0 {
		t.Errorf("after expiry: %v", s.PaymentIPs)
	}
}

func TestDevices(t *testing.T) {
	r := newRig(t, nil)
	r.send(craft.ARP(office, 1, netip.MustParseAddr("198.18.10.1")), time.Second)
	dhcpC := craft.EP(till1.MAC.String(), "0.0.0.0", 68)
	bcast := craft.EP("ff:ff:ff:ff:ff:ff", "255.255.255.255", 67)
	r.send(craft.UDPFrame(dhcpC, bcast, craft.Opts{}, craft.DHCPRequest(till1.MAC, "till-1\x00\x1b[31m", []byte{1, 3, 6, 15, 119, 252}, "verifone-vx")), time.Second)
	r.send(craft.UDPFrame(craft.EP(gwMAC, "198.18.10.1", 67), craft.EP(till1.MAC.String(), "198.18.10.11", 68), craft.Opts{}, craft.DHCPAck(till1.MAC, till1.IP)), time.Second)
	// Traffic the gateway forwards (its own MAC) makes no device.
	r.send(craft.TCPFrame(payHost, till1, craft.Opts{}, craft.TCP{ACK: true}), time.Second)
	r.conv(office, webHost).open(time.Millisecond, time.Millisecond)
	s := r.snap()
	if len(s.Devices) != 2 {
		t.Fatalf("devices %+v", s.Devices)
	}
	byMAC := map[string]Device{}
	for _, d := range s.Devices {
		byMAC[d.MAC] = d
	}
	pi := byMAC[office.MAC.String()]
	if pi.Vendor != "Raspberry Pi" || !slices.Equal(pi.IPs, []netip.Addr{office.IP}) || !pi.First.Equal(t0) || !pi.Last.After(pi.First) {
		t.Errorf("office device %+v", pi)
	}
	till := byMAC[till1.MAC.String()]
	if till.Vendor != "Verifone" || till.Hostname != "till-1??[31m" || till.Fingerprint != "1,3,6,15,119,252" ||
		till.VendorClass != "verifone-vx" || till.Terminal != "till-1" || !slices.Equal(till.IPs, []netip.Addr{till1.IP}) {
		t.Errorf("till device %+v", till)
	}
}

func TestDeviceTableBound(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Inspect.MaxDevices = 16 })
	for i := 0; i < 40; i++ {
		ep := craft.EP("b8:27:eb:00:30:"+hex2(i), "198.18.10."+itoa3(100+i), 1000)
		r.send(craft.ARP(ep, 1, netip.MustParseAddr("198.18.10.1")), time.Second)
	}
	s := r.snap()
	if s.Flows.Devices != 16 || s.Flows.DevEvict != 24 || len(s.Devices) != 16 {
		t.Errorf("devices %d evicted %d", s.Flows.Devices, s.Flows.DevEvict)
	}
}

func hex2(i int) string { return string("0123456789abcdef"[i>>4]) + string("0123456789abcdef"[i&15]) }

func itoa3(i int) string {
	return string(rune('0'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}
