package wan

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Routing layout (defaults; all of it is in Layout):
//
//	5000+10i  from <wan i address>          lookup table(i)   replies and sockets bound to a WAN
//	5050      lookup main suppress_prefixlength 0           LAN and connected routes, never main's default
//	5100+10i  fwmark mark(i)/mask           lookup table(i)   connections pinned to the WAN they started on
//	5200      lookup active                                 new connections: the active WAN
//
// table(i) holds "default via <gateway> dev <wan i>"; the active table
// holds a copy of the active WAN's default route, replaced in one netlink
// call on failover. The priorities are spaced so an admin can slot rules
// between them. Marks are set by the nftables table (connmark.go).

// Layout names the kernel objects the WAN manager owns.
type Layout struct {
	// RulePriority is the first rule priority; rules use RulePriority to RulePriority+299.
	RulePriority int
	// TableActive is the active table; WAN i uses TableActive+1+i.
	TableActive int
	// MarkMask is the part of the packet and conntrack mark used; WAN i is (i+1)<<MarkShift.
	MarkMask  uint32
	MarkShift uint
	// NftTable is the name of the inet nftables table (connmark restore/save).
	NftTable string
}

// DefaultLayout is what gatewayd uses on the appliance.
var DefaultLayout = Layout{RulePriority: 5000, TableActive: 5100, MarkMask: 0xff00, MarkShift: 8, NftTable: "branchgw_wan"}

// Table is WAN i's route table.
func (l Layout) Table(i int) int { return l.TableActive + 1 + i }

// Mark is WAN i's mark.
func (l Layout) Mark(i int) uint32 { return uint32(i+1) << l.MarkShift & l.MarkMask }

func (l Layout) owns(prio int) bool { return prio >= l.RulePriority && prio < l.RulePriority+300 }

// Rule is one policy routing rule as the manager sees it.
type Rule struct {
	Priority int
	Table    int
	// From is a source address (zero: any).
	From netip.Addr
	// Mark/Mask match the fwmark (Mask zero: no match).
	Mark, Mask uint32
	// SuppressPrefixlen >= 0 ignores routes this short or shorter (-1: unset).
	SuppressPrefixlen int
}

// String is the rule in `ip rule` syntax (for logs and table tests).
func (r Rule) String() string {
	s := fmt.Sprintf("ip rule add priority %d", r.Priority)
	if r.From.IsValid() {
		s += " from " + r.From.String()
	}
	if r.Mask != 0 {
		s += fmt.Sprintf(" fwmark %#x/%#x", r.Mark, r.Mask)
	}
	s += " lookup " + tableName(r.Table)
	if r.SuppressPrefixlen >= 0 {
		s += fmt.Sprintf(" suppress_prefixlength %d", r.SuppressPrefixlen)
	}
	return s
}

func tableName(t int) string {
	if t == mainTable {
		return "main"
	}
	return fmt.Sprint(t)
}

const mainTable = 254

// Route is a default route in one of the manager's tables: through one
// gateway, or (weighted mode) through several nexthops.
type Route struct {
	Table int
	// Gateway may be zero for point-to-point links (LTE modems as wwan0).
	Gateway netip.Addr
	Dev     string
	// Nexthops, when set, replace Gateway and Dev: a multipath route whose
	// weights share out new connections.
	Nexthops []Nexthop
}

// Nexthop is one path of a multipath route.
type Nexthop struct {
	Gateway netip.Addr
	Dev     string
	Weight  int
}

// String is the route in `ip route` syntax.
func (r Route) String() string {
	s := fmt.Sprintf("ip route replace table %d default", r.Table)
	if len(r.Nexthops) > 0 {
		for _, n := range r.Nexthops {
			s += " nexthop"
			if n.Gateway.IsValid() {
				s += " via " + n.Gateway.String()
			}
			s += fmt.Sprintf(" dev %s weight %d", n.Dev, n.Weight)
		}
		return s
	}
	if r.Gateway.IsValid() {
		s += " via " + r.Gateway.String()
	}
	return s + " dev " + r.Dev
}

func sameRoute(a, b Route) bool { return a.String() == b.String() }

// Link is what the manager knows of one WAN's link, learned from netlink.
type Link struct {
	Dev     string
	Addr    netip.Addr
	Gateway netip.Addr
	// Present is false while the interface does not exist.
	Present bool
}

// Desired is the routing state the manager wants in the kernel.
type Desired struct {
	Rules  []Rule
	Routes []Route
}

// desired computes the rules and routes for the links and the active WAN;
// weights (weighted mode) give each WAN carrying new connections its
// share, and with two or more such WANs the active table gets a multipath
// route. A WAN whose interface is missing gets no route (the kernel would
// refuse it); rules stay, they are harmless without routes.
func (l Layout) desired(links []Link, active int, weights []int) Desired {
	var d Desired
	for i, k := range links {
		if k.Addr.IsValid() {
			d.Rules = append(d.Rules, Rule{Priority: l.RulePriority + 10*i, Table: l.Table(i), From: k.Addr, SuppressPrefixlen: -1})
		}
		d.Rules = append(d.Rules, Rule{Priority: l.RulePriority + 100 + 10*i, Table: l.Table(i), Mark: l.Mark(i), Mask: l.MarkMask, SuppressPrefixlen: -1})
		if k.Present {
			d.Routes = append(d.Routes, Route{Table: l.Table(i), Gateway: k.Gateway, Dev: k.Dev})
		}
	}
	d.Rules = append(d.Rules,
		Rule{Priority: l.RulePriority + 50, Table: mainTable, SuppressPrefixlen: 0},
		Rule{Priority: l.RulePriority + 200, Table: l.TableActive, SuppressPrefixlen: -1})
	var hops []Nexthop
	for i, w := range weights {
		if w > 0 && i < len(links) && links[i].Present {
			hops = append(hops, Nexthop{Gateway: links[i].Gateway, Dev: links[i].Dev, Weight: w})
		}
	}
	switch {
	case len(hops) > 1:
		d.Routes = append(d.Routes, Route{Table: l.TableActive, Nexthops: hops})
	case active >= 0 && active < len(links) && links[active].Present:
		k := links[active]
		d.Routes = append(d.Routes, Route{Table: l.TableActive, Gateway: k.Gateway, Dev: k.Dev})
	}
	slices.SortFunc(d.Rules, func(a, b Rule) int { return cmp.Compare(a.Priority, b.Priority) })
	return d
}

// tables lists every table the layout may use for n WANs.
func (l Layout) tables(n int) []int {
	t := []int{l.TableActive}
	for i := range n {
		t = append(t, l.Table(i))
	}
	return t
}

// Ops are the kernel calls the manager makes. The netlink implementation
// talks to the kernel; the recorder in tests keeps state in memory and
// writes every call as a line of `ip` syntax.
type Ops interface {
	// Rules lists the rules with priorities the layout owns.
	Rules() ([]Rule, error)
	AddRule(Rule) error
	DelRule(Rule) error
	// Routes lists the default routes of a table.
	Routes(table int) ([]Route, error)
	// ReplaceRoute sets a table's default route in one call.
	ReplaceRoute(Route) error
	DelRoute(Route) error
}

// sync makes the kernel match d: missing rules and routes are added,
// changed routes replaced, foreign entries in the owned ranges removed.
// Running it twice does nothing the second time, and running it after
// someone deleted a rule puts the rule back.
func (l Layout) sync(ops Ops, d Desired, nWAN int) (changes int, err error) {
	var errs []error
	cur, err := ops.Rules()
	if err != nil {
		return 0, fmt.Errorf("list rules: %w", err)
	}
	for _, r := range cur {
		if !slices.Contains(d.Rules, r) {
			if err := ops.DelRule(r); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r, err))
			}
			changes++
		}
	}
	for _, r := range d.Rules {
		if !slices.Contains(cur, r) {
			if err := ops.AddRule(r); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r, err))
			}
			changes++
		}
	}
	for _, t := range l.tables(nWAN) {
		have, err := ops.Routes(t)
		if err != nil {
			errs = append(errs, fmt.Errorf("list table %d: %w", t, err))
			continue
		}
		want := slices.IndexFunc(d.Routes, func(r Route) bool { return r.Table == t })
		for _, r := range have {
			if want < 0 || len(have) > 1 {
				if err := ops.DelRoute(r); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", r, err))
				}
				changes++
			}
		}
		if want >= 0 && (len(have) != 1 || !sameRoute(have[0], d.Routes[want])) {
			if err := ops.ReplaceRoute(d.Routes[want]); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", d.Routes[want], err))
			}
			changes++
		}
	}
	return changes, errors.Join(errs...)
}

// remove deletes everything the layout owns, for stop and `gatewayd cleanup`.
func (l Layout) remove(ops Ops, nWAN int) error {
	_, err := l.sync(ops, Desired{}, nWAN)
	return err
}
