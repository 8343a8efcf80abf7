// Package wire decodes captured Ethernet frames into the few facts the
// inspector needs (addresses, ports, TCP flags and sequence numbers, DNS,
// DHCP, TLS ClientHello server name, HTTP request line and Host) with
// gopacket's DecodingLayerParser, reusing every layer between packets so a
// decode allocates nothing. Malformed input yields an error or a partial
// result, never a panic (see the fuzz tests).
package wire

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Transport protocol numbers used in Packet.Proto.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// TCP flag bits in Packet.TCPFlags.
const (
	FlagFIN = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
)

// AppKind classifies the start of a transport payload.
type AppKind uint8

// Payload kinds the app layer recognises.
const (
	AppNone AppKind = iota
	AppTLSClientHello
	AppTLSOther // any other TLS record: ServerHello, alerts, application data
	AppHTTPRequest
)

// Packet is the result of one decode. Slices and pointers alias the frame
// or the Decoder and are valid until the next Decode.
type Packet struct {
	SrcMAC, DstMAC [6]byte
	// VLAN is the 802.1Q VLAN id, 0 when untagged.
	VLAN uint16

	// ARP is set for an ARP packet; then only the ARP fields below hold.
	ARP                    bool
	ARPOp                  uint16
	ARPSenderMAC           [6]byte
	ARPSenderIP, ARPTarget netip.Addr

	// Src and Dst are valid for IPv4 and IPv6 packets.
	Src, Dst netip.Addr
	// Proto is ProtoTCP, ProtoUDP or another IP protocol number; 0 when not IP.
	Proto            uint8
	SrcPort, DstPort uint16
	// Fragment is set for a non-first IPv4 fragment: no ports, no payload.
	Fragment bool

	TCPFlags uint8
	Seq, Ack uint32
	// Payload is the TCP or UDP payload.
	Payload []byte

	// DNS is set for a DNS message on UDP port 53.
	DNS *layers.DNS
	// DHCP is set for a DHCPv4 message on UDP ports 67/68.
	DHCP *layers.DHCPv4

	App AppKind
	// SNI is the server name of a ClientHello complete in this segment.
	SNI []byte
	// HelloStatus tells whether the ClientHello here is complete.
	HelloStatus HelloStatus
	// HTTP holds the request line and Host when App is AppHTTPRequest.
	HTTP HTTPRequest
}

// HasIP reports whether the packet carried an IPv4 or IPv6 header.
func (p *Packet) HasIP() bool { return p.Src.IsValid() }

// Decoder decodes frames. It is not safe for concurrent use; give each
// capture goroutine its own.
type Decoder struct {
	parser  *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType

	eth   layers.Ethernet
	dot1q layers.Dot1Q
	arp   layers.ARP
	ip4   layers.IPv4
	ip6   layers.IPv6
	tcp   layers.TCP
	udp   layers.UDP
	dns   layers.DNS
	dhcp  layers.DHCPv4
	app   appLayer
}

// NewDecoder returns a Decoder for Ethernet frames. With recoverPanics the
// parser turns a panic inside a gopacket decoder into an error (defence in
// depth for the daemon); the fuzz tests turn it off so a panic is seen.
func NewDecoder(recoverPanics bool) *Decoder {
	d := &Decoder{decoded: make([]gopacket.LayerType, 0, 16)}
	d.app.scratch = make([]byte, 16<<10)
	d.parser = gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet)
	// The sparse container indexes decoders by layer type in a slice: no
	// map lookup per layer.
	d.parser.SetDecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
	for _, l := range []gopacket.DecodingLayer{
		&d.eth, &d.dot1q, &d.arp, &d.ip4, &d.ip6, &d.tcp, &d.udp, &d.dns, &d.dhcp, &d.app,
	} {
		d.parser.AddDecodingLayer(l)
	}
	d.parser.IgnoreUnsupported = true
	d.parser.IgnorePanic = !recoverPanics
	return d
}

// ErrNotEthernet is returned for a frame too short to hold an Ethernet header.
var ErrNotEthernet = errors.New("frame shorter than an Ethernet header")

// Decode decodes one frame into p. An error means the frame was cut short
// or malformed at some layer; p still holds every layer decoded before it.
func (d *Decoder) Decode(frame []byte, p *Packet) error {
	*p = Packet{}
	if len(frame) < 14 {
		return ErrNotEthernet
	}
	err := d.parser.DecodeLayers(frame, &d.decoded)
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeEthernet:
			copy(p.SrcMAC[:], d.eth.SrcMAC)
			copy(p.DstMAC[:], d.eth.DstMAC)
		case layers.LayerTypeDot1Q:
			if p.VLAN == 0 {
				p.VLAN = d.dot1q.VLANIdentifier // the outer tag, for QinQ
			}
		case layers.LayerTypeARP:
			d.fillARP(p)
		case layers.LayerTypeIPv4:
			p.Src, _ = netip.AddrFromSlice(d.ip4.SrcIP)
			p.Dst, _ = netip.AddrFromSlice(d.ip4.DstIP)
			p.Proto = uint8(d.ip4.Protocol)
			if d.ip4.FragOffset != 0 {
				// A later fragment: its payload is not a transport header.
				p.Fragment = true
				return nil
			}
		case layers.LayerTypeIPv6:
			p.Src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			p.Dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
			p.Proto = uint8(d.ip6.NextHeader)
		case layers.LayerTypeTCP:
			d.fillTCP(p)
		case layers.LayerTypeUDP:
			p.SrcPort, p.DstPort = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
			p.Payload = d.udp.Payload
		case layers.LayerTypeDNS:
			if p.Proto == ProtoUDP {
				p.DNS = &d.dns
			}
		case layers.LayerTypeDHCPv4:
			p.DHCP = &d.dhcp
		case layers.LayerTypeTLS, gopacket.LayerTypePayload:
			if p.Proto == ProtoTCP {
				p.App, p.SNI, p.HelloStatus = d.app.kind, d.app.sni, d.app.hello
				p.HTTP = d.app.http
			}
		}
	}
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

func (d *Decoder) fillARP(p *Packet) {
	a := &d.arp
	p.ARP = true
	p.ARPOp = a.Operation
	if a.AddrType != layers.LinkTypeEthernet || a.Protocol != layers.EthernetTypeIPv4 ||
		len(a.SourceHwAddress) != 6 || len(a.SourceProtAddress) != 4 || len(a.DstProtAddress) != 4 {
		return
	}
	copy(p.ARPSenderMAC[:], a.SourceHwAddress)
	p.ARPSenderIP = netip.AddrFrom4([4]byte(a.SourceProtAddress))
	p.ARPTarget = netip.AddrFrom4([4]byte(a.DstProtAddress))
}

func (d *Decoder) fillTCP(p *Packet) {
	t := &d.tcp
	p.SrcPort, p.DstPort = uint16(t.SrcPort), uint16(t.DstPort)
	p.Seq, p.Ack = t.Seq, t.Ack
	var f uint8
	if t.FIN {
		f |= FlagFIN
	}
	if t.SYN {
		f |= FlagSYN
	}
	if t.RST {
		f |= FlagRST
	}
	if t.PSH {
		f |= FlagPSH
	}
	if t.ACK {
		f |= FlagACK
	}
	p.TCPFlags = f
	p.Payload = t.Payload
}

// appClass is what appLayer decodes: TCP payloads on TLS ports and on
// ports gopacket knows nothing about. Classifying by content, not port,
// finds TLS and HTTP on any port.
var appClass = gopacket.NewLayerClass([]gopacket.LayerType{layers.LayerTypeTLS, gopacket.LayerTypePayload})

// appLayer is a DecodingLayer for the start of a TCP payload: a TLS
// ClientHello (server name) or an HTTP request (request line and Host).
// It replaces gopacket's TLS layer, which allocates per record and cannot
// see a ClientHello split across segments; the inspector feeds split ones
// to ParseClientHello after reassembly.
type appLayer struct {
	kind    AppKind
	sni     []byte
	hello   HelloStatus
	http    HTTPRequest
	scratch []byte
}

// CanDecode implements gopacket.DecodingLayer.
func (a *appLayer) CanDecode() gopacket.LayerClass { return appClass }

// NextLayerType implements gopacket.DecodingLayer: the app layer is last.
func (a *appLayer) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

// LayerPayload implements gopacket.DecodingLayer.
func (a *appLayer) LayerPayload() []byte { return nil }

// DecodeFromBytes implements gopacket.DecodingLayer: it classifies the
// payload and parses a ClientHello or an HTTP request line in place.
func (a *appLayer) DecodeFromBytes(data []byte, _ gopacket.DecodeFeedback) error {
	a.kind, a.sni, a.hello, a.http = AppNone, nil, NotHello, HTTPRequest{}
	switch {
	case LooksLikeClientHello(data):
		a.kind = AppTLSClientHello
		a.sni, a.hello = ParseClientHello(data, a.scratch)
	case len(data) >= 3 && data[0] >= 0x14 && data[0] <= 0x17 && data[1] == 3 && data[2] <= 4:
		a.kind = AppTLSOther
	case LooksLikeHTTPRequest(data):
		if ParseHTTPRequest(data, &a.http) {
			a.kind = AppHTTPRequest
		}
	}
	return nil
}

// TLSRecordType returns the TLS content type of a payload that starts a
// TLS record (0x14 change cipher spec, 0x15 alert, 0x16 handshake, 0x17
// application data), or 0.
func TLSRecordType(b []byte) uint8 {
	if len(b) >= 3 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 3 && b[2] <= 4 {
		return b[0]
	}
	return 0
}
