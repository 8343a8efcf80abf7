package inspect

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/branchgw/branchgw/gateway/config"
)

// Config is what the inspector needs from gatewayd's configuration.
type Config struct {
	Inspect config.Inspect
	POS     config.POS
	// LAN is the box's LAN address and prefix (lan.address): addresses in
	// the prefix are store devices, the address itself is the gateway.
	LAN netip.Prefix
	// POSSubnet is the pos zone's subnet: a device there that is not a
	// configured terminal raises the new-device alarm.
	POSSubnet netip.Prefix
	// POSAllow is the pos zone's allowlist (CIDR, IP or domain) besides
	// the payment domains.
	POSAllow []string
}

// ConfigFrom picks the inspector's part of a validated configuration.
func ConfigFrom(c *config.Config) Config {
	cfg := Config{Inspect: c.Inspect, POS: c.POS}
	if p, err := netip.ParsePrefix(c.LAN.Address); err == nil {
		cfg.LAN = p
	}
	for _, z := range c.Zones {
		if z.Name != "pos" {
			continue
		}
		if p, err := netip.ParsePrefix(z.Subnet); err == nil {
			cfg.POSSubnet = p.Masked()
		}
		cfg.POSAllow = z.Allow
	}
	return cfg
}

// Category names the inspector gives meaning to.
const (
	// CategoryPayment marks payment processor hosts: their IPs form the
	// payment IP set.
	CategoryPayment = "payment"
)

// settings is Config compiled for the hot path.
type settings struct {
	maxFlows, maxDevices int
	idle                 int64 // ns
	reasmBytes           int
	categories           domainMatcher
	resolvers            map[netip.Addr]bool
	self                 netip.Addr
	lan                  netip.Prefix
	posSubnet            netip.Prefix
	allowPrefixes        []netip.Prefix
	allowDomains         domainMatcher
	terminals            []config.POSDevice
	handshakeAlarm       int64 // ns
	retransAlarm         float64
}

func compile(c Config) (*settings, error) {
	in := c.Inspect
	s := &settings{
		maxFlows:       in.MaxFlows,
		maxDevices:     in.MaxDevices,
		idle:           int64(in.FlowIdleTimeout),
		reasmBytes:     int(in.ReassemblyBytes),
		resolvers:      map[netip.Addr]bool{},
		lan:            c.LAN.Masked(),
		posSubnet:      c.POSSubnet.Masked(),
		terminals:      c.POS.Devices,
		handshakeAlarm: int64(c.POS.HandshakeAlarm),
		retransAlarm:   float64(c.POS.RetransmitAlarmPercent) / 100,
	}
	d := config.Defaults()
	if s.maxFlows <= 0 {
		s.maxFlows = d.Inspect.MaxFlows
	}
	if s.maxDevices <= 0 {
		s.maxDevices = d.Inspect.MaxDevices
	}
	if s.idle <= 0 {
		s.idle = int64(d.Inspect.FlowIdleTimeout)
	}
	if s.reasmBytes <= 0 {
		s.reasmBytes = int(d.Inspect.ReassemblyBytes)
	}
	if s.handshakeAlarm <= 0 {
		s.handshakeAlarm = int64(d.POS.HandshakeAlarm)
	}
	if s.retransAlarm <= 0 {
		s.retransAlarm = float64(d.POS.RetransmitAlarmPercent) / 100
	}
	if c.LAN.IsValid() {
		s.self = c.LAN.Addr()
	}
	for dom, cat := range in.Categories {
		s.categories.add(dom, cat)
	}
	// Payment domains are a category too; they win over a clash in
	// inspect.categories because the payment IP set depends on them.
	for _, dom := range c.POS.PaymentDomains {
		s.categories.add(dom, CategoryPayment)
		s.allowDomains.add(dom, "allow")
	}
	for i, r := range in.Resolvers {
		a, err := netip.ParseAddr(r)
		if err != nil {
			return nil, fmt.Errorf("inspect.resolvers[%d]: %w", i, err)
		}
		s.resolvers[a.Unmap()] = true
	}
	if len(s.resolvers) == 0 && s.self.IsValid() {
		s.resolvers[s.self] = true
	}
	for i, a := range c.POSAllow {
		if p, err := netip.ParsePrefix(a); err == nil {
			s.allowPrefixes = append(s.allowPrefixes, p.Masked())
		} else if ip, err := netip.ParseAddr(a); err == nil {
			s.allowPrefixes = append(s.allowPrefixes, netip.PrefixFrom(ip, ip.BitLen()))
		} else if strings.Contains(a, ".") {
			s.allowDomains.add(a, "allow")
		} else {
			return nil, fmt.Errorf("pos allow[%d]: %q: not a CIDR, IP or domain", i, a)
		}
	}
	for i, t := range c.POS.Devices {
		if t.MAC != "" {
			if _, err := net.ParseMAC(t.MAC); err != nil {
				return nil, fmt.Errorf("pos.devices[%d].mac: %w", i, err)
			}
		}
		if t.IP != "" {
			if _, err := netip.ParseAddr(t.IP); err != nil {
				return nil, fmt.Errorf("pos.devices[%d].ip: %w", i, err)
			}
		}
	}
	return s, nil
}

// domainMatcher maps domains to values: "a.example" matches that name,
// "*.a.example" every name below it.
type domainMatcher struct {
	exact  map[string]string
	suffix map[string]string
}

func (m *domainMatcher) add(domain, v string) {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if m.exact == nil {
		m.exact, m.suffix = map[string]string{}, map[string]string{}
	}
	if rest, ok := strings.CutPrefix(domain, "*."); ok {
		m.suffix[rest] = v
		return
	}
	m.exact[domain] = v
}

// match looks name (lower case) up, the most specific entry first. It
// allocates nothing: the lookups use substrings of name.
func (m *domainMatcher) match(name string) (string, bool) {
	if v, ok := m.exact[name]; ok {
		return v, true
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			if v, ok := m.suffix[name[i+1:]]; ok {
				return v, true
			}
		}
	}
	return "", false
}
