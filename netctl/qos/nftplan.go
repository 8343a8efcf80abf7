package qos

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Names inside the QoS nftables table.
const (
	DefaultTable = "branchgw_qos"
	chainName    = "classify"
	probeChain   = "probes"
	setPOSIP     = "pos_ip"
	setPOSMAC    = "pos_mac"
	setPayment   = "payment"
	dscpEF       = 46
	// smallTCP bounds a pure ACK: 20 bytes of IP, 20 of TCP and at most
	// 40 of options (timestamps, SACK blocks).
	smallTCP = 80
)

// Ruleset is the whole QoS nftables table: a forward chain at mangle
// priority that sets meta priority (the HTB class) on packets leaving
// through the active WAN. Later rules override earlier ones, so the order
// is: port and DSCP rules, payment set, guest subnet, POS devices. An
// output chain does the same for the gateway's own WAN probes.
type Ruleset struct {
	Table   string
	WANDev  string
	POSIPs  []netip.Addr
	POSMACs []net.HardwareAddr
	Payment []PaymentIP
	Rules   []NftRule
	// Probes are the output chain's rules (none: no output chain).
	Probes []NftRule
}

// PaymentIP is one element of the payment set and how long it has left.
type PaymentIP struct {
	Addr    netip.Addr
	Timeout time.Duration
}

// NftRule is one classification rule: every set match field must match,
// then it sets the priority and, optionally, the DSCP.
type NftRule struct {
	Comment string
	Proto   uint8 // 6, 17 or 0 for any
	DPorts  PortRange
	DSCP    int // -1: any
	// LenMax matches IPv4 packets whose total length is at most it (0: any).
	LenMax uint16
	SAddr  netip.Prefix
	DAddr  netip.Prefix
	// SAddrSet, DAddrSet and EtherSet name a set the source address,
	// destination address or source MAC must be in.
	SAddrSet, DAddrSet, EtherSet string
	// IfPriority matches packets already given this priority (0: any).
	IfPriority uint32
	// SetPriority is the HTB class to set (0: none).
	SetPriority uint32
	// SetDSCP rewrites the DSCP, keeping the ECN bits (-1: no).
	SetDSCP int
}

func (r NftRule) String() string {
	var m []string
	if r.Proto != 0 {
		m = append(m, "meta l4proto "+protoName(r.Proto))
	}
	if r.DPorts != (PortRange{}) {
		m = append(m, "th dport "+r.DPorts.String())
	}
	if r.DSCP >= 0 {
		m = append(m, fmt.Sprintf("ip dscp %d", r.DSCP))
	}
	if r.LenMax != 0 {
		m = append(m, fmt.Sprintf("ip length <= %d", r.LenMax))
	}
	if r.SAddr.IsValid() {
		m = append(m, "ip saddr "+r.SAddr.String())
	}
	if r.DAddr.IsValid() {
		m = append(m, "ip daddr "+r.DAddr.String())
	}
	if r.SAddrSet != "" {
		m = append(m, "ip saddr @"+r.SAddrSet)
	}
	if r.DAddrSet != "" {
		m = append(m, "ip daddr @"+r.DAddrSet)
	}
	if r.EtherSet != "" {
		m = append(m, "ether saddr @"+r.EtherSet)
	}
	if r.IfPriority != 0 {
		m = append(m, "meta priority "+fmtHandle(r.IfPriority))
	}
	m = append(m, "counter")
	if r.SetPriority != 0 {
		m = append(m, "meta priority set "+fmtHandle(r.SetPriority))
	}
	if r.SetDSCP >= 0 {
		m = append(m, fmt.Sprintf("ip dscp set %d", r.SetDSCP))
	}
	return strings.Join(m, " ") + " comment \"" + r.Comment + "\""
}

func protoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	}
	return fmt.Sprint(p)
}

// String renders the table in nft syntax, for tests and the diagnostics
// bundle.
func (rs Ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", rs.Table)
	fmt.Fprintf(&b, "  set %s { type ipv4_addr; elements = {%s} }\n", setPOSIP, join(rs.POSIPs))
	fmt.Fprintf(&b, "  set %s { type ether_addr; elements = {%s} }\n", setPOSMAC, join(rs.POSMACs))
	var pay []string
	for _, p := range rs.Payment {
		pay = append(pay, fmt.Sprintf("%s timeout %s", p.Addr, p.Timeout))
	}
	fmt.Fprintf(&b, "  set %s { type ipv4_addr; flags timeout; elements = {%s} }\n", setPayment, strings.Join(pay, ", "))
	fmt.Fprintf(&b, "  chain %s { type filter hook forward priority mangle; policy accept;\n", chainName)
	fmt.Fprintf(&b, "    oifname != %q return\n", rs.WANDev)
	for _, r := range rs.Rules {
		fmt.Fprintf(&b, "    %s\n", r)
	}
	b.WriteString("  }\n")
	if len(rs.Probes) > 0 {
		fmt.Fprintf(&b, "  chain %s { type filter hook output priority mangle; policy accept;\n", probeChain)
		fmt.Fprintf(&b, "    oifname != %q return\n", rs.WANDev)
		for _, r := range rs.Probes {
			fmt.Fprintf(&b, "    %s\n", r)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func join[T fmt.Stringer](xs []T) string {
	var s []string
	for _, x := range xs {
		s = append(s, x.String())
	}
	return strings.Join(s, ", ")
}

// PlanRuleset computes the nftables table for traffic leaving wanDev.
func PlanRuleset(cfg Config, table, wanDev string, payment []PaymentIP) Ruleset {
	rs := Ruleset{Table: table, WANDev: wanDev, POSIPs: cfg.POSIPs, POSMACs: cfg.POSMACs, Payment: payment}
	prio := func(class string) uint32 { return mkHandle(htbMajor, classMinor(class)) }
	for i, r := range cfg.Rules {
		comment := fmt.Sprintf("rule %d: %s", i, r.Class)
		base := NftRule{Comment: comment, DSCP: r.DSCP, SetPriority: prio(r.Class), SetDSCP: -1}
		if len(r.Ports) == 0 {
			rs.Rules = append(rs.Rules, base)
			continue
		}
		for _, p := range protos(r.Proto) {
			for _, pr := range r.Ports {
				nr := base
				nr.Proto, nr.DPorts = p, pr
				rs.Rules = append(rs.Rules, nr)
			}
		}
	}
	if classIndex(cfg.Classes, ClassInteractive) >= 0 {
		// A download's ACKs leave through this shaper: queued behind the
		// store's uploads they stretch the download's round trip, and a
		// loss-based sender then leaves much of the line idle (44 % of it
		// in TestPOSLatencyUnderLoad on the tbf fallback). They are tiny.
		rs.Rules = append(rs.Rules, NftRule{Comment: "small tcp (acks)", Proto: 6, DSCP: -1, LenMax: smallTCP,
			SetPriority: prio(ClassInteractive), SetDSCP: -1})
	}
	pos := prio(ClassPOS)
	rs.Rules = append(rs.Rules, NftRule{Comment: "payment processors", DSCP: -1, DAddrSet: setPayment, SetPriority: pos, SetDSCP: -1})
	if classIndex(cfg.Classes, ClassGuest) >= 0 {
		for _, g := range cfg.GuestSubnets {
			rs.Rules = append(rs.Rules, NftRule{Comment: "guest lan", DSCP: -1, SAddr: g, SetPriority: prio(ClassGuest), SetDSCP: -1})
		}
	}
	rs.Rules = append(rs.Rules,
		NftRule{Comment: "pos devices by ip", DSCP: -1, SAddrSet: setPOSIP, SetPriority: pos, SetDSCP: -1},
		NftRule{Comment: "pos devices by mac", DSCP: -1, EtherSet: setPOSMAC, SetPriority: pos, SetDSCP: -1},
		// Marked EF so the ISP and the acquirer's network can prioritise
		// it too.
		NftRule{Comment: "pos marked EF", DSCP: -1, IfPriority: pos, SetDSCP: dscpEF})
	for _, p := range cfg.Probes {
		r := NftRule{Comment: "probe " + p.String(), Proto: p.Proto, DSCP: -1, DAddr: netip.PrefixFrom(p.Addr, 32), SetPriority: pos, SetDSCP: -1}
		if p.Port != 0 {
			r.DPorts = PortRange{p.Port, p.Port}
		}
		rs.Probes = append(rs.Probes, r)
	}
	return rs
}

// rulesText is the table without the payment elements, whose timeouts
// tick down: it changes only when the classification does.
func (rs Ruleset) rulesText() string {
	rs.Payment = nil
	return rs.String()
}
