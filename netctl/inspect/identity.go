package inspect

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/branchgw/branchgw/netctl/inspect/wire"
	"github.com/gopacket/gopacket/layers"
)

// observe updates the device that sent p and returns it (nil for the
// gateway itself and group addresses).
func (in *Inspector) observe(p *wire.Packet, ts int64, n int) *device {
	mac := p.SrcMAC
	if mac[0]&1 != 0 || in.isSelf(mac) {
		return nil
	}
	dev, isNew := in.devs.get(mac, ts)
	if isNew {
		dev.term = findTerminal(in.terms, mac, netip.Addr{})
	}
	dev.last = ts
	dev.bytes += uint64(n)
	dev.pkts++
	in.deviceIP(dev, p.Src.Unmap(), ts)
	return dev
}

// deviceIP associates ip with dev when it is a plausible own address.
func (in *Inspector) deviceIP(dev *device, ip netip.Addr, ts int64) {
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || in.isSelfIP(ip) {
		return
	}
	if ip.Is4() && in.s.lan.IsValid() && !in.s.lan.Contains(ip) && !ip.IsLinkLocalUnicast() {
		// Not on the LAN: a device routing for others, or spoofing.
		return
	}
	if !dev.addIP(ip) {
		return
	}
	dev.changed = ts
	if dev.term < 0 {
		dev.term = findTerminal(in.terms, dev.mac, ip)
	}
	if dev.term < 0 && !dev.alarmed && in.s.posSubnet.IsValid() && in.s.posSubnet.Contains(ip) {
		dev.alarmed = true
		in.alarm(Alarm{Kind: AlarmNewDevice, Time: time.Unix(0, ts), MAC: macString(dev.mac), IP: ip,
			Detail: fmt.Sprintf("unknown device %s %s (%s) on the POS subnet %s", macString(dev.mac), ip, vendorOr(dev.vendor), in.s.posSubnet)})
	}
}

func vendorOr(v string) string {
	if v == "" {
		return "vendor unknown"
	}
	return v
}

func (in *Inspector) arp(p *wire.Packet, ts int64) {
	if !p.ARPSenderIP.IsValid() || in.isSelf(p.ARPSenderMAC) || p.ARPSenderMAC[0]&1 != 0 {
		return
	}
	dev, isNew := in.devs.get(p.ARPSenderMAC, ts)
	if isNew {
		dev.term = findTerminal(in.terms, dev.mac, netip.Addr{})
	}
	dev.last = ts
	in.deviceIP(dev, p.ARPSenderIP, ts)
}

// dns learns IP -> name from answers and checks which resolver queries go to.
func (in *Inspector) dns(p *wire.Packet, f *flow, d int, ts int64) {
	m := p.DNS
	if !m.QR {
		if d == fromClient && p.DstPort == 53 {
			in.checkResolver(p, ts)
		}
		return
	}
	if m.ResponseCode != layers.DNSResponseCodeNoErr || len(m.Questions) == 0 || !wire.ValidHostname(m.Questions[0].Name) {
		return
	}
	in.c.dnsAnswers++
	name := in.apps.names.intern(m.Questions[0].Name)
	if in.onName != nil {
		in.onName(Name{Kind: "dns", Name: name, Time: time.Unix(0, ts), Client: f.client(), Server: f.server()})
	}
	cat, _ := in.s.categories.match(name)
	changed := false
	for i := range m.Answers {
		a := &m.Answers[i]
		if a.Class != layers.DNSClassIN || (a.Type != layers.DNSTypeA && a.Type != layers.DNSTypeAAAA) {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		until := ts + max(int64(a.TTL)*int64(time.Second), minDNSHold)
		if cat == CategoryPayment {
			until = max(until, ts+paymentHold)
		}
		if in.apps.learn(ip, name, cat, until) {
			changed = true
		}
	}
	if changed {
		in.notifyPayment()
	}
}

// checkResolver raises the resolver alarm once per device and resolver.
func (in *Inspector) checkResolver(p *wire.Packet, ts int64) {
	r := p.Dst.Unmap()
	if len(in.s.resolvers) == 0 || in.s.resolvers[r] || r.IsMulticast() || in.isSelf(p.SrcMAC) {
		return
	}
	k := resolverUse{mac: p.SrcMAC, resolver: r}
	if in.resolverSeen[k] {
		return
	}
	if len(in.resolverSeen) >= maxAlarmKeys {
		clear(in.resolverSeen)
	}
	in.resolverSeen[k] = true
	in.alarm(Alarm{Kind: AlarmDNSResolver, Time: time.Unix(0, ts), MAC: macString(p.SrcMAC), IP: p.Src.Unmap(), Peer: r,
		Detail: fmt.Sprintf("%s sends DNS queries to %s, not to the store's resolver", p.Src.Unmap(), r)})
}

func (in *Inspector) dhcp(p *wire.Packet, dev *device, ts int64) {
	m := p.DHCP
	in.c.dhcp++
	if len(m.ClientHWAddr) != 6 {
		return
	}
	mac := [6]byte(m.ClientHWAddr)
	if m.Operation == layers.DHCPOpRequest {
		if dev == nil || dev.mac != mac {
			return // relayed, or someone speaking for another MAC
		}
		host, fp, class, _ := dhcpFacts(m)
		if host != "" && host != dev.hostname || fp != "" && fp != dev.fingerprint || class != "" && class != dev.class {
			dev.changed = ts
		}
		if host != "" {
			dev.hostname = host
		}
		if fp != "" {
			dev.fingerprint = fp
		}
		if class != "" {
			dev.class = class
		}
		return
	}
	_, _, _, typ := dhcpFacts(m)
	if typ != layers.DHCPMsgTypeAck {
		return
	}
	ip, ok := netip.AddrFromSlice(m.YourClientIP)
	if !ok {
		return
	}
	client, isNew := in.devs.get(mac, ts)
	if isNew {
		client.term = findTerminal(in.terms, mac, netip.Addr{})
	}
	in.deviceIP(client, ip.Unmap(), ts)
}

// checkPOS raises the destination alarm when a terminal's flow goes
// somewhere that is neither a payment host nor allowlisted.
func (in *Inspector) checkPOS(f *flow, ts int64) {
	if f.checked || f.term < 0 {
		return
	}
	f.checked = true
	peer := f.server()
	if in.posAllowed(f, peer) {
		return
	}
	k := posDest{term: f.term, peer: peer}
	if in.posDestSeen[k] {
		return
	}
	if len(in.posDestSeen) >= maxAlarmKeys {
		clear(in.posDestSeen)
	}
	in.posDestSeen[k] = true
	t := &in.terms[f.term]
	name := f.name
	shown := peer.String()
	if name != "" {
		shown = fmt.Sprintf("%s (%s)", name, peer)
	}
	in.alarm(Alarm{Kind: AlarmPOSDestination, Time: time.Unix(0, ts), Terminal: t.name, IP: f.client(),
		Peer: peer, Name: name, Detail: fmt.Sprintf("terminal %s talks to %s port %d, which is not on its allowlist", t.name, shown, f.serverPort())})
}

func (in *Inspector) posAllowed(f *flow, peer netip.Addr) bool {
	s := in.s
	if in.isSelfIP(peer) || peer.IsMulticast() || peer.IsLinkLocalUnicast() || peer == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	if s.lan.IsValid() && s.lan.Contains(peer) {
		return true
	}
	if s.resolvers[peer] && f.serverPort() == 53 {
		return true
	}
	if in.isPayment(f) {
		return true
	}
	for _, p := range s.allowPrefixes {
		if p.Contains(peer) {
			return true
		}
	}
	if f.name != "" {
		if _, ok := s.allowDomains.match(f.name); ok {
			return true
		}
	}
	return false
}

// judge re-evaluates a terminal and raises an alarm when its health flips.
func (in *Inspector) judge(i int16, ts int64) {
	t := &in.terms[i]
	bad, why := t.judge(in.s)
	if bad == t.degraded {
		t.reason = why
		return
	}
	t.degraded, t.reason = bad, why
	a := Alarm{Kind: AlarmPOSDegraded, Time: time.Unix(0, ts), Terminal: t.name, IP: t.ip, Detail: "terminal " + t.name + ": " + why}
	if t.hasMAC {
		a.MAC = macString(t.mac)
	}
	if !bad {
		a.Kind, a.Detail = AlarmPOSRecovered, "terminal "+t.name+" is healthy again"
	}
	in.alarm(a)
}
