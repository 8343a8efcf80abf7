// Package kernelreq is the one list of kernel features gatewayd needs: the
// qdiscs, classifiers and actions of netctl/qos, the nftables expressions of
// netctl/zones and netctl/qos, and the sockets and devices of the rest.
//
// The firmware's kernel config fragment (buildroot/board/common/linux.fragment)
// is checked against it by buildroot/check, and the QEMU smoke image loads
// its modules, so the code, the fragment and the image cannot drift apart:
// a package that starts using a qdisc or an nftables expression adds it here
// (its own test can assert that with Qdisc, Classifier, Action and NFTExpr).
package kernelreq

import "sort"

// Feature is one kernel capability.
type Feature struct {
	// Name is what the code calls it: a qdisc kind ("htb"), an nftables
	// expression ("ct"), a device ("ifb").
	Name string
	// Config is the Kconfig symbol without CONFIG_.
	Config string
	// Module is the module that provides it when Config is =m; empty when
	// the symbol is a bool that must be built in (=y).
	Module string
	// Why says who needs it.
	Why string
}

// Qdiscs are the queueing disciplines netctl/qos installs.
var Qdiscs = []Feature{
	{"htb", "NET_SCH_HTB", "sch_htb", "qos: the per-WAN class tree (pos, interactive, default, bulk, guest)"},
	{"fq_codel", "NET_SCH_FQ_CODEL", "sch_fq_codel", "qos: leaf queue of each class, keeps latency low under load"},
	{"cake", "NET_SCH_CAKE", "sch_cake", "qos: single-qdisc shaper where a WAN uses cake instead of htb"},
	{"ingress", "NET_SCH_INGRESS", "sch_ingress", "qos: download shaping redirects WAN ingress to an IFB"},
}

// Classifiers are the tc filters netctl/qos attaches.
var Classifiers = []Feature{
	{"u32", "NET_CLS_U32", "cls_u32", "qos: match-all redirect of WAN ingress to its IFB"},
	{"fw", "NET_CLS_FW", "cls_fw", "qos: classify by the packet mark nftables sets"},
}

// Actions are the tc actions netctl/qos uses.
var Actions = []Feature{
	{"mirred", "NET_ACT_MIRRED", "act_mirred", "qos: redirect WAN ingress to the IFB"},
	{"connmark", "NET_ACT_CONNMARK", "act_connmark", "qos: restore the flow's class mark on download traffic"},
}

// NFTExprs are the nftables expressions gatewayd's rulesets contain, by
// their kernel names. The ones in nf_tables itself name its module.
var NFTExprs = []Feature{
	{"payload", "NF_TABLES", "nf_tables", "zones, qos: address, port and DSCP matches"},
	{"cmp", "NF_TABLES", "nf_tables", "zones, qos: every comparison"},
	{"bitwise", "NF_TABLES", "nf_tables", "zones: subnet and ct state masks"},
	{"meta", "NF_TABLES", "nf_tables", "zones, qos: iifname, oifname, mark, nfproto, l4proto, priority"},
	{"immediate", "NF_TABLES", "nf_tables", "zones: verdicts (accept, drop, jump, goto, return)"},
	{"lookup", "NF_TABLES", "nf_tables", "zones: allowlist and payment IP sets"},
	{"dynset", "NF_TABLES", "nf_tables", "zones: learned sets with timeouts"},
	{"range", "NF_TABLES", "nf_tables", "zones, qos: port ranges"},
	{"counter", "NF_TABLES", "nf_tables", "zones: per-rule packet and byte counters for the status page"},
	{"ct", "NFT_CT", "nft_ct", "zones: ct state, ct mark (WAN stickiness)"},
	{"masq", "NFT_MASQ", "nft_masq", "zones: masquerade out of the active WAN"},
	{"log", "NFT_LOG", "nft_log", "zones: log refused POS traffic"},
}

// Base are the rest: netfilter core, conntrack, routing, sockets, devices.
var Base = []Feature{
	{"inet tables", "NF_TABLES_INET", "", "zones: one inet table for IPv4 and IPv6"},
	{"ipv4 tables", "NF_TABLES_IPV4", "", "zones: ipv4 payloads in the inet table"},
	{"ipv6 tables", "NF_TABLES_IPV6", "", "zones: ipv6 payloads in the inet table"},
	{"nat chains", "NFT_NAT", "nft_chain_nat", "zones: the postrouting nat chain"},
	{"log backend", "NF_LOG_SYSLOG", "nf_log_syslog", "zones: where nft log writes"},
	{"nfnetlink", "NETFILTER_NETLINK", "nfnetlink", "zones, wan: nftables and conntrack over netlink"},
	{"conntrack", "NF_CONNTRACK", "nf_conntrack", "zones, wan: ct state and NAT"},
	{"ct mark", "NF_CONNTRACK_MARK", "", "wan: flows stay on the WAN they started on"},
	{"ct netlink", "NF_CT_NETLINK", "nf_conntrack_netlink", "wan: flush a failed WAN's flows"},
	{"policy routing", "IP_MULTIPLE_TABLES", "", "wan: per-WAN tables and fwmark rules"},
	{"tc actions", "NET_CLS_ACT", "", "qos: filters with actions"},
	{"ifb", "IFB", "ifb", "qos: download shaping"},
	{"af_packet", "PACKET", "af_packet", "inspect: LAN capture"},
	{"tun", "TUN", "tun", "image: the remote-support VPN client beside gatewayd"},
	{"watchdog", "WATCHDOG", "", "systemd's hardware watchdog: a hung box reboots and an unproven slot falls back"},
}

// All returns every feature.
func All() []Feature {
	var all []Feature
	for _, l := range [][]Feature{Qdiscs, Classifiers, Actions, NFTExprs, Base} {
		all = append(all, l...)
	}
	return all
}

func find(l []Feature, name string) (Feature, bool) {
	for _, f := range l {
		if f.Name == name {
			return f, true
		}
	}
	return Feature{}, false
}

// Qdisc returns the feature of a qdisc kind, if listed.
func Qdisc(kind string) (Feature, bool) { return find(Qdiscs, kind) }

// Classifier returns the feature of a tc filter kind, if listed.
func Classifier(kind string) (Feature, bool) { return find(Classifiers, kind) }

// Action returns the feature of a tc action kind, if listed.
func Action(kind string) (Feature, bool) { return find(Actions, kind) }

// NFTExpr returns the feature of an nftables expression, if listed.
func NFTExpr(name string) (Feature, bool) { return find(NFTExprs, name) }

// Configs returns every Kconfig symbol, sorted, each once.
func Configs() []string { return uniq(func(f Feature) string { return f.Config }) }

// Modules returns every module name, sorted, each once.
func Modules() []string { return uniq(func(f Feature) string { return f.Module }) }

func uniq(key func(Feature) string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range All() {
		if k := key(f); k != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
