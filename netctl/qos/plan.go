package qos

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Handles as the kernel spells them (TC_H_ROOT, TC_H_INGRESS).
const (
	handleRoot    uint32 = 0xFFFFFFFF
	handleIngress uint32 = 0xFFFFFFF1
	htbMajor      uint16 = 1
	rootClass     uint16 = 1
	ingressMajor  uint16 = 0xFFFF
	ethPAll       uint16 = 0x0003
	ethPIP        uint16 = 0x0800
	minClassRate  uint64 = 8000
	mtu           uint64 = 1514
	// fallbackQueue is the tbf leaf's queue, in time at the class ceiling.
	fallbackQueue = 10 * time.Millisecond
)

// Filter groups and their base priorities: a group changes by adding its
// new filters at the other of its two priorities and then deleting the
// old ones, so no packet ever meets a half-built group.
const (
	groupRedirect = "redirect"
	groupProbes   = "probes"
	groupPayment  = "payment"
	groupRules    = "rules"
)

var groupBase = map[string]uint16{groupRedirect: 1, groupProbes: 5, groupPayment: 10, groupRules: 20}

func mkHandle(maj, min uint16) uint32 { return uint32(maj)<<16 | uint32(min) }

// fmtHandle prints a handle the way tc does ("1:10", "ffff:").
func fmtHandle(h uint32) string {
	switch h {
	case handleRoot:
		return "root"
	case handleIngress:
		return "ingress"
	}
	if h&0xFFFF == 0 {
		return fmt.Sprintf("%x:", h>>16)
	}
	return fmt.Sprintf("%x:%x", h>>16, h&0xFFFF)
}

// Leaf kinds, in order of preference.
const (
	LeafFqCodel = "fq_codel"
	LeafCake    = "cake"
	LeafTBF     = "tbf" // the short-queue fallback
)

// leafKinds is the order the applier tries.
var leafKinds = []string{LeafFqCodel, LeafCake, LeafTBF}

// Qdisc is one queueing discipline of the plan.
type Qdisc struct {
	Dev    string
	Parent uint32
	Handle uint32
	Kind   string // htb, ingress, fq_codel, cake, tbf
	// DefaultClass is htb's class for unclassified packets (minor id).
	DefaultClass uint16
	// RateBits and LimitBytes are tbf's (the fallback leaf).
	RateBits   uint64
	LimitBytes uint32
}

func (q Qdisc) String() string {
	where := "parent " + fmtHandle(q.Parent)
	if q.Parent == handleRoot || q.Parent == handleIngress {
		where = fmtHandle(q.Parent)
	}
	s := fmt.Sprintf("tc qdisc replace dev %s %s handle %s %s", q.Dev, where, fmtHandle(q.Handle), q.Kind)
	switch q.Kind {
	case "htb":
		s += fmt.Sprintf(" default %x", q.DefaultClass)
	case LeafTBF:
		s += fmt.Sprintf(" rate %s limit %d", fmtRate(q.RateBits), q.LimitBytes)
	}
	return s
}

// HTBClass is one HTB class of the plan.
type HTBClass struct {
	Dev    string
	Name   string
	ID     uint32
	Parent uint32
	// RateBits and CeilBits are in bit/s.
	RateBits, CeilBits uint64
	Prio               uint32
	// Quantum is the bytes a class may send per round among its peers.
	Quantum uint32
}

func (c HTBClass) String() string {
	s := fmt.Sprintf("tc class replace dev %s parent %s classid %s htb rate %s ceil %s",
		c.Dev, fmtHandle(c.Parent), fmtHandle(c.ID), fmtRate(c.RateBits), fmtRate(c.CeilBits))
	if c.Name != "" {
		s += fmt.Sprintf(" prio %d quantum %d # %s", c.Prio, c.Quantum, c.Name)
	}
	return s
}

// Key is one u32 match: the 32-bit word at Off, masked, equals Val.
type Key struct {
	Off       int32
	Mask, Val uint32
}

// Filter is one u32 filter: its keys all match, then it either picks
// ClassID or redirects to RedirectDev.
type Filter struct {
	Dev      string
	Parent   uint32
	Group    string
	Protocol uint16
	Keys     []Key // none matches everything
	ClassID  uint32
	// RedirectDev is the IFB that act_mirred hands the packet to.
	RedirectDev string
	Comment     string
}

func (f Filter) String() string {
	proto := "ip"
	if f.Protocol == ethPAll {
		proto = "all"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tc filter add dev %s parent %s prio %s protocol %s u32", f.Dev, fmtHandle(f.Parent), f.Group, proto)
	if len(f.Keys) == 0 {
		b.WriteString(" match u32 0 0")
	}
	for _, k := range f.Keys {
		fmt.Fprintf(&b, " match u32 0x%08x 0x%08x at %d", k.Val, k.Mask, k.Off)
	}
	if f.RedirectDev != "" {
		fmt.Fprintf(&b, " action mirred egress redirect dev %s", f.RedirectDev)
	} else {
		fmt.Fprintf(&b, " classid %s", fmtHandle(f.ClassID))
	}
	if f.Comment != "" {
		b.WriteString(" # " + f.Comment)
	}
	return b.String()
}

// Side is one direction's shaping: an HTB tree on Dev.
type Side struct {
	Dev      string
	RateBits uint64 // the shaped rate (line rate less the margin)
	Root     Qdisc
	Classes  []HTBClass // the parent class first
	Leaves   []Leaf
	Filters  []Filter
}

// Leaf is the place of one leaf qdisc; its kind is the applier's choice.
type Leaf struct {
	Dev      string
	Class    uint32
	CeilBits uint64
}

// qdisc is the leaf as a qdisc of the given kind.
func (l Leaf) qdisc(kind string) Qdisc {
	q := Qdisc{Dev: l.Dev, Parent: l.Class, Handle: mkHandle(uint16(l.Class&0xFFFF), 0), Kind: kind}
	if kind == LeafTBF {
		// A pass-through rate (HTB already paces the class) and a queue of
		// fallbackQueue at the class's ceiling, at least ten full frames.
		// Short matters most on the download side: what queues on the IFB
		// bounds the senders' windows, and a window arrives at the modem
		// as one burst (CUBIC does not pace), queueing there, in front of
		// everything, for as long as it takes to drain.
		q.RateBits = max(l.CeilBits*10, 100e6)
		q.LimitBytes = uint32(max(l.CeilBits/8*uint64(fallbackQueue/time.Millisecond)/1000, 20*mtu))
	}
	return q
}

// Desired is the whole tc state for one active WAN.
type Desired struct {
	WAN     string
	Egress  Side
	Ingress Side
	// WANIngress is the WAN's ingress qdisc; Redirect its match-all filter.
	WANIngress Qdisc
	Redirect   Filter
	IFB        string
}

// Lines renders d as tc commands with leaves of the given kind; table
// tests compare them.
func (d Desired) Lines(leaf string) []string {
	var out []string
	for _, s := range []Side{d.Egress, d.Ingress} {
		out = append(out, s.Root.String())
		for _, c := range s.Classes {
			out = append(out, c.String())
		}
		for _, l := range s.Leaves {
			out = append(out, l.qdisc(leaf).String())
		}
		for _, f := range s.Filters {
			out = append(out, f.String())
		}
	}
	return append(out, d.WANIngress.String(), d.Redirect.String())
}

// Plan computes the tc state for wan with the IFB named ifb. payment are
// the payment processor addresses known now.
func Plan(cfg Config, wan WAN, ifb string, payment []netip.Addr) Desired {
	d := Desired{WAN: wan.Name, IFB: ifb}
	d.Egress = side(cfg, wan.Interface, shaped(wan.Up, cfg.MarginPercent), wan.Metered)
	d.Ingress = side(cfg, ifb, shaped(wan.Down, cfg.DownloadMarginPercent), wan.Metered)
	d.Ingress.Filters = ingressFilters(cfg, ifb, payment)
	d.WANIngress = Qdisc{Dev: wan.Interface, Parent: handleIngress, Handle: mkHandle(ingressMajor, 0), Kind: "ingress"}
	d.Redirect = Filter{Dev: wan.Interface, Parent: mkHandle(ingressMajor, 0), Group: groupRedirect, Protocol: ethPAll,
		RedirectDev: ifb, Comment: "all download traffic through the IFB"}
	return d
}

// shaped is the line rate less the margin, so the queue forms here.
func shaped(line uint64, margin int) uint64 { return line * uint64(100-margin) / 100 }

func side(cfg Config, dev string, rate uint64, metered bool) Side {
	s := Side{Dev: dev, RateBits: rate}
	s.Root = Qdisc{Dev: dev, Parent: handleRoot, Handle: mkHandle(htbMajor, 0), Kind: "htb", DefaultClass: classMinor(ClassDefault)}
	parent := mkHandle(htbMajor, rootClass)
	s.Classes = append(s.Classes, HTBClass{Dev: dev, ID: parent, Parent: mkHandle(htbMajor, 0), RateBits: rate, CeilBits: rate})
	for _, name := range classOrder {
		i := classIndex(cfg.Classes, name)
		if i < 0 {
			continue
		}
		cl := cfg.Classes[i]
		r := max(percentOf(rate, cl.RatePercent), minClassRate)
		c := max(percentOf(rate, cl.CeilPercent), r)
		if metered && (name == ClassBulk || name == ClassGuest) {
			// A metered line carries payments, not backups: bulk and guest
			// get their guaranteed share and nothing more.
			c = r
		}
		id := mkHandle(htbMajor, classMinor(name))
		s.Classes = append(s.Classes, HTBClass{Dev: dev, Name: name, ID: id, Parent: parent,
			RateBits: r, CeilBits: c, Prio: classPrio(name), Quantum: quantum(r)})
		s.Leaves = append(s.Leaves, Leaf{Dev: dev, Class: id, CeilBits: c})
	}
	return s
}

// quantum keeps HTB's deficit round robin fair without the kernel's
// "quantum is too small/big" warnings: a tenth of a second's bytes at
// rate/10 (HTB's r2q), clamped to one frame and 60000 bytes.
// percentOf is pct % of rate, exact and without overflow for any rate.
func percentOf(rate uint64, pct int) uint64 {
	p := uint64(pct)
	return rate/100*p + rate%100*p/100
}

func quantum(rate uint64) uint32 { return uint32(min(max(rate/8/10, mtu), 60000)) }

func classIndex(cs []Class, name string) int {
	for i, c := range cs {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// u32 keys on the IPv4 header (offsets from the network header). The port
// keys assume a 20-byte header; the ihl key makes sure of it, and the
// fragment key keeps later fragments, which carry no ports, out.
var (
	keyIHL5    = Key{Off: 0, Mask: 0x0F000000, Val: 0x05000000}
	keyNotFrag = Key{Off: 4, Mask: 0x00001FFF, Val: 0}
)

func keyProto(p uint8) Key    { return Key{Off: 8, Mask: 0x00FF0000, Val: uint32(p) << 16} }
func keyDSCP(d int) Key       { return Key{Off: 0, Mask: 0x00FC0000, Val: uint32(d) << 18} }
func keySrc(a netip.Addr) Key { b := a.As4(); return Key{Off: 12, Mask: 0xFFFFFFFF, Val: be32(b[:])} }
func keySport(v, m uint16) Key {
	return Key{Off: 20, Mask: uint32(m) << 16, Val: uint32(v) << 16}
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// ingressFilters classify downloads on the IFB from what the packet shows
// before NAT: the probes' answers (source address, protocol and port),
// payment processors by source address, then the rules, with their ports
// as source ports (the server's side).
func ingressFilters(cfg Config, dev string, payment []netip.Addr) []Filter {
	parent := mkHandle(htbMajor, 0)
	var fs []Filter
	for _, p := range cfg.Probes {
		keys := []Key{keySrc(p.Addr), keyProto(p.Proto)}
		if p.Port != 0 {
			keys = append(keys, keyIHL5, keyNotFrag, keySport(p.Port, 0xFFFF))
		}
		fs = append(fs, Filter{Dev: dev, Parent: parent, Group: groupProbes, Protocol: ethPIP,
			Keys: keys, ClassID: mkHandle(htbMajor, classMinor(ClassPOS)), Comment: "probe " + p.String()})
	}
	if classIndex(cfg.Classes, ClassPOS) >= 0 {
		for _, a := range payment {
			fs = append(fs, Filter{Dev: dev, Parent: parent, Group: groupPayment, Protocol: ethPIP,
				Keys: []Key{keySrc(a)}, ClassID: mkHandle(htbMajor, classMinor(ClassPOS)), Comment: "payment " + a.String()})
		}
	}
	for i, r := range cfg.Rules {
		class := mkHandle(htbMajor, classMinor(r.Class))
		var base []Key
		if r.DSCP >= 0 {
			base = append(base, keyDSCP(r.DSCP))
		}
		comment := fmt.Sprintf("rule %d: %s", i, r.Class)
		if len(r.Ports) == 0 {
			fs = append(fs, Filter{Dev: dev, Parent: parent, Group: groupRules, Protocol: ethPIP, Keys: base, ClassID: class, Comment: comment})
			continue
		}
		for _, proto := range protos(r.Proto) {
			for _, pr := range r.Ports {
				for _, vm := range portBlocks(pr.Lo, pr.Hi) {
					keys := append(append([]Key{}, base...), keyProto(proto), keyIHL5, keyNotFrag, keySport(vm[0], vm[1]))
					fs = append(fs, Filter{Dev: dev, Parent: parent, Group: groupRules, Protocol: ethPIP, Keys: keys, ClassID: class, Comment: comment})
				}
			}
		}
	}
	return fs
}

func protos(p string) []uint8 {
	switch p {
	case "tcp":
		return []uint8{6}
	case "udp":
		return []uint8{17}
	}
	return []uint8{6, 17}
}

// portBlocks splits lo-hi into aligned value/mask blocks, as u32 can only
// match a port under a mask.
func portBlocks(lo, hi uint16) [][2]uint16 {
	var out [][2]uint16
	for v := uint32(lo); v <= uint32(hi); {
		size := uint32(1)
		for v%(size*2) == 0 && v+size*2-1 <= uint32(hi) && size < 1<<16 {
			size *= 2
		}
		out = append(out, [2]uint16{uint16(v), uint16(^(size - 1))})
		v += size
	}
	return out
}

// fmtRate prints bit/s the way tc does.
func fmtRate(b uint64) string {
	switch {
	case b%1e6 == 0:
		return fmt.Sprintf("%dmbit", b/1e6)
	case b%1e3 == 0:
		return fmt.Sprintf("%dkbit", b/1e3)
	}
	return fmt.Sprintf("%dbit", b)
}
