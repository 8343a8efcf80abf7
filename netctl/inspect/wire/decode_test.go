package wire

import (
	"net/netip"
	"testing"

	"github.com/branchgw/branchgw/netctl/inspect/internal/craft"
)

var (
	pos    = craft.EP("00:0b:4f:00:10:01", "198.18.10.11", 40001)
	server = craft.EP("02:00:00:00:00:01", "192.0.2.10", 443)
	pos6   = craft.EP("00:0b:4f:00:10:01", "2001:db8:10::11", 40002)
	srv6   = craft.EP("02:00:00:00:00:01", "2001:db8:1::10", 80)
	dnsSrv = craft.EP("02:00:00:00:00:01", "198.18.10.1", 53)
	dhcpC  = craft.EP("00:0b:4f:00:10:01", "0.0.0.0", 68)
	dhcpS  = craft.EP("02:00:00:00:00:01", "198.18.10.1", 67)
)

func TestDecode(t *testing.T) {
	hello := craft.ClientHello("pay.lab.example", 0, 0)
	tests := []struct {
		name  string
		frame []byte
		check func(t *testing.T, p *Packet)
	}{
		{"tcp syn", craft.TCPFrame(pos, server, craft.Opts{}, craft.TCP{SYN: true, Seq: 100}), func(t *testing.T, p *Packet) {
			if p.Proto != ProtoTCP || p.TCPFlags != FlagSYN || p.Seq != 100 || p.SrcPort != 40001 || p.DstPort != 443 {
				t.Errorf("got proto %d flags %b seq %d ports %d>%d", p.Proto, p.TCPFlags, p.Seq, p.SrcPort, p.DstPort)
			}
			if p.Src != pos.IP || p.Dst != server.IP || p.SrcMAC != [6]byte(pos.MAC) {
				t.Errorf("addresses %v>%v mac %x", p.Src, p.Dst, p.SrcMAC)
			}
		}},
		{"vlan tcp", craft.TCPFrame(pos, server, craft.Opts{VLAN: 42}, craft.TCP{ACK: true, RST: true}), func(t *testing.T, p *Packet) {
			if p.VLAN != 42 || p.TCPFlags != FlagACK|FlagRST {
				t.Errorf("vlan %d flags %b", p.VLAN, p.TCPFlags)
			}
		}},
		{"tls client hello", craft.TCPFrame(pos, server, craft.Opts{}, craft.TCP{ACK: true, PSH: true, Payload: hello}), func(t *testing.T, p *Packet) {
			if p.App != AppTLSClientHello || p.HelloStatus != HelloComplete || string(p.SNI) != "pay.lab.example" {
				t.Errorf("app %d status %d sni %q", p.App, p.HelloStatus, p.SNI)
			}
		}},
		{"tls hello first segment", craft.TCPFrame(pos, server, craft.Opts{}, craft.TCP{ACK: true, Payload: craft.ClientHello("pay.lab.example", 1800, 0)[:1000]}), func(t *testing.T, p *Packet) {
			if p.App != AppTLSClientHello || p.HelloStatus != HelloPartial {
				t.Errorf("app %d status %d", p.App, p.HelloStatus)
			}
		}},
		{"tls hello on a non-TLS port", craft.TCPFrame(craft.EP("00:0b:4f:00:10:01", "198.18.10.11", 40001), craft.EP("02:00:00:00:00:01", "192.0.2.10", 8443), craft.Opts{}, craft.TCP{ACK: true, Payload: hello}), func(t *testing.T, p *Packet) {
			if string(p.SNI) != "pay.lab.example" {
				t.Errorf("sni %q", p.SNI)
			}
		}},
		{"tls app data", craft.TCPFrame(server, pos, craft.Opts{}, craft.TCP{ACK: true, Payload: []byte{0x17, 3, 3, 0, 2, 1, 2}}), func(t *testing.T, p *Packet) {
			if p.App != AppTLSOther {
				t.Errorf("app %d", p.App)
			}
		}},
		{"http over ipv6", craft.TCPFrame(pos6, srv6, craft.Opts{}, craft.TCP{ACK: true, Payload: []byte("GET /menu HTTP/1.1\r\nUser-Agent: x\r\nHost: Shop.Lab.Example:8080\r\n\r\n")}), func(t *testing.T, p *Packet) {
			if !p.Src.Is6() || p.App != AppHTTPRequest || string(p.HTTP.Host) != "Shop.Lab.Example" || string(p.HTTP.Method) != "GET" || string(p.HTTP.Target) != "/menu" {
				t.Errorf("src %v app %d http %q %q %q", p.Src, p.App, p.HTTP.Method, p.HTTP.Target, p.HTTP.Host)
			}
		}},
		{"dns answer", craft.UDPFrame(dnsSrv, craft.EP("00:0b:4f:00:10:01", "198.18.10.11", 5000), craft.Opts{}, craft.DNSAnswer(7, "pay.lab.example", "edge.lab.example", 300, netip.MustParseAddr("192.0.2.10"))), func(t *testing.T, p *Packet) {
			if p.DNS == nil || !p.DNS.QR || len(p.DNS.Answers) != 2 || string(p.DNS.Questions[0].Name) != "pay.lab.example" {
				t.Fatalf("dns %+v", p.DNS)
			}
			if ip, _ := netip.AddrFromSlice(p.DNS.Answers[1].IP); ip != netip.MustParseAddr("192.0.2.10") {
				t.Errorf("answer ip %v", ip)
			}
		}},
		{"dhcp request", craft.UDPFrame(dhcpC, craft.EP("ff:ff:ff:ff:ff:ff", "255.255.255.255", 67), craft.Opts{}, craft.DHCPRequest(pos.MAC, "till-1", []byte{1, 3, 6, 15}, "verifone")), func(t *testing.T, p *Packet) {
			if p.DHCP == nil || len(p.DHCP.Options) < 3 {
				t.Fatalf("dhcp %+v", p.DHCP)
			}
		}},
		{"dhcp ack", craft.UDPFrame(dhcpS, craft.EP("00:0b:4f:00:10:01", "198.18.10.11", 68), craft.Opts{}, craft.DHCPAck(pos.MAC, pos.IP)), func(t *testing.T, p *Packet) {
			if p.DHCP == nil || !p.DHCP.YourClientIP.Equal(pos.IP.AsSlice()) {
				t.Fatalf("dhcp %+v", p.DHCP)
			}
		}},
		{"arp", craft.ARP(pos, 1, netip.MustParseAddr("198.18.10.1")), func(t *testing.T, p *Packet) {
			if !p.ARP || p.ARPOp != 1 || p.ARPSenderIP != pos.IP || p.ARPSenderMAC != [6]byte(pos.MAC) || p.HasIP() {
				t.Errorf("arp %+v", p)
			}
		}},
	}
	d := NewDecoder(false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if err := d.Decode(tt.frame, &p); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			tt.check(t, &p)
		})
	}
}

func TestDecodeBadFrames(t *testing.T) {
	good := craft.TCPFrame(pos, server, craft.Opts{}, craft.TCP{ACK: true, Payload: craft.ClientHello("a.example", 0, 0)})
	d := NewDecoder(false)
	var p Packet
	if err := d.Decode(nil, &p); err == nil {
		t.Error("empty frame decoded")
	}
	// Every truncation of a valid frame decodes or fails, never panics,
	// and never reports a server name that is not a prefix-consistent one.
	for n := 0; n < len(good); n++ {
		_ = d.Decode(good[:n], &p)
		if p.SNI != nil && string(p.SNI) != "a.example" {
			t.Fatalf("truncated at %d: sni %q", n, p.SNI)
		}
	}
}

func TestParseClientHello(t *testing.T) {
	big := craft.ClientHello("pos.acquirer.lab.example", 1900, 0)
	frag := craft.ClientHello("pos.acquirer.lab.example", 1900, 600) // 4 records
	goHello := craft.GoClientHello("pay.lab.example")
	noSNI := craft.ClientHello("", 0, 0)
	badName := craft.ClientHello("bad name!", 0, 0)
	tests := []struct {
		name    string
		in      []byte
		scratch int
		want    string
		st      HelloStatus
	}{
		{"one record", big, 0, "pos.acquirer.lab.example", HelloComplete},
		{"go crypto/tls with ML-KEM key share", goHello, 0, "pay.lab.example", HelloComplete},
		{"fragmented over records", frag, 4096, "pos.acquirer.lab.example", HelloComplete},
		{"fragmented, scratch too small", frag, 1024, "", HelloMalformed},
		{"fragmented, last record missing", frag[:len(frag)-10], 4096, "", HelloPartial},
		{"first segment only", big[:1460], 0, "", HelloPartial},
		{"no sni", noSNI, 0, "", HelloComplete},
		{"hostile server name", badName, 0, "", HelloMalformed},
		{"not tls", []byte("GET / HTTP/1.1\r\n"), 0, "", NotHello},
		{"server hello", []byte{0x16, 3, 3, 0, 40, 2, 0, 0, 36}, 0, "", NotHello},
		{"record header only", big[:5], 0, "", HelloPartial},
		{"empty", nil, 0, "", NotHello},
	}
	if len(goHello) <= 1460 {
		t.Errorf("Go's ClientHello is %d bytes; expected more than one MSS (X25519MLKEM768)", len(goHello))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sni, st := ParseClientHello(tt.in, make([]byte, tt.scratch))
			if string(sni) != tt.want || st != tt.st {
				t.Errorf("got %q, %d; want %q, %d", sni, st, tt.want, tt.st)
			}
		})
	}
}

func TestParseHTTPRequest(t *testing.T) {
	tests := []struct {
		in                string
		ok                bool
		method, tgt, host string
	}{
		{"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", true, "GET", "/", "a.example"},
		{"POST /pay HTTP/1.0\nhost:b.example\n\n", true, "POST", "/pay", "b.example"},
		{"GET / HTTP/1.1\r\nAccept: */*\r\nHo", true, "GET", "/", ""},
		{"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n", true, "GET", "/", ""},
		{"GET /x HTTP/2\r\n\r\n", false, "", "", ""},
		{"GET / HTTP/1.1", false, "", "", ""},
		{"BREW / HTTP/1.1\r\n", false, "", "", ""},
		{"GET  HTTP/1.1\r\n", false, "", "", ""},
	}
	for _, tt := range tests {
		var r HTTPRequest
		ok := ParseHTTPRequest([]byte(tt.in), &r)
		if ok != tt.ok || string(r.Method) != tt.method || string(r.Target) != tt.tgt || string(r.Host) != tt.host {
			t.Errorf("%q: got %v %q %q %q", tt.in, ok, r.Method, r.Target, r.Host)
		}
	}
}

func TestValidHostname(t *testing.T) {
	for in, want := range map[string]bool{
		"a.example": true, "xn--bcher-kva.example": true, "_dmarc.example": true,
		"": false, ".a": false, "a..b": false, "a b": false, "a\x00b": false,
	} {
		if ValidHostname([]byte(in)) != want {
			t.Errorf("ValidHostname(%q) != %v", in, want)
		}
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	frames := [][]byte{
		craft.TCPFrame(pos, server, craft.Opts{}, craft.TCP{ACK: true, Payload: craft.ClientHello("pay.lab.example", 0, 0)}),
		craft.TCPFrame(pos, server, craft.Opts{VLAN: 5}, craft.TCP{ACK: true, Payload: make([]byte, 1400)}),
		craft.TCPFrame(pos6, srv6, craft.Opts{}, craft.TCP{ACK: true, Payload: []byte("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")}),
		craft.UDPFrame(dnsSrv, pos, craft.Opts{}, craft.DNSAnswer(7, "pay.lab.example", "", 300, netip.MustParseAddr("192.0.2.10"))),
		craft.ARP(pos, 1, netip.MustParseAddr("198.18.10.1")),
	}
	d := NewDecoder(true)
	var p Packet
	for _, f := range frames { // warm reused buffers
		_ = d.Decode(f, &p)
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			_ = d.Decode(f, &p)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %.1f times per %d frames; want 0", allocs, len(frames))
	}
}
