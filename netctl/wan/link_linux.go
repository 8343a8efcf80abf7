//go:build linux

package wan

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// linkState is what netlink says about one WAN interface.
type linkState struct {
	Link
	Carrier bool
}

// learn reads a WAN's interface, address and gateway. The gateway comes
// from the config when set, else from the main table's default route on
// that interface (lowest metric), as DHCP or networkd left it.
func learn(h *netlink.Handle, dev, cfgGateway string) linkState {
	st := linkState{Link: Link{Dev: dev}}
	link, err := h.LinkByName(dev)
	if err != nil {
		return st
	}
	st.Present = true
	a := link.Attrs()
	st.Carrier = carrierOf(a)
	if addrs, err := h.AddrList(link, netlink.FAMILY_V4); err == nil {
		for _, ad := range addrs {
			if ip, ok := netip.AddrFromSlice(ad.IP.To4()); ok && ad.Scope == unix.RT_SCOPE_UNIVERSE {
				st.Addr = ip
				break
			}
		}
	}
	if cfgGateway != "" {
		st.Gateway, _ = netip.ParseAddr(cfgGateway)
		return st
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Table: unix.RT_TABLE_MAIN, LinkIndex: a.Index}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_OIF)
	if err != nil {
		return st
	}
	best := -1
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw != nil && (best < 0 || r.Priority < best) {
			if gw, ok := netip.AddrFromSlice(r.Gw.To4()); ok {
				st.Gateway, best = gw, r.Priority
			}
		}
	}
	return st
}

// carrierOf: administratively up and the lower layer (cable, modem) up.
func carrierOf(a *netlink.LinkAttrs) bool {
	return a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
}

// linkEvent is a carrier change (or, with dev empty, "something about
// addresses or routes changed: learn again").
type linkEvent struct {
	dev     string
	carrier bool
}

// watch subscribes to link, address and route changes in ns (nil: the
// current namespace) until ctx ends. Link changes carry the carrier so the
// manager can fail over without waiting for probes.
func watch(ctx context.Context, ns *netns.NsHandle, out chan<- linkEvent, onErr func(error)) error {
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	routes := make(chan netlink.RouteUpdate, 64)
	done := make(chan struct{})
	errCB := func(err error) {
		if ctx.Err() == nil { // closing the subscriptions on stop is no news
			onErr(fmt.Errorf("netlink watch: %w", err))
		}
	}
	err := errors.Join(
		netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{Namespace: ns, ErrorCallback: errCB}),
		netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{Namespace: ns, ErrorCallback: errCB}),
		netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{Namespace: ns, ErrorCallback: errCB}),
	)
	if err != nil {
		close(done)
		return fmt.Errorf("netlink subscribe: %w", err)
	}
	go func() {
		defer close(done)
		send := func(ev linkEvent) {
			select {
			case out <- ev:
			case <-ctx.Done():
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-links:
				if !ok {
					return
				}
				send(linkEvent{dev: u.Attrs().Name, carrier: carrierOf(u.Attrs())})
			case _, ok := <-addrs:
				if !ok {
					return
				}
				send(linkEvent{})
			case u, ok := <-routes:
				if !ok {
					return
				}
				if u.Table == unix.RT_TABLE_MAIN {
					send(linkEvent{})
				}
			}
		}
	}()
	return nil
}

// enterNS returns a function that runs fn on a thread inside ns, or nil
// for the current namespace. A thread that cannot switch back is never
// reused (it stays locked and exits with its goroutine).
func enterNS(ns *netns.NsHandle) func(func() error) error {
	if ns == nil {
		return nil
	}
	h := *ns
	return func(fn func() error) error {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			return err
		}
		defer orig.Close()
		if err := netns.Set(h); err != nil {
			runtime.UnlockOSThread()
			return err
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			return errors.Join(ferr, err)
		}
		runtime.UnlockOSThread()
		return ferr
	}
}
