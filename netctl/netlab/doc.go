// Package netlab builds a whole retail branch in network namespaces and
// tears it down again: the store LAN (pos1, pos2, office, guest) behind the
// gateway (gw), two ISPs with shaped links (isp1, isp2), a core router and a
// cloud with test servers (echo, HTTP, DNS, mosquitto).
//
//	[pos1] [pos2] [office] [guest]    LAN 198.18.10.0/24, bridge lan0 in gw
//	          [ gw ]                  NAT out of wan1 and wan2
//	      wan1      wan2              198.18.1.0/24, 198.18.2.0/24
//	     [isp1]    [isp2]             shaped both ways (TBF), impairments
//	          [core]                  198.18.101.0/30, 198.18.102.0/30
//	          [cloud]                 198.18.200.0/30; services on
//	                                  198.51.100.0/24, 203.0.113.0/24, 192.0.2.0/24
//
// Every namespace is named "<prefix>-<node>" where the prefix is "bgl" plus
// four random hex digits, so parallel runs never collide. Links are created
// directly inside the lab's namespaces (never in the caller's), so deleting
// the namespaces removes every link, qdisc, route and nftables table with
// them; Close does that and Clean does it for the leftovers of a crashed run.
// Only addresses from 198.18.0.0/15 and the TEST-NETs are used, and nothing
// is routed out of the lab.
package netlab
