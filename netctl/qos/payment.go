package qos

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Payment set limits. A DNS TTL is respected, but not below MinPaymentTTL:
// a terminal that resolved its acquirer just before the TTL ran out still
// opens its connection afterwards, and that connection must stay pos.
const (
	MinPaymentTTL = time.Minute
	MaxPaymentTTL = 24 * time.Hour
	// MaxPaymentIPs bounds the set (one u32 filter per address on the IFB).
	MaxPaymentIPs = 256
)

// errPaymentFull is returned when the set holds MaxPaymentIPs live addresses.
var errPaymentFull = errors.New("payment set full")

// paymentSet is the payment processors' addresses with their expiry.
type paymentSet struct {
	exp map[netip.Addr]time.Time
}

func newPaymentSet() *paymentSet { return &paymentSet{exp: map[netip.Addr]time.Time{}} }

// clampTTL applies the floor and ceiling.
func clampTTL(ttl time.Duration) time.Duration { return min(max(ttl, MinPaymentTTL), MaxPaymentTTL) }

// add records a, valid for ttl from now. isNew says whether a was not in
// the set, refreshed whether its expiry moved (a kernel update is due).
func (p *paymentSet) add(a netip.Addr, ttl time.Duration, now time.Time) (isNew, refreshed bool, err error) {
	a = a.Unmap()
	if !a.Is4() || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() {
		return false, false, fmt.Errorf("payment ip %s: want a unicast IPv4 address", a)
	}
	p.expire(now)
	exp := now.Add(clampTTL(ttl))
	old, ok := p.exp[a]
	if !ok && len(p.exp) >= MaxPaymentIPs {
		return false, false, fmt.Errorf("payment ip %s: %w (%d addresses)", a, errPaymentFull, MaxPaymentIPs)
	}
	if ok && !exp.After(old) {
		return false, false, nil
	}
	p.exp[a] = exp
	return !ok, ok, nil
}

// expire drops what ran out and reports whether anything did.
func (p *paymentSet) expire(now time.Time) bool {
	n := len(p.exp)
	for a, e := range p.exp {
		if !e.After(now) {
			delete(p.exp, a)
		}
	}
	return len(p.exp) != n
}

// list returns the live addresses, sorted, with their time left.
func (p *paymentSet) list(now time.Time) []PaymentIP {
	var out []PaymentIP
	for a, e := range p.exp {
		if left := e.Sub(now); left > 0 {
			// nf_tables timeouts are whole milliseconds.
			out = append(out, PaymentIP{Addr: a, Timeout: max(left.Truncate(time.Millisecond), time.Millisecond)})
		}
	}
	slices.SortFunc(out, func(x, y PaymentIP) int { return x.Addr.Compare(y.Addr) })
	return out
}

// addrs returns the live addresses, sorted.
func (p *paymentSet) addrs(now time.Time) []netip.Addr {
	var out []netip.Addr
	for _, e := range p.list(now) {
		out = append(out, e.Addr)
	}
	return out
}
