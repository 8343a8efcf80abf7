//go:build linux

package qos

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// kernelBackends are the rtnetlink and nf_tables backends in netns (0 is
// the current namespace). A netlink handle is opened per pass and closed
// after it, so no socket pins a namespace that is being torn down.
func kernelBackends(ns int) (func() (TC, func(), error), NFT) {
	open := func() (TC, func(), error) {
		var h *netlink.Handle
		var err error
		// Only rtnetlink: with no family named, netlink also opens an
		// XFRM socket, which fails on a kernel without xfrm_user.
		if ns != 0 {
			h, err = netlink.NewHandleAt(netns.NsHandle(ns), unix.NETLINK_ROUTE)
		} else {
			h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("netlink: %w", err)
		}
		return netlinkTC{h: h}, h.Close, nil
	}
	return open, netlinkNFT{netns: ns}
}

// Cleanup removes what a QoS with these options and config may have left
// (after a crash; `gatewayd cleanup` and the unit's ExecStopPost run it):
// the nftables table, the HTB and ingress qdiscs gatewayd put on each
// WAN (only those: the kernel refuses to delete a qdisc whose handle or
// kind differ) and the IFB.
func Cleanup(cfg Config, opts Options, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Table == "" {
		opts.Table = DefaultTable
	}
	if opts.IFB == "" {
		opts.IFB = DefaultIFB
	}
	open, nft := kernelBackends(opts.NetNS)
	tc, done, err := open()
	if err != nil {
		return fmt.Errorf("qos: cleanup: %w", err)
	}
	defer done()
	a := newApplier(tc, log)
	errs := []error{nft.Delete(opts.Table)}
	for _, w := range cfg.WANs {
		errs = append(errs, a.remove(w.Interface, ""))
	}
	errs = append(errs, a.remove("", opts.IFB))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("qos: cleanup: %w", err)
	}
	log.Info("qos: cleanup done", "table", opts.Table, "ifb", opts.IFB)
	return nil
}
