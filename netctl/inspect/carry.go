package inspect

import (
	"net/netip"
	"slices"
	"time"
)

// DNSAnswer is an address a DNS answer gave for a name, held until Until.
type DNSAnswer struct {
	Addr  netip.Addr
	Name  string
	Until time.Time
}

// Answers returns the DNS answers this inspector holds, for the inspector
// that replaces it after a config change (see Learn). Call it once Run has
// returned: the tables belong to the capture goroutine.
func (in *Inspector) Answers() []DNSAnswer {
	out := make([]DNSAnswer, 0, len(in.apps.dns))
	for ip, e := range in.apps.dns {
		out = append(out, DNSAnswer{Addr: ip, Name: e.name, Until: time.Unix(0, e.until)})
	}
	slices.SortFunc(out, func(a, b DNSAnswer) int { return a.Addr.Compare(b.Addr) })
	return out
}

// Learn takes over the answers of the inspector this one replaces,
// categorised by this one's config, and hands the payment set on at once.
// Without it a rebuilt inspector starts empty, and its first payment
// answer would replace the firewall's set with that one address: the
// tills' other processors, whose answers they cached, would be refused
// until they asked DNS again. With it, a domain the new config adds to
// pos.payment_domains joins the set from the answers already seen, and one
// it removes leaves it. Call it before Run.
func (in *Inspector) Learn(answers []DNSAnswer) {
	now := in.deps.Now().UnixNano()
	for _, a := range answers {
		until := a.Until.UnixNano()
		if until < now || !a.Addr.IsValid() {
			continue
		}
		name := in.apps.names.intern([]byte(a.Name))
		cat, _ := in.s.categories.match(name)
		if cat == CategoryPayment {
			// The hold a payment answer gets (see identity.go), counted
			// from now: the old config may not have held it.
			until = max(until, now+paymentHold)
		}
		in.apps.learn(a.Addr, name, cat, until)
	}
	in.notifyPayment()
}
