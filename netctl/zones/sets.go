//go:build linux

package zones

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/google/nftables"
)

// Learned-address lifetimes. A DNS TTL is raised to MinTTL because card
// terminals often cache an answer longer than its TTL and must still reach
// the host; it is capped at MaxTTL so a stale address leaves the allowlist.
// A flow already open is unaffected by expiry: conntrack carries it.
const (
	MinTTL = 15 * time.Minute
	MaxTTL = 24 * time.Hour
)

func clampTTL(ttl time.Duration) time.Duration {
	return min(max(ttl, MinTTL), MaxTTL)
}

// AddPaymentIP allows POS to reach a payment host's address for ttl (a DNS
// answer's TTL, clamped to [MinTTL, MaxTTL]). Adding an address already
// present refreshes its lifetime. IPv6 addresses are ignored: the zones
// route IPv4 only. DNS snooping (netctl/inspect) calls it for
// answers to pos.payment_domains; QoS is fed the same addresses.
func (f *Firewall) AddPaymentIP(ip netip.Addr, ttl time.Duration) error {
	return f.addIPs(setPayment, map[netip.Addr]time.Duration{ip: ttl}, false)
}

// SetPaymentIPs replaces the payment set with ips (address to TTL) in one
// transaction, e.g. after the snooper restarts with a saved table.
func (f *Firewall) SetPaymentIPs(ips map[netip.Addr]time.Duration) error {
	return f.addIPs(setPayment, ips, true)
}

// AddZoneIP allows zone to reach ip for ttl: the DNS answers for domains in
// that zone's zones[].allow.
func (f *Firewall) AddZoneIP(zone string, ip netip.Addr, ttl time.Duration) error {
	f.mu.Lock()
	z, ok := f.cfg.zone(zone)
	f.mu.Unlock()
	if !ok || len(z.AllowDomains) == 0 {
		return fmt.Errorf("zones: zone %q has no allow domains to learn addresses for", zone)
	}
	return f.addIPs(setAllowPrefix+zone, map[netip.Addr]time.Duration{ip: ttl}, false)
}

func (f *Firewall) addIPs(set string, ips map[netip.Addr]time.Duration, replace bool) error {
	elems := make([]nftables.SetElement, 0, len(ips))
	for ip, ttl := range ips {
		switch {
		case !ip.IsValid():
			return fmt.Errorf("zones: set %s: an invalid address", set)
		case !ip.Is4() && !ip.Is4In6():
			continue // AAAA answers: no IPv6 path exists to allow
		}
		a := ip.Unmap().As4()
		elems = append(elems, nftables.SetElement{Key: a[:], Timeout: clampTTL(ttl)})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.k.conn()
	if err != nil {
		return err
	}
	s := &nftables.Set{Table: table(f.table), Name: set, KeyType: nftables.TypeIPAddr, HasTimeout: true}
	if replace {
		c.FlushSet(s)
	}
	if !replace && len(elems) == 0 {
		return nil
	}
	if len(elems) > setSize {
		return fmt.Errorf("zones: set %s: %d addresses, more than the set's %d", set, len(elems), setSize)
	}
	if len(elems) > 0 {
		if err := c.SetAddElements(s, elems); err != nil {
			return fmt.Errorf("zones: set %s: %w", set, err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("zones: set %s: add %d addresses: %w", set, len(elems), err)
	}
	return nil
}
