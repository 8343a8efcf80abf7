// Package craft builds Ethernet frames with gopacket's serialization for the
// inspector's tests, fuzz seeds and benchmarks.
package craft

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Endpoint is one side of a crafted conversation.
type Endpoint struct {
	MAC  net.HardwareAddr
	IP   netip.Addr
	Port uint16
}

// EP is shorthand for an Endpoint; it panics on a bad literal (tests only).
func EP(mac, ip string, port uint16) Endpoint {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	return Endpoint{MAC: hw, IP: netip.MustParseAddr(ip), Port: port}
}

// TCP describes one TCP segment.
type TCP struct {
	SYN, ACK, FIN, RST, PSH bool
	Seq, Ack                uint32
	Payload                 []byte
}

// Opts are link-level extras for a frame.
type Opts struct {
	VLAN uint16 // 0: untagged
}

// Frame serializes eth [/ dot1q] / ip / l4 / payload.
func Frame(src, dst Endpoint, o Opts, l4 gopacket.SerializableLayer, payload []byte) []byte {
	eth := &layers.Ethernet{SrcMAC: src.MAC, DstMAC: dst.MAC}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	var ipType layers.EthernetType
	var ip gopacket.NetworkLayer
	var ipl gopacket.SerializableLayer
	proto := layers.IPProtocolTCP
	if _, ok := l4.(*layers.UDP); ok {
		proto = layers.IPProtocolUDP
	}
	if src.IP.Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.IP.AsSlice(), DstIP: dst.IP.AsSlice()}
		ip, ipl, ipType = v4, v4, layers.EthernetTypeIPv4
	} else {
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.IP.AsSlice(), DstIP: dst.IP.AsSlice()}
		ip, ipl, ipType = v6, v6, layers.EthernetTypeIPv6
	}
	if o.VLAN != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: o.VLAN, Type: ipType})
	} else {
		eth.EthernetType = ipType
	}
	ls = append(ls, ipl)
	switch t := l4.(type) {
	case *layers.TCP:
		_ = t.SetNetworkLayerForChecksum(ip)
	case *layers.UDP:
		_ = t.SetNetworkLayerForChecksum(ip)
	}
	ls = append(ls, l4, gopacket.Payload(payload))
	return serialize(ls...)
}

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		panic(fmt.Sprintf("craft: serialize: %v", err))
	}
	return bytes.Clone(buf.Bytes())
}

// TCPFrame builds a TCP segment from src to dst.
func TCPFrame(src, dst Endpoint, o Opts, s TCP) []byte {
	t := &layers.TCP{SrcPort: layers.TCPPort(src.Port), DstPort: layers.TCPPort(dst.Port),
		SYN: s.SYN, ACK: s.ACK, FIN: s.FIN, RST: s.RST, PSH: s.PSH, Seq: s.Seq, Ack: s.Ack, Window: 65535}
	return Frame(src, dst, o, t, s.Payload)
}

// UDPFrame builds a UDP datagram from src to dst.
func UDPFrame(src, dst Endpoint, o Opts, payload []byte) []byte {
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port), DstPort: layers.UDPPort(dst.Port)}
	return Frame(src, dst, o, u, payload)
}

// DNSQuery is the wire form of a query for name (type A).
func DNSQuery(id uint16, name string) []byte {
	d := &layers.DNS{ID: id, RD: true, Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	return serialize(d)
}

// DNSAnswer is the wire form of a response mapping name to ips (A or AAAA),
// through an optional CNAME.
func DNSAnswer(id uint16, name, cname string, ttl uint32, ips ...netip.Addr) []byte {
	d := &layers.DNS{ID: id, QR: true, RD: true, RA: true,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	owner := name
	if cname != "" {
		d.Answers = append(d.Answers, layers.DNSResourceRecord{Name: []byte(name), Type: layers.DNSTypeCNAME,
			Class: layers.DNSClassIN, TTL: ttl, CNAME: []byte(cname)})
		owner = cname
	}
	for _, ip := range ips {
		rr := layers.DNSResourceRecord{Name: []byte(owner), Class: layers.DNSClassIN, TTL: ttl, IP: ip.AsSlice()}
		rr.Type = layers.DNSTypeA
		if ip.Is6() {
			rr.Type = layers.DNSTypeAAAA
		}
		d.Answers = append(d.Answers, rr)
	}
	return serialize(d)
}

// DHCPRequest is a DHCPv4 REQUEST from mac with a hostname and a
// parameter request list (the fingerprint).
func DHCPRequest(mac net.HardwareAddr, hostname string, params []byte, vendorClass string) []byte {
	d := &layers.DHCPv4{Operation: layers.DHCPOpRequest, HardwareType: layers.LinkTypeEthernet,
		HardwareLen: 6, Xid: 0x1234, ClientHWAddr: mac}
	d.Options = append(d.Options,
		layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(layers.DHCPMsgTypeRequest)}),
		layers.NewDHCPOption(layers.DHCPOptHostname, []byte(hostname)),
		layers.NewDHCPOption(layers.DHCPOptParamsRequest, params))
	if vendorClass != "" {
		d.Options = append(d.Options, layers.NewDHCPOption(layers.DHCPOptClassID, []byte(vendorClass)))
	}
	d.Options = append(d.Options, layers.NewDHCPOption(layers.DHCPOptEnd, nil))
	return serialize(d)
}

// DHCPAck is a DHCPv4 ACK giving ip to mac.
func DHCPAck(mac net.HardwareAddr, ip netip.Addr) []byte {
	d := &layers.DHCPv4{Operation: layers.DHCPOpReply, HardwareType: layers.LinkTypeEthernet,
		HardwareLen: 6, Xid: 0x1234, ClientHWAddr: mac, YourClientIP: ip.AsSlice()}
	d.Options = append(d.Options,
		layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(layers.DHCPMsgTypeAck)}),
		layers.NewDHCPOption(layers.DHCPOptEnd, nil))
	return serialize(d)
}

// ARP builds an ARP request (op 1) or reply (op 2) from src about target.
func ARP(src Endpoint, op uint16, target netip.Addr) []byte {
	eth := &layers.Ethernet{SrcMAC: src.MAC, DstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EthernetType: layers.EthernetTypeARP}
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: op, SourceHwAddress: src.MAC, SourceProtAddress: src.IP.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice()}
	return serialize(eth, a)
}

// ClientHello builds a TLS 1.2-format ClientHello for sni (no SNI when
// empty), padded with a padding extension until the handshake message is at
// least minLen bytes, split into TLS records of at most recordSize body
// bytes (0: one record). It is what the inspector must parse whatever the
// record and segment boundaries.
func ClientHello(sni string, minLen, recordSize int) []byte {
	var ext []byte
	if sni != "" {
		n := len(sni)
		ext = binary.BigEndian.AppendUint16(ext, 0) // server_name
		ext = binary.BigEndian.AppendUint16(ext, uint16(n+5))
		ext = binary.BigEndian.AppendUint16(ext, uint16(n+3))
		ext = append(ext, 0)
		ext = binary.BigEndian.AppendUint16(ext, uint16(n))
		ext = append(ext, sni...)
	}
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...)          // random
	body = append(body, 0)                            // session id
	body = append(body, 0, 4, 0x13, 0x01, 0x13, 0x02) // two suites
	body = append(body, 1, 0)                         // null compression
	fixed := len(body) + 2 + len(ext) + 4
	if pad := minLen - 4 - fixed; pad > 0 {
		ext = binary.BigEndian.AppendUint16(ext, 21) // padding
		ext = binary.BigEndian.AppendUint16(ext, uint16(pad))
		ext = append(ext, make([]byte, pad)...)
	}
	body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
	body = append(body, ext...)
	msg := []byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	msg = append(msg, body...)
	if recordSize <= 0 {
		recordSize = len(msg)
	}
	var out []byte
	for len(msg) > 0 {
		n := min(recordSize, len(msg))
		out = append(out, 0x16, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

// GoClientHello returns the first flight of Go's crypto/tls client for sni:
// with Go 1.26's default X25519MLKEM768 key share it is about 1.8 KB,
// larger than one Ethernet MSS.
func GoClientHello(sni string) []byte {
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		cl := tls.Client(c, &tls.Config{ServerName: sni, MinVersion: tls.VersionTLS13})
		_ = cl.SetDeadline(time.Now().Add(5 * time.Second))
		_ = cl.Handshake() // fails when s closes; only the hello matters
		c.Close()
	}()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		panic(fmt.Sprintf("craft: read ClientHello: %v", err))
	}
	body := make([]byte, int(binary.BigEndian.Uint16(hdr[3:])))
	if _, err := io.ReadFull(s, body); err != nil {
		panic(fmt.Sprintf("craft: read ClientHello: %v", err))
	}
	return append(hdr, body...)
}
