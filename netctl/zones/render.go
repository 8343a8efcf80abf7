//go:build linux

package zones

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// render turns a rule's expressions into nft-like text. It is used both for
// the rules we build and for the rules read back from the kernel, so the
// page shows what the kernel holds and a drift check can compare the two.
// It understands the expressions this package emits; anything else is shown
// as its Go type so unexpected content is visible, never hidden.
func render(exprs []expr.Any) string {
	r := renderer{regs: map[uint32]operand{}}
	for _, e := range exprs {
		r.expr(e)
	}
	return strings.Join(r.out, " ")
}

// operand describes what a register holds.
type operand struct {
	name string // "ip saddr", "iifname", "ct state", …
	kind string // how to print a value: ifname, addr, port, byte, ctstate, l4proto, nfproto
	mask []byte // set by a bitwise after the load
}

type renderer struct {
	regs    map[uint32]operand
	l4      string // protocol of the last l4proto match, names th fields
	l4proto byte
	out     []string
}

func (r *renderer) emit(s string) { r.out = append(r.out, s) }

func (r *renderer) expr(e expr.Any) {
	switch e := e.(type) {
	case *expr.Meta:
		r.meta(e)
	case *expr.Payload:
		r.payload(e)
	case *expr.Ct:
		r.regs[e.Register] = operand{name: "ct state", kind: "ctstate"}
	case *expr.Bitwise:
		op := r.regs[e.SourceRegister]
		op.mask = e.Mask
		r.regs[e.DestRegister] = op
	case *expr.Cmp:
		r.cmp(e)
	case *expr.Range:
		op := r.regs[e.Register]
		r.emit(fmt.Sprintf("%s %s-%s", op.name, r.value(op, e.FromData), r.value(op, e.ToData)))
	case *expr.Lookup:
		neg := ""
		if e.Invert {
			neg = "!= "
		}
		r.emit(fmt.Sprintf("%s %s@%s", r.regs[e.SourceRegister].name, neg, e.SetName))
	case *expr.Dynset:
		key := r.regs[e.SrcRegKey].name
		if second, ok := r.regs[reg9]; ok && e.SrcRegKey == reg1 {
			key += " . " + second.name
		}
		op := "add"
		if e.Operation == unix.NFT_DYNSET_OP_UPDATE {
			op = "update"
		}
		r.emit(fmt.Sprintf("%s @%s { %s timeout %s }", op, e.SetName, key, e.Timeout))
	case *expr.Counter:
		r.emit("counter")
	case *expr.Masq:
		r.emit("masquerade")
	case *expr.Verdict:
		r.emit(verdictText(e))
	default:
		r.emit(fmt.Sprintf("<%T>", e))
	}
}

func verdictText(v *expr.Verdict) string {
	switch v.Kind {
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictJump:
		return "jump " + v.Chain
	case expr.VerdictGoto:
		return "goto " + v.Chain
	}
	return fmt.Sprintf("verdict(%d)", v.Kind)
}

func (r *renderer) meta(e *expr.Meta) {
	if e.SourceRegister {
		r.emit(fmt.Sprintf("meta set key %d", e.Key))
		return
	}
	op := operand{name: fmt.Sprintf("meta key %d", e.Key), kind: "hex"}
	switch e.Key {
	case expr.MetaKeyIIFNAME:
		op = operand{name: "iifname", kind: "ifname"}
	case expr.MetaKeyOIFNAME:
		op = operand{name: "oifname", kind: "ifname"}
	case expr.MetaKeyNFPROTO:
		op = operand{name: "meta nfproto", kind: "nfproto"}
	case expr.MetaKeyL4PROTO:
		op = operand{name: "meta l4proto", kind: "l4proto"}
	}
	r.regs[e.Register] = op
}

func (r *renderer) payload(e *expr.Payload) {
	op := operand{name: fmt.Sprintf("@%d,%d,%d", e.Base, e.Offset*8, e.Len*8), kind: "hex"}
	switch {
	case e.Base == expr.PayloadBaseNetworkHeader && e.Offset == offSaddr && e.Len == 4:
		op = operand{name: "ip saddr", kind: "addr"}
	case e.Base == expr.PayloadBaseNetworkHeader && e.Offset == offDaddr && e.Len == 4:
		op = operand{name: "ip daddr", kind: "addr"}
	case e.Base == expr.PayloadBaseTransportHeader && e.Offset == 2 && e.Len == 2:
		op = operand{name: r.l4 + " dport", kind: "port"}
	case e.Base == expr.PayloadBaseTransportHeader && e.Offset == 0 && e.Len == 1:
		op = operand{name: r.l4 + " type", kind: "byte"}
	}
	r.regs[e.DestRegister] = op
}

func (r *renderer) cmp(e *expr.Cmp) {
	op := r.regs[e.Register]
	if op.kind == "l4proto" && len(e.Data) == 1 {
		r.l4 = l4Name(e.Data[0])
		r.l4proto = e.Data[0]
	}
	switch {
	case op.kind == "ctstate" && e.Op == expr.CmpOpNeq && isZero(e.Data):
		r.emit("ct state " + ctStateText(op.mask))
		return
	case op.kind == "addr" && len(op.mask) == 4 && len(e.Data) == 4:
		ones := 0
		for _, b := range op.mask {
			for ; b != 0; b <<= 1 {
				ones++
			}
		}
		a, _ := netip.AddrFromSlice(e.Data)
		r.emit(fmt.Sprintf("%s %s%s", op.name, cmpOpText(e.Op), netip.PrefixFrom(a, ones)))
		return
	}
	r.emit(fmt.Sprintf("%s %s%s", op.name, cmpOpText(e.Op), r.value(op, e.Data)))
}

func cmpOpText(op expr.CmpOp) string {
	switch op {
	case expr.CmpOpEq:
		return ""
	case expr.CmpOpNeq:
		return "!= "
	case expr.CmpOpLt:
		return "< "
	case expr.CmpOpLte:
		return "<= "
	case expr.CmpOpGt:
		return "> "
	case expr.CmpOpGte:
		return ">= "
	}
	return fmt.Sprintf("op%d ", op)
}

func (r *renderer) value(op operand, b []byte) string {
	switch {
	case op.kind == "ifname":
		return fmt.Sprintf("%q", string(bytes.TrimRight(b, "\x00")))
	case op.kind == "addr" && len(b) == 4:
		a, _ := netip.AddrFromSlice(b)
		return a.String()
	case op.kind == "port" && len(b) == 2:
		return fmt.Sprint(binary.BigEndian.Uint16(b))
	case op.kind == "byte" && len(b) == 1:
		return fmt.Sprint(b[0])
	case op.kind == "l4proto" && len(b) == 1:
		return l4Name(b[0])
	case op.kind == "nfproto" && len(b) == 1:
		switch b[0] {
		case unix.NFPROTO_IPV4:
			return "ipv4"
		case unix.NFPROTO_IPV6:
			return "ipv6"
		}
	}
	return fmt.Sprintf("0x%x", b)
}

func l4Name(p byte) string {
	switch p {
	case unix.IPPROTO_TCP:
		return "tcp"
	case unix.IPPROTO_UDP:
		return "udp"
	case unix.IPPROTO_ICMP:
		return "icmp"
	case unix.IPPROTO_ICMPV6:
		return "icmpv6"
	}
	return fmt.Sprint(p)
}

func ctStateText(mask []byte) string {
	if len(mask) != 4 {
		return fmt.Sprintf("0x%x", mask)
	}
	bits := binary.NativeEndian.Uint32(mask)
	var names []string
	for _, s := range []struct {
		bit  uint32
		name string
	}{
		{expr.CtStateBitINVALID, "invalid"}, {expr.CtStateBitESTABLISHED, "established"},
		{expr.CtStateBitRELATED, "related"}, {expr.CtStateBitNEW, "new"}, {expr.CtStateBitUNTRACKED, "untracked"},
	} {
		if bits&s.bit != 0 {
			names = append(names, s.name)
			bits &^= s.bit
		}
	}
	if bits != 0 {
		names = append(names, fmt.Sprintf("0x%x", bits))
	}
	return strings.Join(names, ",")
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
