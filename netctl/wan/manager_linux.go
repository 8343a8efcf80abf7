//go:build linux

package wan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Options are the Manager's injected dependencies.
type Options struct {
	// Layout names the kernel objects; zero uses DefaultLayout.
	Layout Layout
	// NetNS is the namespace the WANs live in; nil is the current one (the
	// appliance). The lab runs the manager for a gateway namespace.
	NetNS *netns.NsHandle
	// OnEvent receives every transition, from the manager's goroutine; it
	// must not block.
	OnEvent func(Event)
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// ReconcileEvery is how often the kernel state is checked for drift
	// (default 5 s); every change the manager makes is applied at once.
	ReconcileEvery time.Duration
}

// Manager probes the WANs, keeps their health and routes new connections
// through the best one. Construct with New, run with Run, read Snapshot.
type Manager struct {
	wans []config.WAN
	fo   config.Failover
	log  *slog.Logger
	opt  Options
	th   thresholds
	snap atomic.Pointer[Snapshot]
	// force carries a technician's override to the running manager.
	force chan forceReq
}

type forceReq struct {
	wan  string
	d    time.Duration
	done chan error
}

// New checks the WAN and failover config and returns a Manager. Bad config
// (an unparsable probe target) is an error naming the field.
func New(wans []config.WAN, fo config.Failover, log *slog.Logger, opt Options) (*Manager, error) {
	if len(wans) == 0 {
		return nil, errors.New("wan: no WAN configured")
	}
	if fo.ProbeInterval <= 0 || fo.ProbeTimeout <= 0 || fo.Window < 1 || fo.Quorum < 1 {
		return nil, fmt.Errorf("wan: failover: interval %v, timeout %v, window %d and quorum %d must be positive",
			fo.ProbeInterval.D(), fo.ProbeTimeout.D(), fo.Window, fo.Quorum)
	}
	for i, w := range wans {
		if len(w.Probes) == 0 {
			return nil, fmt.Errorf("wan[%d].probes: at least one probe is required", i)
		}
		for j, p := range w.Probes {
			if _, err := parseTarget(p); err != nil {
				return nil, fmt.Errorf("wan[%d].probes[%d]: %w", i, j, err)
			}
		}
		if w.Gateway != "" {
			if _, err := netip.ParseAddr(w.Gateway); err != nil {
				return nil, fmt.Errorf("wan[%d].gateway: %w", i, err)
			}
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.Layout == (Layout{}) {
		opt.Layout = DefaultLayout
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.ReconcileEvery <= 0 {
		opt.ReconcileEvery = 5 * time.Second
	}
	if opt.OnEvent == nil {
		opt.OnEvent = func(Event) {}
	}
	m := &Manager{wans: wans, fo: fo, log: log, opt: opt, th: newThresholds(fo.Window, fo.LossDownPercent, fo.Quorum),
		force: make(chan forceReq)}
	m.snap.Store(&Snapshot{})
	return m, nil
}

// Force puts new connections on the named WAN for d, whatever the
// priorities say (a technician's failover or failback); d = 0 returns to
// automatic choice at once. A WAN known to be down is never used: the
// override waits until it is up, and ends after d regardless.
func (m *Manager) Force(ctx context.Context, wan string, d time.Duration) error {
	if d < 0 || d > 24*time.Hour {
		return fmt.Errorf("wan: force for %s: between 0 and 24h", d)
	}
	if d > 0 && !slices.ContainsFunc(m.wans, func(w config.WAN) bool { return w.Name == wan }) {
		return fmt.Errorf("wan: no WAN named %q", wan)
	}
	req := forceReq{wan: wan, d: d, done: make(chan error, 1)}
	select {
	case m.force <- req:
	case <-ctx.Done():
		return fmt.Errorf("wan: manager not running: %w", ctx.Err())
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Snapshot returns the latest published state; never nil.
func (m *Manager) Snapshot() *Snapshot { return m.snap.Load() }

// parseTarget checks a probe's target and returns its host:port (or IP).
func parseTarget(p config.Probe) (string, error) {
	switch p.Type {
	case "icmp":
		a, err := netip.ParseAddr(p.Target)
		if err != nil || !a.Is4() {
			return "", fmt.Errorf("icmp target %q: want an IPv4 address", p.Target)
		}
		return a.String(), nil
	case "tcp":
		ap, err := netip.ParseAddrPort(p.Target)
		if err != nil {
			return "", fmt.Errorf("tcp target %q: want IP:port", p.Target)
		}
		return ap.String(), nil
	case "dns":
		if p.Query == "" {
			return "", fmt.Errorf("dns probe of %q: query is empty", p.Target)
		}
		if _, err := netip.ParseAddr(p.Target); err == nil {
			return net.JoinHostPort(p.Target, "53"), nil
		}
		if _, err := netip.ParseAddrPort(p.Target); err != nil {
			return "", fmt.Errorf("dns target %q: want a resolver IP[:port]", p.Target)
		}
		return p.Target, nil
	case "http":
		u, err := url.Parse(p.Target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("http target %q: want an http(s) URL", p.Target)
		}
		return p.Target, nil
	}
	return "", fmt.Errorf("probe type %q: want icmp, tcp, http or dns", p.Type)
}

// Cleanup removes every rule, route and nftables table the layout owns for
// n WANs, whether or not a manager is running: for `gatewayd cleanup`
// after a crash. ns nil is the current namespace.
func Cleanup(layout Layout, n int, ns *netns.NsHandle) error {
	if layout == (Layout{}) {
		layout = DefaultLayout
	}
	h, nft, err := kernelHandles(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return errors.Join(layout.remove(netlinkOps{h: h, layout: layout}, n), removeConnmark(nft, layout))
}

func kernelHandles(ns *netns.NsHandle) (*netlink.Handle, *nftables.Conn, error) {
	var h *netlink.Handle
	var nft *nftables.Conn
	var err error
	// Only the families used: with none named, netlink also opens an XFRM
	// socket, which fails on a kernel without xfrm_user.
	families := []int{unix.NETLINK_ROUTE, unix.NETLINK_NETFILTER}
	if ns != nil {
		h, err = netlink.NewHandleAt(*ns, families...)
		if err == nil {
			nft, err = nftables.New(nftables.WithNetNSFd(int(*ns)))
		}
	} else {
		h, err = netlink.NewHandle(families...)
		if err == nil {
			nft, err = nftables.New()
		}
	}
	if err != nil {
		if h != nil {
			h.Close()
		}
		return nil, nil, fmt.Errorf("wan: netlink: %w", err)
	}
	return h, nft, nil
}
