//go:build linux

package zones

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// This file builds the few nftables matches the ruleset needs. They spell out
// what nft(8) would generate for the same rule, including the dependencies
// nft adds implicitly (`meta nfproto ipv4` before `ip saddr` in an inet
// table, `meta l4proto udp` before `udp dport`), because google/nftables
// sends raw expressions and a payload load without them would read garbage
// from IPv6 or non-UDP packets.

// Registers: reg 1 holds a match operand; reg 9 (NFT_REG32_01, the second 32
// bits of reg 1) holds the second half of a concatenated set key.
const (
	reg1  = 1
	reg9  = 9
	ifLen = unix.IFNAMSIZ
)

type match []expr.Any

func cmpEq(reg uint32, data []byte) expr.Any {
	return &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data}
}

func ifnameBytes(name string) []byte {
	b := make([]byte, ifLen)
	copy(b, name)
	return b
}

func iifname(name string) match {
	return match{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg1}, cmpEq(reg1, ifnameBytes(name))}
}

func oifname(name string) match {
	return match{&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg1}, cmpEq(reg1, ifnameBytes(name))}
}

func nfproto(p byte) match {
	return match{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1}, cmpEq(reg1, []byte{p})}
}

func ipv4() match { return nfproto(unix.NFPROTO_IPV4) }

func l4proto(p byte) match {
	return match{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1}, cmpEq(reg1, []byte{p})}
}

// IPv4 header offsets of the source and destination addresses.
const (
	offSaddr = 12
	offDaddr = 16
)

func loadAddr(off uint32, reg uint32) expr.Any {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}
}

// addrIn matches an IPv4 address field against a prefix; neg inverts it.
// The caller has matched ipv4 already.
func addrIn(off uint32, p netip.Prefix, neg bool) match {
	m := match{loadAddr(off, reg1)}
	if p.Bits() < 32 {
		mask := make([]byte, 4)
		binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
		m = append(m, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
	}
	op := expr.CmpOpEq
	if neg {
		op = expr.CmpOpNeq
	}
	a := p.Masked().Addr().As4()
	return append(m, &expr.Cmp{Op: op, Register: reg1, Data: a[:]})
}

func saddrIn(p netip.Prefix) match    { return addrIn(offSaddr, p, false) }
func saddrNotIn(p netip.Prefix) match { return addrIn(offSaddr, p, true) }

// daddrIn and daddrInSet repeat the ipv4 match even where a dispatch rule
// has checked it, so that `nft list` can print them as `ip daddr`.
func daddrIn(p netip.Prefix) match { return append(ipv4(), addrIn(offDaddr, p, false)...) }

func daddrInSet(set string) match {
	return append(ipv4(), loadAddr(offDaddr, reg1), &expr.Lookup{SourceRegister: reg1, SetName: set})
}

// dport matches a TCP or UDP destination port.
func dport(proto byte, port uint16) match {
	p := make([]byte, 2)
	binary.BigEndian.PutUint16(p, port)
	return append(l4proto(proto),
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		cmpEq(reg1, p))
}

// icmpType matches an ICMP (or ICMPv6) type range.
func icmpType(proto byte, from, to byte) match {
	m := append(l4proto(proto), &expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1})
	if from == to {
		return append(m, cmpEq(reg1, []byte{from}))
	}
	return append(m, &expr.Range{Op: expr.CmpOpEq, Register: reg1, FromData: []byte{from}, ToData: []byte{to}})
}

// ctState matches when any of the conntrack state bits is set.
func ctState(bits uint32) match {
	mask := make([]byte, 4)
	binary.NativeEndian.PutUint32(mask, bits)
	return match{
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)},
	}
}

// remember adds the flow's (source, destination) pair to a timeout set, the
// way `add @set { ip saddr . ip daddr }` does; the poller turns new entries
// into alarms.
func remember(set string, ttl time.Duration) match {
	return append(ipv4(),
		loadAddr(offSaddr, reg1),
		loadAddr(offDaddr, reg9),
		&expr.Dynset{SrcRegKey: reg1, SetName: set, Operation: unix.NFT_DYNSET_OP_ADD, Timeout: ttl},
	)
}

func counter() expr.Any { return &expr.Counter{} }

func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

func jump(chain string) expr.Any { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }

func accept() expr.Any { return verdict(expr.VerdictAccept) }

func drop() expr.Any { return verdict(expr.VerdictDrop) }

// join concatenates matches and statements into one expression list.
func join(parts ...match) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
