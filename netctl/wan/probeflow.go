package wan

import (
	"net/netip"
	"net/url"
	"strconv"

	"github.com/branchgw/branchgw/gateway/config"
)

// ProbeFlow is what one probe puts on the wire: its destination, IP
// protocol and destination port (0 for ICMP). QoS gives these flows the
// top class in both directions, so the store's own traffic filling a line
// never starves the probes that judge it.
type ProbeFlow struct {
	Addr  netip.Addr
	Proto uint8
	Port  uint16
}

// IP protocol numbers of the probes.
const (
	protoICMP = 1
	protoTCP  = 6
	protoUDP  = 17
)

// ProbeFlows lists the flows of every probe of wans whose target is an
// IPv4 address (an HTTP probe by host name has no fixed address), each
// once.
func ProbeFlows(wans []config.WAN) []ProbeFlow {
	var out []ProbeFlow
	seen := map[ProbeFlow]bool{}
	for _, w := range wans {
		for _, p := range w.Probes {
			f, ok := probeFlow(p)
			if ok && f.Addr.Is4() && !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out
}

func probeFlow(p config.Probe) (ProbeFlow, bool) {
	switch p.Type {
	case "icmp":
		a, err := netip.ParseAddr(p.Target)
		return ProbeFlow{Addr: a, Proto: protoICMP}, err == nil
	case "tcp":
		ap, err := netip.ParseAddrPort(p.Target)
		return ProbeFlow{Addr: ap.Addr(), Proto: protoTCP, Port: ap.Port()}, err == nil
	case "dns":
		if a, err := netip.ParseAddr(p.Target); err == nil {
			return ProbeFlow{Addr: a, Proto: protoUDP, Port: 53}, true
		}
		ap, err := netip.ParseAddrPort(p.Target)
		return ProbeFlow{Addr: ap.Addr(), Proto: protoUDP, Port: ap.Port()}, err == nil
	case "http":
		u, err := url.Parse(p.Target)
		if err != nil {
			return ProbeFlow{}, false
		}
		a, err := netip.ParseAddr(u.Hostname())
		if err != nil {
			return ProbeFlow{}, false
		}
		port := 80
		if u.Scheme == "https" {
			port = 443
		}
		if s := u.Port(); s != "" {
			if port, err = strconv.Atoi(s); err != nil {
				return ProbeFlow{}, false
			}
		}
		return ProbeFlow{Addr: a, Proto: protoTCP, Port: uint16(port)}, true
	}
	return ProbeFlow{}, false
}
