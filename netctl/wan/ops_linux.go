//go:build linux

package wan

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkOps is Ops on the real kernel, through one netlink handle (which
// may belong to another network namespace, as in the lab).
type netlinkOps struct {
	h      *netlink.Handle
	layout Layout
}

func (o netlinkOps) Rules() ([]Rule, error) {
	list, err := o.h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	var out []Rule
	for _, r := range list {
		if !o.layout.owns(r.Priority) {
			continue
		}
		x := Rule{Priority: r.Priority, Table: r.Table, Mark: r.Mark, SuppressPrefixlen: r.SuppressPrefixlen}
		if r.Mask != nil {
			x.Mask = *r.Mask
		}
		if r.Src != nil {
			if a, ok := netip.AddrFromSlice(r.Src.IP); ok {
				x.From = a.Unmap()
			}
		}
		out = append(out, x)
	}
	return out, nil
}

func (o netlinkOps) nlRule(r Rule) *netlink.Rule {
	n := netlink.NewRule()
	n.Family = netlink.FAMILY_V4
	n.Priority = r.Priority
	n.Table = r.Table
	n.SuppressPrefixlen = r.SuppressPrefixlen
	if r.Mask != 0 {
		n.Mark = r.Mark
		mask := r.Mask
		n.Mask = &mask
	}
	if r.From.IsValid() {
		n.Src = &net.IPNet{IP: r.From.AsSlice(), Mask: net.CIDRMask(32, 32)}
	}
	return n
}

func (o netlinkOps) AddRule(r Rule) error {
	err := o.h.RuleAdd(o.nlRule(r))
	if errors.Is(err, syscall.EEXIST) {
		return nil
	}
	return err
}

func (o netlinkOps) DelRule(r Rule) error {
	err := o.h.RuleDel(o.nlRule(r))
	if errors.Is(err, syscall.ENOENT) {
		return nil // already gone: the goal is reached
	}
	return err
}

func (o netlinkOps) Routes(table int) ([]Route, error) {
	list, err := o.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, err
	}
	var out []Route
	for _, r := range list {
		if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
			continue
		}
		x := Route{Table: table}
		if r.Gw != nil {
			x.Gateway, _ = netip.AddrFromSlice(r.Gw.To4())
		}
		x.Dev = o.devName(r.LinkIndex)
		for _, nh := range r.MultiPath {
			n := Nexthop{Dev: o.devName(nh.LinkIndex), Weight: nh.Hops + 1}
			if nh.Gw != nil {
				n.Gateway, _ = netip.AddrFromSlice(nh.Gw.To4())
			}
			x.Nexthops = append(x.Nexthops, n)
		}
		out = append(out, x)
	}
	return out, nil
}

func (o netlinkOps) devName(index int) string {
	if index == 0 {
		return ""
	}
	if link, err := o.h.LinkByIndex(index); err == nil {
		return link.Attrs().Name
	}
	return ""
}

func (o netlinkOps) nlRoute(r Route) (*netlink.Route, error) {
	if len(r.Nexthops) > 0 {
		n := &netlink.Route{Table: r.Table, Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}}
		for _, hop := range r.Nexthops {
			link, err := o.h.LinkByName(hop.Dev)
			if err != nil {
				return nil, fmt.Errorf("dev %s: %w", hop.Dev, err)
			}
			nh := &netlink.NexthopInfo{LinkIndex: link.Attrs().Index, Hops: max(hop.Weight, 1) - 1}
			if hop.Gateway.IsValid() {
				nh.Gw = hop.Gateway.AsSlice()
			}
			n.MultiPath = append(n.MultiPath, nh)
		}
		return n, nil
	}
	link, err := o.h.LinkByName(r.Dev)
	if err != nil {
		return nil, fmt.Errorf("dev %s: %w", r.Dev, err)
	}
	n := &netlink.Route{
		Table: r.Table, LinkIndex: link.Attrs().Index,
		Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
	}
	if r.Gateway.IsValid() {
		n.Gw = r.Gateway.AsSlice()
	} else {
		n.Scope = netlink.SCOPE_LINK
	}
	return n, nil
}

func (o netlinkOps) ReplaceRoute(r Route) error {
	n, err := o.nlRoute(r)
	if err != nil {
		return err
	}
	return o.h.RouteReplace(n)
}

func (o netlinkOps) DelRoute(r Route) error {
	n, err := o.nlRoute(r)
	if errors.Is(err, unix.ENODEV) || err != nil && isLinkNotFound(err) {
		// The interface is gone and its routes with it.
		return nil
	}
	if err != nil {
		return err
	}
	err = o.h.RouteDel(n)
	if errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.ENOENT) {
		return nil
	}
	return err
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}
