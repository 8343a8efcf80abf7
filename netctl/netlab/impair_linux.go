//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// impairState is what is currently wrong with one ISP link.
type impairState struct {
	CarrierDown bool
	BlackHole   bool
	LossPercent int
}

// Impairment is the current state of one ISP link, for status output.
type Impairment struct {
	WAN         string
	CarrierDown bool
	BlackHole   bool
	LossPercent int
	Shape       ISPShape
}

// Impairments reports both ISP links.
func (l *Lab) Impairments() []Impairment {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Impairment, len(WAN))
	for i, w := range WAN {
		s := l.imp[i]
		out[i] = Impairment{WAN: w.Name, CarrierDown: s.CarrierDown, BlackHole: s.BlackHole, LossPercent: s.LossPercent, Shape: l.shapes[i]}
	}
	return out
}

// WANIndex maps "wan1"/"wan2" (or "1"/"2") to 0/1.
func WANIndex(name string) (int, error) {
	for i, w := range WAN {
		if name == w.Name || name == fmt.Sprint(i+1) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("netlab: no WAN %q (want wan1 or wan2)", name)
}

func checkWAN(wan int) error {
	if wan < 0 || wan >= len(WAN) {
		return fmt.Errorf("netlab: no wan index %d", wan)
	}
	return nil
}

// Carrier pulls (up=false) or plugs (up=true) the cable of wan: the ISP's
// end goes down, so the gateway sees carrier loss (NO-CARRIER), as with a
// real cable or a dead modem.
func (l *Lab) Carrier(wan int, up bool) error {
	if err := checkWAN(wan); err != nil {
		return err
	}
	l.mu.Lock()
	l.imp[wan].CarrierDown = !up
	l.mu.Unlock()
	defer l.saveState()
	return l.applyCarrier(wan, up)
}

func (l *Lab) applyCarrier(wan int, up bool) error {
	return l.withHandle(WAN[wan].ISP, func(h *netlink.Handle) error {
		link, err := h.LinkByName(ISPDownIf)
		if err != nil {
			return err
		}
		if up {
			return h.LinkSetUp(link)
		}
		return h.LinkSetDown(link)
	})
}

// BlackHole makes the ISP drop everything it would forward: the first hop
// still answers, nothing beyond it does (the classic "modem is up, internet
// is not" outage that carrier detection cannot see).
func (l *Lab) BlackHole(wan int, on bool) error {
	if err := checkWAN(wan); err != nil {
		return err
	}
	l.mu.Lock()
	l.imp[wan].BlackHole = on
	l.mu.Unlock()
	defer l.saveState()
	return l.applyImpair(wan)
}

// Loss drops percent % of the packets crossing the ISP, both directions,
// at random (nftables numgen); 0 ends it.
func (l *Lab) Loss(wan, percent int) error {
	if err := checkWAN(wan); err != nil {
		return err
	}
	if percent < 0 || percent > 100 {
		return fmt.Errorf("netlab: loss %d%%: want 0 to 100", percent)
	}
	l.mu.Lock()
	l.imp[wan].LossPercent = percent
	l.mu.Unlock()
	defer l.saveState()
	return l.applyImpair(wan)
}

// Restore ends every impairment of wan and resets its rates to the defaults.
func (l *Lab) Restore(wan int) error {
	if err := checkWAN(wan); err != nil {
		return err
	}
	l.mu.Lock()
	l.imp[wan] = impairState{}
	l.shapes[wan] = DefaultShapes[wan]
	l.mu.Unlock()
	defer l.saveState()
	return errors.Join(l.applyCarrier(wan, true), l.applyImpair(wan), l.applyShape(wan))
}

// applyImpair rewrites the ISP's impairment table in one transaction: the
// add-delete-add idiom makes it idempotent whether or not it existed.
func (l *Lab) applyImpair(wan int) error {
	l.mu.Lock()
	s := l.imp[wan]
	l.mu.Unlock()
	w := WAN[wan]
	c, err := l.nftConn(w.ISP)
	if err != nil {
		return err
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: l.Prefix + "-imp"}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	// Loss hits every packet arriving at the ISP, on either side.
	loss := c.AddChain(&nftables.Chain{
		Name: "loss", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw,
	})
	// The black hole spares the ISP itself, so the first hop still answers.
	fwd := c.AddChain(&nftables.Chain{
		Name: "blackhole", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter,
	})
	if s.LossPercent > 0 {
		c.AddRule(&nftables.Rule{Table: t, Chain: loss, Exprs: []expr.Any{
			&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
			// numgen leaves a host-order u32 below 100, so comparing its
			// first byte (cmp is a memcmp) orders correctly.
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.NativeEndian.PutUint32(uint32(s.LossPercent))},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
	if s.BlackHole {
		c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: []expr.Any{
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("%s: impairment table: %w", w.ISP, err)
	}
	return nil
}

func isNotFound(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENODEV)
}
