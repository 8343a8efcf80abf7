//go:build linux

package zones

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The desired state is computed from the config alone (build) and applied in
// one transaction (apply.go); nothing in it depends on which WAN is active,
// so a failover never needs a firewall change.

// Set names. payment and allow_<zone> are filled from DNS answers with
// per-element timeouts; pos_unlisted is filled by the kernel itself.
const (
	setPayment     = "payment"
	setPOSUnlisted = "pos_unlisted"
	setAllowPrefix = "allow_"
)

// unlistedTTL is how long a POS destination that is not allowlisted is
// remembered: the alarm for it fires once per this period at most.
const unlistedTTL = time.Hour

// setSize bounds the learned-address sets (payment, allow_<zone>).
const setSize = 4096

type chainSpec struct {
	Name   string
	Hook   *nftables.ChainHook
	Prio   *nftables.ChainPriority
	Type   nftables.ChainType
	Policy *nftables.ChainPolicy
}

type setSpec struct {
	Name   string
	Key    nftables.SetDatatype
	Concat bool
	Size   uint32
}

type ruleSpec struct {
	Chain string
	Name  string // catalog name
	Zone  string // zone, WAN or interface the rule is about; may be empty
	Exprs []expr.Any
}

// comment is the kernel rule's comment: how a rule read back is recognised.
func (r ruleSpec) comment() string {
	if r.Zone == "" {
		return r.Name
	}
	return r.Name + " " + r.Zone
}

// ruleset is the complete desired content of the owned table.
type ruleset struct {
	Table  string
	Chains []chainSpec
	Sets   []setSpec
	Rules  []ruleSpec
}

func policy(p nftables.ChainPolicy) *nftables.ChainPolicy { return &p }

// build computes the ruleset for a validated config.
func build(table string, c Config) *ruleset {
	rs := &ruleset{Table: table}
	add := func(chain, name, zone string, parts ...match) {
		rs.Rules = append(rs.Rules, ruleSpec{Chain: chain, Name: name, Zone: zone, Exprs: join(parts...)})
	}
	stmt := func(e ...expr.Any) match { return match(e) }
	accepted := stmt(counter(), accept())
	dropped := stmt(counter(), drop())

	rs.Chains = []chainSpec{
		// raw priority: spoofed packets are dropped before conntrack
		// creates state for them.
		{Name: "guard", Hook: nftables.ChainHookPrerouting, Prio: nftables.ChainPriorityRaw, Type: nftables.ChainTypeFilter, Policy: policy(nftables.ChainPolicyAccept)},
		{Name: "input", Hook: nftables.ChainHookInput, Prio: nftables.ChainPriorityFilter, Type: nftables.ChainTypeFilter, Policy: policy(nftables.ChainPolicyDrop)},
		{Name: "forward", Hook: nftables.ChainHookForward, Prio: nftables.ChainPriorityFilter, Type: nftables.ChainTypeFilter, Policy: policy(nftables.ChainPolicyDrop)},
		{Name: "postrouting", Hook: nftables.ChainHookPostrouting, Prio: nftables.ChainPriorityNATSource, Type: nftables.ChainTypeNAT, Policy: policy(nftables.ChainPolicyAccept)},
	}
	for _, z := range c.Zones {
		rs.Chains = append(rs.Chains, chainSpec{Name: "in_" + z.Name}, chainSpec{Name: "fwd_" + z.Name})
	}
	rs.Sets = []setSpec{
		{Name: setPayment, Key: nftables.TypeIPAddr, Size: setSize},
		{Name: setPOSUnlisted, Key: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr), Concat: true, Size: 1024},
	}
	for _, z := range c.Zones {
		if len(z.AllowDomains) > 0 {
			rs.Sets = append(rs.Sets, setSpec{Name: setAllowPrefix + z.Name, Key: nftables.TypeIPAddr, Size: setSize})
		}
	}

	// guard: anti-spoofing, per LAN interface (zones may share one) and
	// per WAN.
	add("guard", ruleDHCP, "", ipv4(), saddrIn(netip.MustParsePrefix("0.0.0.0/32")), dport(unix.IPPROTO_UDP, 67), stmt(accept()))
	for _, ifc := range lanInterfaces(c) {
		m := match(join(iifname(ifc), ipv4()))
		var names []string
		for _, z := range c.Zones {
			if z.Interface == ifc {
				m = append(m, saddrNotIn(z.Subnet)...)
				names = append(names, z.Name)
			}
		}
		add("guard", ruleAntiSpoof, strings.Join(names, ","), m, dropped)
	}
	for _, w := range c.WANs {
		for _, z := range c.Zones {
			add("guard", ruleAntiSpoof, w, iifname(w), ipv4(), saddrIn(z.Subnet), dropped)
		}
	}

	// input: the box itself.
	established := ctState(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED)
	add("input", ruleReplies, "", established, accepted)
	add("input", ruleInvalid, "", ctState(expr.CtStateBitINVALID), dropped)
	add("input", ruleLoopback, "", iifname("lo"), stmt(accept()))
	add("input", ruleIPv6ND, "", nfproto(unix.NFPROTO_IPV6), icmpType(unix.IPPROTO_ICMPV6, 133, 136), stmt(accept()))
	for _, ifc := range lanInterfaces(c) {
		add("input", ruleDHCP, ifc, iifname(ifc), ipv4(), dport(unix.IPPROTO_UDP, 67), accepted)
	}
	for _, z := range c.Zones {
		add("input", ruleDispatch, z.Name, iifname(z.Interface), ipv4(), saddrIn(z.Subnet), stmt(jump("in_"+z.Name)))
	}
	for _, w := range c.WANs {
		add("input", ruleWANIn, w, iifname(w), dropped)
	}
	add("input", ruleUnmatched, "", dropped)

	for _, z := range c.Zones {
		ch := "in_" + z.Name
		add(ch, ruleBoxServices, z.Name, dport(unix.IPPROTO_UDP, 53), accepted)
		add(ch, ruleBoxServices, z.Name, dport(unix.IPPROTO_TCP, 53), accepted)
		add(ch, ruleBoxServices, z.Name, dport(unix.IPPROTO_UDP, 123), accepted)
		if z.Name != "guest" {
			add(ch, ruleBoxServices, z.Name, icmpType(unix.IPPROTO_ICMP, 8, 8), accepted)
		}
		if z.Name == "office" {
			for _, sp := range []netip.AddrPort{c.StatusPage, c.StatusRedirect} {
				if sp.IsValid() {
					add(ch, ruleStatusPage, z.Name, daddrIn(netip.PrefixFrom(sp.Addr(), 32)), dport(unix.IPPROTO_TCP, sp.Port()), accepted)
				}
			}
		}
		add(ch, ruleBoxRefused, z.Name, dropped)
	}

	// forward: between zones and out to the internet.
	add("forward", ruleReplies, "", established, accepted)
	add("forward", ruleInvalid, "", ctState(expr.CtStateBitINVALID), dropped)
	for _, z := range c.Zones {
		add("forward", ruleDispatch, z.Name, iifname(z.Interface), ipv4(), saddrIn(z.Subnet), stmt(jump("fwd_"+z.Name)))
	}
	for _, w := range c.WANs {
		add("forward", ruleWANIn, w, iifname(w), dropped)
	}
	add("forward", ruleUnmatched, "", dropped)

	for _, z := range c.Zones {
		ch := "fwd_" + z.Name
		for _, a := range z.Allow {
			add(ch, ruleZoneAllow, z.Name, daddrIn(a), accepted)
		}
		if len(z.AllowDomains) > 0 {
			add(ch, ruleZoneAllow, z.Name, daddrInSet(setAllowPrefix+z.Name), accepted)
		}
		for _, w := range c.WANs {
			switch z.Name {
			case "pos":
				// Only through a WAN: a DNS answer naming a store
				// address never opens a path to another zone.
				add(ch, rulePOSPayment, w, oifname(w), daddrInSet(setPayment), accepted)
				add(ch, rulePOSNTP, w, oifname(w), dport(unix.IPPROTO_UDP, 123), accepted)
				if z.Strict {
					add(ch, rulePOSStrict, w, oifname(w), remember(setPOSUnlisted, unlistedTTL), dropped)
				} else {
					add(ch, rulePOSAlarm, w, oifname(w), remember(setPOSUnlisted, unlistedTTL), accepted)
				}
			default:
				add(ch, ruleInternet, z.Name+"/"+w, oifname(w), accepted)
			}
		}
		add(ch, ruleIsolation, z.Name, dropped)
	}

	for _, w := range c.WANs {
		add("postrouting", ruleMasquerade, w, oifname(w), ipv4(), stmt(counter(), &expr.Masq{}))
	}
	return rs
}

// lanInterfaces lists the zones' interfaces once each, in config order.
func lanInterfaces(c Config) []string {
	var out []string
	for _, z := range c.Zones {
		if !slices.Contains(out, z.Interface) {
			out = append(out, z.Interface)
		}
	}
	return out
}
