//go:build linux

package wan

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The connmark table keeps a connection on the WAN it started on: the
// first packet leaving through wan i stamps mark(i) into the conntrack
// entry (postrouting), and every later packet of the connection gets it
// back as its packet mark (prerouting, output), which the fwmark rules
// route through table(i). Only the layout's mask bits are touched, so
// other users of the mark (QoS) keep theirs.

func le(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

// applyConnmark writes the table in one transaction; add-delete-add makes
// it idempotent and repairs any drift (a deleted chain or rule).
func applyConnmark(c *nftables.Conn, l Layout, devs []string) error {
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: l.NftTable}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	mangle := nftables.ChainPriorityMangle
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: mangle})
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeRoute,
		Hooknum: nftables.ChainHookOutput, Priority: mangle})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPostrouting, Priority: mangle})
	for i, dev := range devs {
		mark := l.Mark(i)
		restore := []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeyMARK},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: le(l.MarkMask), Xor: le(0)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: le(mark)},
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: le(^l.MarkMask), Xor: le(mark)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: restore})
		c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: restore})
		name := make([]byte, unix.IFNAMSIZ)
		copy(name, dev)
		c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
			&expr.Ct{Register: 1, Key: expr.CtKeyMARK},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: le(l.MarkMask), Xor: le(0)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: le(0)},
			&expr.Ct{Register: 1, Key: expr.CtKeyMARK},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: le(^l.MarkMask), Xor: le(mark)},
			&expr.Ct{Register: 1, Key: expr.CtKeyMARK, SourceRegister: true},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s: %w", l.NftTable, err)
	}
	return nil
}

// connmarkPresent reports whether the table exists with its three chains
// and the expected number of rules (cheap drift check).
func connmarkPresent(c *nftables.Conn, l Layout, nWAN int) bool {
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: l.NftTable}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false
	}
	n := 0
	for _, ch := range chains {
		if ch.Table.Name != l.NftTable {
			continue
		}
		rules, err := c.GetRules(t, ch)
		if err != nil || len(rules) != nWAN {
			return false
		}
		n++
	}
	return n == 3
}

// removeConnmark deletes the table; a missing table is fine.
func removeConnmark(c *nftables.Conn, l Layout) error {
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: l.NftTable})
	if err := c.Flush(); err != nil && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("nftables table %s: %w", l.NftTable, err)
	}
	return nil
}

// deadWANFilter matches conntrack entries that leave through one WAN: its
// mark, or NATed to its address (entries from before gatewayd started).
type deadWANFilter struct {
	mark, mask uint32
	addr       netip.Addr
}

func (f deadWANFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	if flow.Mark&f.mask == f.mark {
		return true
	}
	if !f.addr.IsValid() {
		return false
	}
	a, ok := netip.AddrFromSlice(flow.Reverse.DstIP.To4())
	return ok && a == f.addr
}

// flushConntrack deletes the connections that went out of WAN i, so their
// next packet starts a new connection on the active WAN instead of
// waiting for a timeout on a dead one. Nothing else is touched.
func flushConntrack(h *netlink.Handle, l Layout, i int, addr netip.Addr) (uint, error) {
	n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET,
		deadWANFilter{mark: l.Mark(i), mask: l.MarkMask, addr: addr})
	if err != nil {
		return n, fmt.Errorf("conntrack flush: %w", err)
	}
	return n, nil
}
