//go:build linux

package zones

// RuleInfo documents one named rule for the status page. Several kernel rules
// may carry the same name (one per zone or per WAN); the page shows them
// together with their summed counters.
type RuleInfo struct {
	// Name is the rule's short name, also the kernel rule's comment.
	Name string
	// Verdict is accept, drop, jump or masquerade.
	Verdict string
	// Doc says in one sentence what the rule is for.
	Doc string
}

// The named rules. The order is the order the page lists them in.
const (
	ruleReplies     = "replies"
	ruleInvalid     = "invalid"
	ruleLoopback    = "loopback"
	ruleIPv6ND      = "ipv6-nd"
	ruleDHCP        = "dhcp"
	ruleAntiSpoof   = "anti-spoof"
	ruleDispatch    = "dispatch"
	ruleWANIn       = "wan-in"
	ruleBoxServices = "box-services"
	ruleStatusPage  = "status-page"
	ruleBoxRefused  = "box-refused"
	ruleInternet    = "internet"
	ruleZoneAllow   = "zone-allow"
	rulePOSPayment  = "pos-payment"
	rulePOSNTP      = "pos-ntp"
	rulePOSStrict   = "pos-strict"
	rulePOSAlarm    = "pos-alarm"
	ruleIsolation   = "zone-isolation"
	ruleUnmatched   = "unmatched"
	ruleMasquerade  = "masquerade"
)

var catalog = []RuleInfo{
	{ruleReplies, "accept", "Packets of connections the box or a zone opened (conntrack established or related); the only way in from a WAN."},
	{ruleInvalid, "drop", "Packets conntrack cannot place in any connection (stray or out-of-window)."},
	{ruleLoopback, "accept", "The box talking to itself."},
	{ruleIPv6ND, "accept", "IPv6 neighbour and router discovery, which links need to work at all."},
	{ruleDHCP, "accept", "Store devices asking the box for an address (sent from 0.0.0.0 before they have one)."},
	{ruleAntiSpoof, "drop", "A source address that does not belong to the zone of the interface it arrived on, or a store address arriving from a WAN."},
	{ruleDispatch, "jump", "Sends a zone's packets (its interface and its subnet) to the zone's own chain."},
	{ruleWANIn, "drop", "Anything a WAN sends that is not a reply: the internet never opens a connection to the box or the store."},
	{ruleBoxServices, "accept", "Zones may use the box's DNS and NTP; office and POS may ping it."},
	{ruleStatusPage, "accept", "The office zone may open the technician's status page (web.listen, and web.redirect_listen)."},
	{ruleBoxRefused, "drop", "Anything else a zone sends to the box: guests never reach its management."},
	{ruleInternet, "accept", "Office and guest reach the internet through whichever WAN routes the flow."},
	{ruleZoneAllow, "accept", "Extra destinations from zones[].allow (addresses, and DNS answers for the domains listed there)."},
	{rulePOSPayment, "accept", "POS reaches payment hosts: addresses from DNS answers for pos.payment_domains, each expiring with its TTL, only through a WAN."},
	{rulePOSNTP, "accept", "POS may set its clock from NTP servers on the internet."},
	{rulePOSStrict, "drop", "POS traffic to any other internet destination (pos.strict); the destination is remembered and raised as an alarm."},
	{rulePOSAlarm, "accept", "POS traffic to destinations not allowlisted passes (pos.strict off) but raises an alarm naming the destination."},
	{ruleIsolation, "drop", "Traffic between zones: POS, office and guest never reach each other (PCI DSS segmentation)."},
	{ruleUnmatched, "drop", "What no rule above allowed (unknown interfaces and addresses, IPv6, which the zones do not route)."},
	{ruleMasquerade, "masquerade", "Store addresses leave with the address of the WAN that carries the flow, so failover needs no firewall change."},
}

// Catalog returns the documentation of every named rule.
func Catalog() []RuleInfo { return append([]RuleInfo(nil), catalog...) }

func ruleInfo(name string) (RuleInfo, bool) {
	for _, r := range catalog {
		if r.Name == name {
			return r, true
		}
	}
	return RuleInfo{}, false
}
