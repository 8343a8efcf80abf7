//go:build linux

package netlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// build makes the namespaces, links, addresses, routes, NAT, shaping and the
// (empty) impairment tables, in that order.
func (l *Lab) build(ctx context.Context) error {
	for _, n := range Nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := newNamedNS(l.NSName(n))
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.ns[n] = h
		l.mu.Unlock()
		if err := l.Do(n, func() error { return nodeSysctls(n) }); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	steps := []func() error{l.links, l.addresses, l.routes, l.nat}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := step(); err != nil {
			return err
		}
	}
	for i := range WAN {
		if err := l.applyShape(i); err != nil {
			return err
		}
		if err := l.applyImpair(i); err != nil {
			return err
		}
	}
	return l.waitCarrier(ctx)
}

// waitCarrier waits until every link has carrier: the kernel turns a
// veth's carrier on asynchronously (linkwatch), and a gateway started
// before that would see its WANs without carrier.
func (l *Lab) waitCarrier(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, n := range Nodes {
		for {
			var missing string
			err := l.withHandle(n, func(h *netlink.Handle) error {
				links, err := h.LinkList()
				if err != nil {
					return err
				}
				for _, link := range links {
					if link.Attrs().RawFlags&unix.IFF_LOWER_UP == 0 {
						missing = link.Attrs().Name
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if missing == "" {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: %s has no carrier: %w", n, missing, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}

func nodeSysctls(n Node) error {
	kv := [][2]string{
		// Policy routing with marks needs loose or no reverse-path checks.
		{"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"},
		{"net.ipv6.conf.all.disable_ipv6", "1"},
		{"net.ipv6.conf.default.disable_ipv6", "1"},
		// A namespace inherits the host's TCP congestion control. Pin a
		// loss-based one so the lab's senders (and so its queues) behave
		// the same on every machine: a host set to BBR kept the modem's
		// queue full behind the store's shaper. Reno, because a namespace
		// may only pick from the host's tcp_allowed_congestion_control,
		// and reno is always there.
		{"net.ipv4.tcp_congestion_control", "reno"},
	}
	switch n {
	case GW, ISP1, ISP2, Core:
		kv = append(kv, [2]string{"net.ipv4.ip_forward", "1"})
	}
	if n == GW { // as the image's sysctl.d sets it for weighted WAN mode
		kv = append(kv, [2]string{"net.ipv4.fib_multipath_hash_policy", "1"})
	}
	for _, e := range kv {
		if err := writeSysctl(e[0], e[1]); err != nil {
			return err
		}
	}
	return nil
}

// withHandle runs fn with a netlink handle in n's namespace.
func (l *Lab) withHandle(n Node, fn func(h *netlink.Handle) error) error {
	h, err := l.Handle(n)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := fn(h); err != nil {
		return fmt.Errorf("%s: %w", n, err)
	}
	return nil
}

// veth makes a pair with one end in each namespace; it never exists in the
// caller's namespace.
func (l *Lab) veth(an Node, aName string, bn Node, bName, bMAC string) error {
	bns, err := l.NS(bn)
	if err != nil {
		return err
	}
	return l.withHandle(an, func(h *netlink.Handle) error {
		v := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: aName, TxQLen: 1000},
			PeerName:      bName,
			PeerNamespace: netlink.NsFd(int(bns)),
		}
		if bMAC != "" {
			mac, err := net.ParseMAC(bMAC)
			if err != nil {
				return err
			}
			v.PeerHardwareAddr = mac
		}
		if err := h.LinkAdd(v); err != nil {
			return fmt.Errorf("veth %s <-> %s:%s: %w", aName, bn, bName, err)
		}
		return nil
	})
}

func (l *Lab) links() error {
	for _, w := range WAN {
		if err := l.veth(GW, w.GWIf, w.ISP, ISPDownIf, ""); err != nil {
			return err
		}
		if err := l.veth(w.ISP, ISPUpIf, Core, w.CoreIf, ""); err != nil {
			return err
		}
	}
	if err := l.veth(Core, "cloud", Cloud, HostIf, ""); err != nil {
		return err
	}
	if err := l.withHandle(GW, func(h *netlink.Handle) error {
		return h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: LANIf}})
	}); err != nil {
		return err
	}
	for _, host := range LANHosts {
		if err := l.veth(GW, string(host), host, HostIf, HostMAC[host]); err != nil {
			return err
		}
		err := l.withHandle(GW, func(h *netlink.Handle) error {
			port, err := h.LinkByName(string(host))
			if err != nil {
				return err
			}
			br, err := h.LinkByName(LANIf)
			if err != nil {
				return err
			}
			return h.LinkSetMaster(port, br)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ifAddr is one address to put on one interface.
type ifAddr struct {
	node Node
	dev  string
	addr netip.Prefix
}

func (l *Lab) addresses() error {
	list := []ifAddr{
		{GW, LANIf, netip.PrefixFrom(GWLAN, LANNet.Bits())},
		{Core, "cloud", netip.PrefixFrom(CoreCloud, CoreCloudNet.Bits())},
		{Cloud, HostIf, netip.PrefixFrom(CloudCore, CoreCloudNet.Bits())},
	}
	for _, w := range WAN {
		list = append(list,
			ifAddr{GW, w.GWIf, netip.PrefixFrom(w.GWAddr, w.Net.Bits())},
			ifAddr{w.ISP, ISPDownIf, netip.PrefixFrom(w.ISPAddr, w.Net.Bits())},
			ifAddr{w.ISP, ISPUpIf, netip.PrefixFrom(w.ISPCore, w.CoreNet.Bits())},
			ifAddr{Core, w.CoreIf, netip.PrefixFrom(w.CoreISP, w.CoreNet.Bits())})
	}
	for _, host := range LANHosts {
		list = append(list, ifAddr{host, HostIf, netip.PrefixFrom(HostAddr[host], LANNet.Bits())})
	}
	for _, ip := range CloudAddrs {
		list = append(list, ifAddr{Cloud, "lo", netip.PrefixFrom(ip, 32)})
	}
	for _, ia := range list {
		err := l.withHandle(ia.node, func(h *netlink.Handle) error {
			link, err := h.LinkByName(ia.dev)
			if err != nil {
				return err
			}
			addr := &netlink.Addr{IPNet: ipNet(ia.addr)}
			if err := h.AddrAdd(link, addr); err != nil {
				return fmt.Errorf("addr %s on %s: %w", ia.addr, ia.dev, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	// Everything up, lo included.
	for _, n := range Nodes {
		err := l.withHandle(n, func(h *netlink.Handle) error {
			links, err := h.LinkList()
			if err != nil {
				return err
			}
			for _, link := range links {
				if err := h.LinkSetUp(link); err != nil {
					return fmt.Errorf("up %s: %w", link.Attrs().Name, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// route is one static route.
type route struct {
	node   Node
	dst    netip.Prefix // zero: default route
	via    netip.Addr
	dev    string
	metric int
}

func (l *Lab) routes() error {
	var list []route
	for _, w := range WAN {
		// Two default routes with metrics, as DHCP on each uplink would leave them.
		list = append(list,
			route{GW, netip.Prefix{}, w.ISPAddr, w.GWIf, w.Metric},
			route{w.ISP, netip.Prefix{}, w.CoreISP, ISPUpIf, 0},
			route{Core, w.Net, w.ISPCore, w.CoreIf, 0})
	}
	for _, n := range CloudNets {
		list = append(list, route{Core, n, CloudCore, "cloud", 0})
	}
	list = append(list, route{Cloud, netip.Prefix{}, CoreCloud, HostIf, 0})
	for _, host := range LANHosts {
		list = append(list, route{host, netip.Prefix{}, GWLAN, HostIf, 0})
	}
	for _, r := range list {
		err := l.withHandle(r.node, func(h *netlink.Handle) error {
			link, err := h.LinkByName(r.dev)
			if err != nil {
				return err
			}
			nr := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: r.via.AsSlice(), Priority: r.metric}
			if r.dst.IsValid() {
				nr.Dst = ipNet(r.dst)
			} else {
				nr.Dst = ipNet(netip.MustParsePrefix("0.0.0.0/0"))
			}
			if err := h.RouteAdd(nr); err != nil {
				return fmt.Errorf("route %v via %s dev %s: %w", r.dst, r.via, r.dev, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// nftConn opens an nftables connection inside n's namespace.
func (l *Lab) nftConn(n Node) (*nftables.Conn, error) {
	h, err := l.NS(n)
	if err != nil {
		return nil, err
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		return nil, fmt.Errorf("%s: nftables: %w", n, err)
	}
	return c, nil
}

// nat masquerades the store out of both WANs, standing in for the firewall
// a real branch router has (gatewayd's zones may add their own on top).
func (l *Lab) nat() error {
	c, err := l.nftConn(GW)
	if err != nil {
		return err
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: l.Prefix + "-nat"})
	ch := c.AddChain(&nftables.Chain{
		Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	})
	for _, w := range WAN {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(w.GWIf)},
			&expr.Masq{},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("gw: nat table: %w", err)
	}
	return nil
}

// ifname is an interface name as nftables compares it (NUL padded).
func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
