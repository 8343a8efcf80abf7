//go:build linux

package qos

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// netlinkTC is the TC backend over rtnetlink, in the namespace of h.
type netlinkTC struct {
	h *netlink.Handle
}

func (t netlinkTC) link(name string) (netlink.Link, error) {
	l, err := t.h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", name, err)
	}
	return l, nil
}

func (t netlinkTC) index(name string) (int, error) {
	l, err := t.link(name)
	if err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}

// gone reports whether err says the object is not there (deleted already,
// or its device is).
func gone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) || errors.As(err, &nf)
}

func (t netlinkTC) EnsureIFB(name string) error {
	l, err := t.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return err
		}
		// A short tx queue: the IFB's own queue only holds what HTB hands it.
		ifb := &netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: name, TxQLen: 32}}
		if err := t.h.LinkAdd(ifb); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add: %w", err)
		}
		if l, err = t.h.LinkByName(name); err != nil {
			return err
		}
	}
	if l.Type() != "ifb" {
		return fmt.Errorf("%s exists and is a %s, not an ifb", name, l.Type())
	}
	if l.Attrs().Flags&unix.IFF_UP == 0 {
		return t.h.LinkSetUp(l)
	}
	return nil
}

func (t netlinkTC) DeleteLink(name string) error {
	l, err := t.h.LinkByName(name)
	if err != nil {
		if gone(err) {
			return nil
		}
		return err
	}
	if l.Type() != "ifb" {
		return fmt.Errorf("%s is a %s, not our ifb: left alone", name, l.Type())
	}
	if err := t.h.LinkDel(l); err != nil && !gone(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

func (t netlinkTC) qdisc(q Qdisc) (netlink.Qdisc, error) {
	idx, err := t.index(q.Dev)
	if err != nil {
		return nil, err
	}
	attrs := netlink.QdiscAttrs{LinkIndex: idx, Handle: q.Handle, Parent: q.Parent}
	switch q.Kind {
	case "htb":
		h := netlink.NewHtb(attrs)
		h.Defcls = uint32(q.DefaultClass)
		return h, nil
	case "ingress":
		return &netlink.Ingress{QdiscAttrs: attrs}, nil
	case LeafFqCodel:
		return netlink.NewFqCodel(attrs), nil
	case LeafCake:
		// The library has no cake type; cake's defaults (no shaper of its
		// own, flow isolation) are what a leaf under HTB wants.
		return &netlink.GenericQdisc{QdiscAttrs: attrs, QdiscType: LeafCake}, nil
	case LeafTBF:
		// A bucket of two frames: packets bigger than the bucket are
		// segmented by tbf, so a 64 KiB GSO packet from a forwarded TCP
		// flow queues as frames and never meets a byte limit it cannot
		// fit in as a whole (it would be dropped every time).
		rate := q.RateBits / 8
		burst := uint32(2 * mtu)
		return &netlink.Tbf{QdiscAttrs: attrs, Rate: rate, Limit: q.LimitBytes, Buffer: netlink.Xmittime(rate, burst)}, nil
	}
	return nil, fmt.Errorf("qdisc kind %q: %w", q.Kind, errUnsupported)
}

func (t netlinkTC) ReplaceQdisc(q Qdisc) error {
	nq, err := t.qdisc(q)
	if err != nil {
		return err
	}
	if q.Kind != "htb" && q.Kind != "ingress" {
		// The kernel refuses to change a qdisc's kind in place (EINVAL):
		// a leaf of another kind (left by a run that chose differently)
		// is deleted first.
		l, err := t.link(q.Dev)
		if err != nil {
			return err
		}
		have, err := t.h.QdiscList(l)
		if err != nil {
			return err
		}
		for _, h := range have {
			if a := h.Attrs(); a.Parent == q.Parent && a.Handle == q.Handle && h.Type() != q.Kind {
				if err := t.h.QdiscDel(h); err != nil && !gone(err) {
					return fmt.Errorf("replace %s leaf with %s: %w", h.Type(), q.Kind, err)
				}
			}
		}
	}
	if q.Kind == "htb" || q.Kind == "ingress" {
		// HTB and ingress have no change operation (a replace of the same
		// handle is EINVAL); their parameters never change, so one that is
		// there already is kept, with its classes and counters.
		l, err := t.link(q.Dev)
		if err != nil {
			return err
		}
		have, err := t.h.QdiscList(l)
		if err != nil {
			return err
		}
		for _, h := range have {
			a := h.Attrs()
			if h.Type() == q.Kind && a.Handle == q.Handle && a.Parent == q.Parent {
				if ht, ok := h.(*netlink.Htb); !ok || ht.Defcls == uint32(q.DefaultClass) {
					return nil
				}
			}
		}
	}
	if err := t.h.QdiscReplace(nq); err != nil {
		// An unknown kind: ENOENT after the module request failed, or
		// EOPNOTSUPP from kernels built without module support.
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("%s: %w (%w)", q.Kind, errUnsupported, err)
		}
		return err
	}
	return nil
}

func (t netlinkTC) DeleteQdisc(q Qdisc) error {
	nq, err := t.qdisc(q)
	if err != nil {
		if gone(err) {
			return nil
		}
		return err
	}
	if err := t.h.QdiscDel(nq); err != nil && !gone(err) {
		return fmt.Errorf("delete %s qdisc on %s: %w", q.Kind, q.Dev, err)
	}
	return nil
}

func (t netlinkTC) ReplaceClass(c HTBClass) error {
	idx, err := t.index(c.Dev)
	if err != nil {
		return err
	}
	nc := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: idx, Handle: c.ID, Parent: c.Parent},
		netlink.HtbClassAttrs{Rate: c.RateBits, Ceil: c.CeilBits, Prio: c.Prio})
	nc.Quantum = c.Quantum
	return t.h.ClassReplace(nc)
}

func (t netlinkTC) DeleteClass(dev string, id uint32) error {
	idx, err := t.index(dev)
	if err != nil {
		return err
	}
	err = t.h.ClassDel(&netlink.HtbClass{ClassAttrs: netlink.ClassAttrs{LinkIndex: idx, Handle: id}})
	if err != nil && !gone(err) {
		return err
	}
	return nil
}

func (t netlinkTC) classes(dev string) ([]netlink.Class, error) {
	l, err := t.link(dev)
	if err != nil {
		return nil, err
	}
	cs, err := t.h.ClassList(l, 0)
	if err != nil {
		return nil, err
	}
	var out []netlink.Class
	for _, c := range cs {
		if _, ok := c.(*netlink.HtbClass); ok && c.Attrs().Handle>>16 == uint32(htbMajor) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (t netlinkTC) Classes(dev string) ([]uint32, error) {
	cs, err := t.classes(dev)
	if err != nil {
		return nil, err
	}
	var ids []uint32
	for _, c := range cs {
		ids = append(ids, c.Attrs().Handle)
	}
	return ids, nil
}

func (t netlinkTC) AddFilter(f Filter, prio uint16) error {
	idx, err := t.index(f.Dev)
	if err != nil {
		return err
	}
	u := &netlink.U32{FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: f.Parent, Priority: prio, Protocol: f.Protocol}}
	sel := &nl.TcU32Sel{Flags: nl.TC_U32_TERMINAL}
	for _, k := range f.Keys {
		sel.Keys = append(sel.Keys, nl.TcU32Key{Mask: k.Mask, Val: k.Val & k.Mask, Off: k.Off})
	}
	if len(sel.Keys) == 0 {
		sel.Keys = []nl.TcU32Key{{}} // one key that matches everything
	}
	u.Sel = sel
	if f.RedirectDev != "" {
		to, err := t.index(f.RedirectDev)
		if err != nil {
			return err
		}
		u.Actions = []netlink.Action{netlink.NewMirredAction(to)}
	} else {
		u.ClassId = f.ClassID
	}
	return t.h.FilterAdd(u)
}

func (t netlinkTC) DeleteFilters(dev string, parent uint32, prio uint16) error {
	idx, err := t.index(dev)
	if err != nil {
		return err
	}
	// Handle 0 deletes the whole priority.
	err = t.h.FilterDel(&netlink.U32{FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: parent, Priority: prio}})
	if err != nil && !gone(err) {
		return err
	}
	return nil
}

func (t netlinkTC) FilterPrios(dev string, parent uint32) ([]uint16, error) {
	l, err := t.link(dev)
	if err != nil {
		return nil, err
	}
	fs, err := t.h.FilterList(l, parent)
	if err != nil {
		if gone(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []uint16
	for _, f := range fs {
		p := f.Attrs().Priority
		if len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	return out, nil
}

func (t netlinkTC) Stats(dev string) (map[uint32]ClassStats, error) {
	cs, err := t.classes(dev)
	if err != nil {
		return nil, err
	}
	l, err := t.link(dev)
	if err != nil {
		return nil, err
	}
	qs, err := t.h.QdiscList(l)
	if err != nil {
		return nil, err
	}
	out := map[uint32]ClassStats{}
	for _, c := range cs {
		var st ClassStats
		if s := c.Attrs().Statistics; s != nil && s.Basic != nil {
			st.Bytes, st.Packets = s.Basic.Bytes, uint64(s.Basic.Packets)
			if s.Queue != nil {
				st.Drops, st.Backlog = uint64(s.Queue.Drops), uint64(s.Queue.Backlog)
			}
		}
		// The leaf's own counters also hold drops the class never sees
		// (fq_codel's and cake's, made at dequeue).
		for _, q := range qs {
			if q.Attrs().Parent == c.Attrs().Handle && q.Attrs().Statistics != nil && q.Attrs().Statistics.Queue != nil {
				qq := q.Attrs().Statistics.Queue
				st.Drops = max(st.Drops, uint64(qq.Drops))
				st.Backlog = max(st.Backlog, uint64(qq.Backlog))
			}
		}
		out[c.Attrs().Handle] = st
	}
	return out, nil
}
