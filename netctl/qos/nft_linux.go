//go:build linux

package qos

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// netlinkNFT is the NFT backend over nf_tables netlink, in the current
// namespace or the one netns names.
type netlinkNFT struct {
	netns int
}

func (k netlinkNFT) conn() (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if k.netns != 0 {
		opts = append(opts, nftables.WithNetNSFd(k.netns))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: open netlink: %w", err)
	}
	return c, nil
}

func nftTable(name string) *nftables.Table {
	return &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
}

func paymentSetOf(t *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: t, Name: setPayment, KeyType: nftables.TypeIPAddr, HasTimeout: true}
}

// Apply replaces the whole table in one transaction (add, delete, add):
// packets see the old classification or the new one, never none.
func (k netlinkNFT) Apply(rs Ruleset) error {
	c, err := k.conn()
	if err != nil {
		return err
	}
	t := nftTable(rs.Table)
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	posIP := &nftables.Set{Table: t, Name: setPOSIP, KeyType: nftables.TypeIPAddr}
	var ipElems []nftables.SetElement
	for _, a := range rs.POSIPs {
		b := a.As4()
		ipElems = append(ipElems, nftables.SetElement{Key: b[:]})
	}
	posMAC := &nftables.Set{Table: t, Name: setPOSMAC, KeyType: nftables.TypeEtherAddr}
	var macElems []nftables.SetElement
	for _, m := range rs.POSMACs {
		macElems = append(macElems, nftables.SetElement{Key: []byte(m)})
	}
	pay := paymentSetOf(t)
	var payElems []nftables.SetElement
	for _, p := range rs.Payment {
		b := p.Addr.As4()
		payElems = append(payElems, nftables.SetElement{Key: b[:], Timeout: p.Timeout})
	}
	sets := map[string]*nftables.Set{}
	for _, s := range []struct {
		set   *nftables.Set
		elems []nftables.SetElement
	}{{posIP, ipElems}, {posMAC, macElems}, {pay, payElems}} {
		if err := c.AddSet(s.set, s.elems); err != nil {
			return fmt.Errorf("nftables: set %s: %w", s.set.Name, err)
		}
		sets[s.set.Name] = s.set
	}
	addChain(c, t, chainName, nftables.ChainHookForward, rs.WANDev, rs.Rules, sets)
	if len(rs.Probes) > 0 {
		addChain(c, t, probeChain, nftables.ChainHookOutput, rs.WANDev, rs.Probes, sets)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: table %s: %w", rs.Table, err)
	}
	return nil
}

// addChain adds a mangle-priority chain on hook whose rules apply only to
// packets leaving through wanDev.
func addChain(c *nftables.Conn, t *nftables.Table, name string, hook *nftables.ChainHook, wanDev string, rules []NftRule, sets map[string]*nftables.Set) {
	policy := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: hook, Priority: nftables.ChainPriorityMangle, Policy: &policy})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(wanDev)},
		&expr.Verdict{Kind: expr.VerdictReturn},
	}})
	for _, r := range rules {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: ruleExprs(r, sets),
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.Comment)})
	}
}

// ruleExprs builds one rule; the IPv4 matches are guarded by
// `meta nfproto ipv4` as the inet family carries IPv6 too.
func ruleExprs(r NftRule, sets map[string]*nftables.Set) []expr.Any {
	var e []expr.Any
	needIP := r.DSCP >= 0 || r.LenMax != 0 || r.SAddr.IsValid() || r.DAddr.IsValid() || r.SAddrSet != "" || r.DAddrSet != "" || r.SetDSCP >= 0
	if needIP {
		e = append(e, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}})
	}
	if r.Proto != 0 {
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.Proto}})
	}
	if r.DPorts != (PortRange{}) {
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
		if r.DPorts.Lo == r.DPorts.Hi {
			e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.DPorts.Lo)})
		} else {
			e = append(e, &expr.Range{Op: expr.CmpOpEq, Register: 1,
				FromData: binaryutil.BigEndian.PutUint16(r.DPorts.Lo), ToData: binaryutil.BigEndian.PutUint16(r.DPorts.Hi)})
		}
	}
	if r.DSCP >= 0 {
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 1, Len: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0xfc}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(r.DSCP << 2)}})
	}
	if r.LenMax != 0 {
		// The total length is at offset 2, big-endian, so a byte-wise
		// comparison orders it.
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.LenMax)})
	}
	// The IPv4 source address is at offset 12, the destination at 16.
	for _, m := range []struct {
		off uint32
		p   netip.Prefix
	}{{12, r.SAddr}, {16, r.DAddr}} {
		off, p := m.off, m.p
		if !p.IsValid() {
			continue
		}
		a := p.Masked().Addr().As4()
		m := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-p.Bits()))
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a[:]})
	}
	lookup := func(name string) *expr.Lookup {
		s := sets[name]
		return &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}
	}
	if r.SAddrSet != "" {
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}, lookup(r.SAddrSet))
	}
	if r.DAddrSet != "" {
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}, lookup(r.DAddrSet))
	}
	if r.EtherSet != "" {
		e = append(e, &expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(unix.ARPHRD_ETHER)},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6}, lookup(r.EtherSet))
	}
	if r.IfPriority != 0 {
		e = append(e, &expr.Meta{Key: expr.MetaKeyPRIORITY, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(r.IfPriority)})
	}
	e = append(e, &expr.Counter{})
	if r.SetPriority != 0 {
		e = append(e, &expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(r.SetPriority)},
			&expr.Meta{Key: expr.MetaKeyPRIORITY, SourceRegister: true, Register: 1})
	}
	if r.SetDSCP >= 0 {
		// Rewrite the 16-bit word holding version/ihl and tos, keeping all
		// but the DSCP bits: the kernel's incremental checksum update is
		// only right for 16-bit aligned writes (nft does the same).
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 0, Len: 2},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 2, Mask: []byte{0xff, 0x03}, Xor: []byte{0, byte(r.SetDSCP << 2)}},
			&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1, Base: expr.PayloadBaseNetworkHeader,
				Offset: 0, Len: 2, CsumType: expr.CsumTypeInet, CsumOffset: 10})
	}
	return e
}

func ifname(s string) []byte {
	b := make([]byte, 16)
	copy(b, s)
	return b
}

// AddPayment adds elements to the payment set; refresh ones exist already
// and get their timeout reset (delete and add in one transaction).
func (k netlinkNFT) AddPayment(table string, add, refresh []PaymentIP) error {
	c, err := k.conn()
	if err != nil {
		return err
	}
	set := paymentSetOf(nftTable(table))
	elems := func(ps []PaymentIP) []nftables.SetElement {
		var out []nftables.SetElement
		for _, p := range ps {
			b := p.Addr.As4()
			out = append(out, nftables.SetElement{Key: b[:], Timeout: p.Timeout})
		}
		return out
	}
	if len(refresh) > 0 {
		if err := c.SetDeleteElements(set, elems(refresh)); err != nil {
			return err
		}
	}
	if err := c.SetAddElements(set, elems(append(add, refresh...))); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		if len(refresh) > 0 && errors.Is(err, unix.ENOENT) {
			// The kernel timed an element out a moment before us.
			return k.AddPayment(table, append(add, refresh...), nil)
		}
		return fmt.Errorf("nftables: payment set: %w", err)
	}
	return nil
}

// Delete removes the table; a missing one is fine.
func (k netlinkNFT) Delete(table string) error {
	c, err := k.conn()
	if err != nil {
		return err
	}
	c.DelTable(nftTable(table))
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nftables: delete table %s: %w", table, err)
	}
	return nil
}
