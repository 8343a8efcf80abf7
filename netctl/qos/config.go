package qos

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/branchgw/branchgw/gateway/config"
)

// Class names, highest priority first.
const (
	ClassPOS         = "pos"
	ClassInteractive = "interactive"
	ClassDefault     = "default"
	ClassBulk        = "bulk"
	ClassGuest       = "guest"
)

// classOrder fixes each class's HTB minor id and priority: pos is 1:10
// with prio 0, guest 1:50 with prio 4.
var classOrder = []string{ClassPOS, ClassInteractive, ClassDefault, ClassBulk, ClassGuest}

// Config is the QoS view of gatewayd's configuration, parsed and checked.
type Config struct {
	Enabled bool
	// MarginPercent is shaved off each WAN's upload rate.
	MarginPercent int
	// DownloadMarginPercent is shaved off the download rate. Downloads are
	// shaped after the modem's queue, so the senders must be held enough
	// below the line that it stays empty: with 10% in the lab a standing
	// queue of tens of milliseconds remained, with 20% none.
	DownloadMarginPercent int
	Classes               []Class
	Rules                 []Rule
	WANs                  []WAN
	// POSIPs and POSMACs are the terminals; their traffic is pos.
	POSIPs  []netip.Addr
	POSMACs []net.HardwareAddr
	// GuestSubnets are mapped to the guest class.
	GuestSubnets []netip.Prefix
	// Probes are the WAN health probes' flows: the gateway's own packets
	// to them and their answers ride in the pos class, so a line the store
	// fills still answers its probes and is not judged dead.
	Probes []Probe
}

// Probe is one probe flow: destination, IP protocol (1, 6 or 17) and
// destination port (0 for ICMP).
type Probe struct {
	Addr  netip.Addr
	Proto uint8
	Port  uint16
}

func (p Probe) String() string {
	if p.Port == 0 {
		return protoName(p.Proto) + " " + p.Addr.String()
	}
	return fmt.Sprintf("%s %s:%d", protoName(p.Proto), p.Addr, p.Port)
}

// Class is one traffic class's share of the shaped rate.
type Class struct {
	Name        string
	RatePercent int
	CeilPercent int
}

// Rule puts matching traffic into a class. Ports are destination ports
// on upload and source ports on download.
type Rule struct {
	Class string
	// Proto is "tcp", "udp" or "" for both.
	Proto string
	Ports []PortRange
	// DSCP is the code point to match, or -1 for any.
	DSCP int
}

// PortRange is an inclusive port range; a single port has Lo == Hi.
type PortRange struct{ Lo, Hi uint16 }

func (p PortRange) String() string {
	if p.Lo == p.Hi {
		return strconv.Itoa(int(p.Lo))
	}
	return fmt.Sprintf("%d-%d", p.Lo, p.Hi)
}

// WAN is one uplink's interface and line rates in bit/s.
type WAN struct {
	Name      string
	Interface string
	Up, Down  uint64
	Metered   bool
}

// FromConfig maps the daemon's config to a QoS Config. The daemon's
// validation has run already; this still refuses what would make a
// broken plan, with the config path in the error.
func FromConfig(c *config.Config) (Config, error) {
	q := Config{Enabled: c.QoS.Enabled, MarginPercent: c.QoS.MarginPercent, DownloadMarginPercent: c.QoS.DownloadMarginPercent}
	var errs []error
	for _, cl := range c.QoS.Classes {
		q.Classes = append(q.Classes, Class(cl))
	}
	for i, r := range c.QoS.Rules {
		rule := Rule{Class: r.Class, Proto: r.Proto, DSCP: -1}
		for j, s := range r.Ports {
			pr, err := parsePortRange(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("qos.rules[%d].ports[%d]: %w", i, j, err))
			}
			rule.Ports = append(rule.Ports, pr)
		}
		if r.DSCP != "" {
			d, ok := config.DSCP(r.DSCP)
			if !ok {
				errs = append(errs, fmt.Errorf("qos.rules[%d].dscp: %q: not a DSCP name or number", i, r.DSCP))
			}
			rule.DSCP = d
		}
		q.Rules = append(q.Rules, rule)
	}
	for _, w := range c.WAN {
		q.WANs = append(q.WANs, WAN{Name: w.Name, Interface: w.Interface, Up: uint64(w.RateUp), Down: uint64(w.RateDown), Metered: w.Metered})
	}
	for i, d := range c.POS.Devices {
		if d.IP != "" {
			a, err := netip.ParseAddr(d.IP)
			if err != nil || !a.Is4() {
				errs = append(errs, fmt.Errorf("pos.devices[%d].ip: %q: not an IPv4 address", i, d.IP))
			} else {
				q.POSIPs = append(q.POSIPs, a)
			}
		}
		if d.MAC != "" {
			m, err := net.ParseMAC(d.MAC)
			if err != nil || len(m) != 6 {
				errs = append(errs, fmt.Errorf("pos.devices[%d].mac: %q: not an Ethernet MAC", i, d.MAC))
			} else {
				q.POSMACs = append(q.POSMACs, m)
			}
		}
	}
	for i, z := range c.Zones {
		if z.Name != "guest" || z.Subnet == "" {
			continue
		}
		p, err := netip.ParsePrefix(z.Subnet)
		if err != nil || !p.Addr().Is4() {
			errs = append(errs, fmt.Errorf("zones[%d].subnet: %q: not an IPv4 prefix", i, z.Subnet))
			continue
		}
		q.GuestSubnets = append(q.GuestSubnets, p.Masked())
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return q, q.Check()
}

// Check refuses a Config the planner cannot build: unknown or doubled
// classes, a rule naming a missing class, percentages out of range, a
// WAN without rates.
func (q Config) Check() error {
	var errs []error
	if q.MarginPercent < 0 || q.MarginPercent > 50 {
		errs = append(errs, fmt.Errorf("qos.margin_percent: %d: want 0-50", q.MarginPercent))
	}
	if q.DownloadMarginPercent < 0 || q.DownloadMarginPercent > 50 {
		errs = append(errs, fmt.Errorf("qos.download_margin_percent: %d: want 0-50", q.DownloadMarginPercent))
	}
	seen := map[string]bool{}
	for i, cl := range q.Classes {
		p := fmt.Sprintf("qos.classes[%d]", i)
		switch {
		case classMinor(cl.Name) == 0:
			errs = append(errs, fmt.Errorf("%s.name: %q: not one of %s", p, cl.Name, strings.Join(classOrder, ", ")))
		case seen[cl.Name]:
			errs = append(errs, fmt.Errorf("%s.name: %q: defined twice", p, cl.Name))
		}
		seen[cl.Name] = true
		if cl.RatePercent < 1 || cl.CeilPercent < cl.RatePercent || cl.CeilPercent > 100 {
			errs = append(errs, fmt.Errorf("%s: rate %d%% ceil %d%%: want 1 <= rate <= ceil <= 100", p, cl.RatePercent, cl.CeilPercent))
		}
	}
	if q.Enabled {
		for _, need := range []string{ClassPOS, ClassDefault} {
			if !seen[need] {
				errs = append(errs, fmt.Errorf("qos.classes: the %q class is required", need))
			}
		}
	}
	for i, r := range q.Rules {
		if !seen[r.Class] {
			errs = append(errs, fmt.Errorf("qos.rules[%d].class: %q: not a defined class", i, r.Class))
		}
		if r.Proto != "" && r.Proto != "tcp" && r.Proto != "udp" {
			errs = append(errs, fmt.Errorf("qos.rules[%d].proto: %q: want tcp, udp or empty", i, r.Proto))
		}
		if r.DSCP > 63 {
			errs = append(errs, fmt.Errorf("qos.rules[%d].dscp: %d: want 0-63", i, r.DSCP))
		}
		if len(r.Ports) == 0 && r.DSCP < 0 {
			errs = append(errs, fmt.Errorf("qos.rules[%d]: matches nothing: give ports or dscp", i))
		}
	}
	for i, p := range q.Probes {
		if !p.Addr.Is4() || (p.Proto != 1 && p.Proto != 6 && p.Proto != 17) || (p.Proto == 1) != (p.Port == 0) {
			errs = append(errs, fmt.Errorf("probe flow %d: %s proto %d port %d: want IPv4, icmp without a port or tcp/udp with one", i, p.Addr, p.Proto, p.Port))
		}
	}
	for i, w := range q.WANs {
		if w.Name == "" || w.Interface == "" || len(w.Interface) > 15 {
			errs = append(errs, fmt.Errorf("wan[%d]: needs a name and an interface name of at most 15 bytes", i))
		}
		if q.Enabled && (w.Up < 64e3 || w.Down < 64e3) {
			errs = append(errs, fmt.Errorf("wan[%d] (%s): rate_up and rate_down of at least 64kbit are needed to shape", i, w.Name))
		}
	}
	return errors.Join(errs...)
}

// WAN returns the uplink called name.
func (q Config) WAN(name string) (WAN, bool) {
	for _, w := range q.WANs {
		if w.Name == name {
			return w, true
		}
	}
	return WAN{}, false
}

func parsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || a == 0 {
		return PortRange{}, fmt.Errorf("%q: not a port or range", s)
	}
	if !isRange {
		return PortRange{uint16(a), uint16(a)}, nil
	}
	b, err := strconv.ParseUint(hi, 10, 16)
	if err != nil || b < a {
		return PortRange{}, fmt.Errorf("%q: not a port or range", s)
	}
	return PortRange{uint16(a), uint16(b)}, nil
}

// classMinor is the HTB minor id of a class (0x10 for pos), 0 if unknown.
func classMinor(name string) uint16 {
	for i, n := range classOrder {
		if n == name {
			return uint16(0x10 * (i + 1))
		}
	}
	return 0
}

// classPrio is a class's HTB priority (0 is served first).
func classPrio(name string) uint32 {
	return uint32(classMinor(name)/0x10) - 1
}
