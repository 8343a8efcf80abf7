//go:build linux

package netlab

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// The ISP's egress queues are the bottleneck, like a modem's: the download
// queues on the ISP's side toward the gateway, the upload on its side
// toward core. The gateway's own interfaces stay free for gatewayd's QoS.

// SetRate changes the shaping of wan (0 or 1) in both directions at once.
func (l *Lab) SetRate(wan int, s ISPShape) error {
	if wan < 0 || wan >= len(WAN) {
		return fmt.Errorf("netlab: no wan index %d", wan)
	}
	l.mu.Lock()
	l.shapes[wan] = s
	l.mu.Unlock()
	defer l.saveState()
	return l.applyShape(wan)
}

// Shapes returns the current shaping of both ISP links.
func (l *Lab) Shapes() [2]ISPShape {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.shapes
}

func (l *Lab) applyShape(wan int) error {
	l.mu.Lock()
	s := l.shapes[wan]
	l.mu.Unlock()
	w := WAN[wan]
	return l.withHandle(w.ISP, func(h *netlink.Handle) error {
		if err := setTBF(h, ISPDownIf, s.Down); err != nil {
			return fmt.Errorf("%s download: %w", w.Name, err)
		}
		if err := setTBF(h, ISPUpIf, s.Up); err != nil {
			return fmt.Errorf("%s upload: %w", w.Name, err)
		}
		return nil
	})
}

// setTBF replaces dev's root qdisc with a token bucket of s; a zero rate
// removes the shaping.
func setTBF(h *netlink.Handle, dev string, s Shape) error {
	link, err := h.LinkByName(dev)
	if err != nil {
		return err
	}
	attrs := netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}
	if s.RateBits == 0 {
		err := h.QdiscDel(&netlink.Tbf{QdiscAttrs: attrs})
		if err != nil && !isNotFound(err) {
			return err
		}
		return nil
	}
	rate := s.RateBits / 8 // bytes per second
	limit := s.QueueBytes
	if limit == 0 {
		limit = uint32(rate / 5) // 200 ms
	}
	// The bucket holds at least two full frames and 5 ms of traffic.
	burst := max(uint32(rate/200), 2*1514)
	limit = max(limit, burst)
	q := &netlink.Tbf{QdiscAttrs: attrs, Rate: rate, Limit: limit, Buffer: netlink.Xmittime(rate, burst)}
	if err := h.QdiscReplace(q); err != nil {
		return fmt.Errorf("tbf %d bit/s on %s: %w", s.RateBits, dev, err)
	}
	return nil
}

// readShape recovers the shaping of an attached lab from its qdiscs.
func (l *Lab) readShape(wan int) error {
	w := WAN[wan]
	var s ISPShape
	err := l.withHandle(w.ISP, func(h *netlink.Handle) error {
		for _, d := range []struct {
			dev string
			out *Shape
		}{{ISPDownIf, &s.Down}, {ISPUpIf, &s.Up}} {
			link, err := h.LinkByName(d.dev)
			if err != nil {
				return err
			}
			qs, err := h.QdiscList(link)
			if err != nil {
				return err
			}
			for _, q := range qs {
				if t, ok := q.(*netlink.Tbf); ok && q.Attrs().Parent == netlink.HANDLE_ROOT {
					*d.out = Shape{RateBits: t.Rate * 8, QueueBytes: t.Limit}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.shapes[wan] = s
	l.mu.Unlock()
	return nil
}
