//go:build linux

package zones

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/branchgw/branchgw/gateway/config"
)

// Config is what the firewall needs from gatewayd's configuration.
type Config struct {
	// WANs are the uplink interface names; any of them may carry a flow.
	WANs []string
	// Zones are the store segments.
	Zones []Zone
	// StatusPage is web.listen; the zero value means no page on the LAN.
	StatusPage netip.AddrPort
	// StatusRedirect is web.redirect_listen (plain HTTP that redirects to
	// the page), on the page's address; zero when there is none.
	StatusRedirect netip.AddrPort
}

// Zone is one store segment as the firewall sees it.
type Zone struct {
	// Name is pos, office or guest.
	Name      string
	Interface string
	Subnet    netip.Prefix
	// Strict (pos only) refuses destinations that are not allowlisted.
	Strict bool
	// Allow are extra destinations reachable from the zone.
	Allow []netip.Prefix
	// AllowDomains are zones[].allow domains; their DNS answers are fed in
	// with AddZoneIP.
	AllowDomains []string
}

// ConfigFrom takes the firewall's part of a validated gatewayd config.
func ConfigFrom(c *config.Config) (Config, error) {
	var out Config
	for _, w := range c.WAN {
		out.WANs = append(out.WANs, w.Interface)
	}
	for i, z := range c.Zones {
		sub, err := netip.ParsePrefix(z.Subnet)
		if err != nil {
			return Config{}, fmt.Errorf("zones[%d].subnet: %w", i, err)
		}
		zone := Zone{Name: z.Name, Interface: z.Interface, Subnet: sub, Strict: z.Strict}
		for j, a := range z.Allow {
			if p, err := netip.ParsePrefix(a); err == nil {
				zone.Allow = append(zone.Allow, p)
			} else if ip, err := netip.ParseAddr(a); err == nil {
				zone.Allow = append(zone.Allow, netip.PrefixFrom(ip, ip.BitLen()))
			} else if a != "" {
				zone.AllowDomains = append(zone.AllowDomains, a)
			} else {
				return Config{}, fmt.Errorf("zones[%d].allow[%d]: empty", i, j)
			}
		}
		out.Zones = append(out.Zones, zone)
	}
	if c.Web.Listen != "" {
		ap, err := netip.ParseAddrPort(c.Web.Listen)
		if err != nil {
			return Config{}, fmt.Errorf("web.listen: %w", err)
		}
		out.StatusPage = ap
	}
	if c.Web.RedirectListen != "" {
		ap, err := netip.ParseAddrPort(c.Web.RedirectListen)
		if err != nil {
			return Config{}, fmt.Errorf("web.redirect_listen: %w", err)
		}
		out.StatusRedirect = ap
	}
	return out, out.Validate()
}

// ErrConfig marks a configuration the firewall cannot enforce.
var ErrConfig = errors.New("zones: invalid config")

// Validate checks what the ruleset builder relies on. gateway/config
// validates most of it already; this repeats the checks that matter for
// safety so that a Config built by hand (tests, gwlab) is held to the same.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if len(c.WANs) == 0 {
		return bad("no WAN interface")
	}
	for i, w := range c.WANs {
		if !validIfname(w) {
			return bad("wan[%d]: %q is not an interface name", i, w)
		}
		if slices.Contains(c.WANs[:i], w) {
			return bad("wan[%d]: %q listed twice", i, w)
		}
	}
	seen := map[string]bool{}
	for i, z := range c.Zones {
		switch {
		case z.Name != "pos" && z.Name != "office" && z.Name != "guest":
			return bad("zones[%d]: name %q is not pos, office or guest", i, z.Name)
		case seen[z.Name]:
			return bad("zones[%d]: %q defined twice", i, z.Name)
		case !validIfname(z.Interface):
			return bad("zones[%d]: %q is not an interface name", i, z.Interface)
		case slices.Contains(c.WANs, z.Interface):
			return bad("zones[%d]: interface %q is a WAN", i, z.Interface)
		case !z.Subnet.IsValid() || !z.Subnet.Addr().Is4():
			// The zones route IPv4 only; IPv6 from the LAN is dropped by
			// the `unmatched` rule rather than half-filtered.
			return bad("zones[%d]: subnet %s: only IPv4 zones are supported", i, z.Subnet)
		case z.Subnet.Masked() != z.Subnet:
			return bad("zones[%d]: subnet %s has host bits set", i, z.Subnet)
		case z.Strict && z.Name != "pos":
			return bad("zones[%d]: only the pos zone has a strict mode", i)
		}
		for j, o := range c.Zones[:i] {
			if o.Subnet.Overlaps(z.Subnet) {
				return bad("zones[%d]: subnet %s overlaps zones[%d] (%s)", i, z.Subnet, j, o.Subnet)
			}
		}
		for j, a := range z.Allow {
			if !a.IsValid() || !a.Addr().Is4() {
				return bad("zones[%d].allow[%d]: %s: only IPv4 destinations are supported", i, j, a)
			}
		}
		seen[z.Name] = true
	}
	if c.StatusPage.IsValid() && !c.StatusPage.Addr().Is4() {
		return bad("web.listen %s: only an IPv4 status page is supported", c.StatusPage)
	}
	if c.StatusRedirect.IsValid() && c.StatusRedirect.Addr() != c.StatusPage.Addr() {
		return bad("web.redirect_listen %s: must be on the status page's address", c.StatusRedirect)
	}
	return nil
}

func validIfname(s string) bool {
	if s == "" || len(s) > 15 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '@'
		if !ok {
			return false
		}
	}
	return true
}

// zone returns the zone of that name.
func (c Config) zone(name string) (Zone, bool) {
	for _, z := range c.Zones {
		if z.Name == name {
			return z, true
		}
	}
	return Zone{}, false
}
