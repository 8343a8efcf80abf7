//go:build linux

package netlab

import (
	"fmt"
	"time"

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
	child, err := delayOf(h, link)
	if err != nil {
		return err
	}
	if child > 0 && s.Delay == 0 {
		// A netem child stays through a tbf change, and deleting it alone
		// would leave the bucket a black hole: start over.
		if err := h.QdiscDel(q); err != nil && !isNotFound(err) {
			return err
		}
	}
	if err := h.QdiscReplace(q); err != nil {
		return fmt.Errorf("tbf %d bit/s on %s: %w", s.RateBits, dev, err)
	}
	if s.Delay == 0 {
		return nil
	}
	// netem holds the packets in flight during the delay and the queue
	// the bucket leaves; its limit counts packets, so both are converted
	// at full-size frames.
	inFlight := uint64(rate) * uint64(s.Delay) / uint64(time.Second)
	netem := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(10, 0), Parent: netlink.MakeHandle(1, 1)},
		netlink.NetemQdiscAttrs{Latency: uint32(s.Delay / time.Microsecond), Limit: uint32((uint64(limit)+inFlight)/1514 + 2)})
	if err := h.QdiscReplace(netem); err != nil {
		return fmt.Errorf("netem delay %v on %s (does the kernel have sch_netem?): %w", s.Delay, dev, err)
	}
	return nil
}

// delayOf returns the delay of the netem under dev's root bucket, 0 if none.
func delayOf(h *netlink.Handle, link netlink.Link) (time.Duration, error) {
	qs, err := h.QdiscList(link)
	if err != nil {
		return 0, err
	}
	for _, q := range qs {
		if n, ok := q.(*netlink.Netem); ok && q.Attrs().Parent == netlink.MakeHandle(1, 1) {
			// netem reports the delay in kernel ticks.
			return time.Duration(float64(n.Latency)/netlink.TickInUsec()) * time.Microsecond, nil
		}
	}
	return 0, nil
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
			if d.out.Delay, err = delayOf(h, link); err != nil {
				return err
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
