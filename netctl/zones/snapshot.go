//go:build linux

package zones

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
)

// Snapshot is the firewall's state for the status page and the API. It is
// immutable once published.
type Snapshot struct {
	Table      string
	Generation uint64 // successful applies so far
	AppliedAt  time.Time
	CheckedAt  time.Time
	// InSync reports that the kernel held exactly the computed ruleset at
	// CheckedAt; Repairs counts the times it did not and was re-applied.
	InSync  bool
	Repairs uint64
	Err     string // the last apply error, if the last apply failed
	Strict  bool   // pos.strict in force
	// Rules are the named rules in force, documented, with their kernel
	// rule text and counters summed over the kernel rules of each name.
	Rules []RuleStatus
	// Ruleset is the owned table as read back from the kernel.
	Ruleset string
	// PaymentIPs are the payment hosts currently allowed for POS.
	PaymentIPs []SetEntry
	// Unlisted are POS flows to destinations that are not allowlisted,
	// remembered for an hour: refused when strict, alarmed otherwise.
	Unlisted []Unlisted
}

// RuleStatus is one named rule as the kernel holds it.
type RuleStatus struct {
	RuleInfo
	// Lines are the kernel rules of this name, as "chain: rule text".
	Lines   []string
	Packets uint64
	Bytes   uint64
}

// SetEntry is one learned address and its remaining lifetime.
type SetEntry struct {
	IP      netip.Addr
	Expires time.Duration
}

// Unlisted is a POS source and the destination it tried.
type Unlisted struct {
	Src, Dst netip.Addr
	Expires  time.Duration
}

// diff lists how the kernel state differs from the ruleset; empty means the
// kernel holds exactly rs (counters and set elements aside).
func diff(rs *ruleset, st *state) []string {
	if !st.Exists {
		return []string{"table " + rs.Table + " missing"}
	}
	var d []string
	for _, cs := range rs.Chains {
		kc := st.Chains[cs.Name]
		if kc == nil {
			d = append(d, "chain "+cs.Name+" missing")
			continue
		}
		if chainHeader(cs) != chainHeader(kc.Spec) {
			d = append(d, fmt.Sprintf("chain %s is %q, want %q", cs.Name, chainHeader(kc.Spec), chainHeader(cs)))
		}
		var want []string
		for _, r := range rs.Rules {
			if r.Chain == cs.Name {
				want = append(want, fmt.Sprintf("[%s] %s", r.comment(), render(r.Exprs)))
			}
		}
		var got []string
		for _, r := range kc.Rules {
			got = append(got, fmt.Sprintf("[%s] %s", r.Comment, r.Text))
		}
		if !slices.Equal(want, got) {
			d = append(d, fmt.Sprintf("chain %s holds %d rules that differ from the %d computed", cs.Name, len(got), len(want)))
		}
	}
	for _, name := range st.Order {
		if !slices.ContainsFunc(rs.Chains, func(cs chainSpec) bool { return cs.Name == name }) {
			d = append(d, "unexpected chain "+name)
		}
	}
	for _, ss := range rs.Sets {
		if st.Sets[ss.Name] == nil {
			d = append(d, "set "+ss.Name+" missing")
		}
	}
	return d
}

// chainHeader renders a chain's hook, priority, type and policy.
func chainHeader(c chainSpec) string {
	if c.Hook == nil {
		return "regular"
	}
	hooks := map[nftables.ChainHook]string{
		*nftables.ChainHookPrerouting: "prerouting", *nftables.ChainHookInput: "input",
		*nftables.ChainHookForward: "forward", *nftables.ChainHookOutput: "output",
		*nftables.ChainHookPostrouting: "postrouting",
	}
	prio, pol := 0, "accept"
	if c.Prio != nil {
		prio = int(*c.Prio)
	}
	if c.Policy != nil && *c.Policy == nftables.ChainPolicyDrop {
		pol = "drop"
	}
	return fmt.Sprintf("type %s hook %s priority %d; policy %s", c.Type, hooks[*c.Hook], prio, pol)
}

// publishLocked turns a kernel read-back into the snapshot and emits drop
// events and POS alarms for what changed since the previous check.
func (f *Firewall) publishLocked(st *state) error {
	now := f.opts.Now()
	s := &Snapshot{
		Table: f.table, Generation: f.gen, AppliedAt: f.applied, CheckedAt: now,
		InSync: len(diff(f.rs, st)) == 0, Repairs: f.repairs, Err: f.lastErr,
	}
	if z, ok := f.cfg.zone("pos"); ok {
		s.Strict = z.Strict
	}
	byName := map[string]*RuleStatus{}
	var text strings.Builder
	fmt.Fprintf(&text, "table inet %s\n", f.table)
	for _, name := range st.Order {
		kc := st.Chains[name]
		fmt.Fprintf(&text, "chain %s (%s)\n", name, chainHeader(kc.Spec))
		for _, r := range kc.Rules {
			fmt.Fprintf(&text, "  %s  # %s\n", r.Text, r.Comment)
			rule, _, _ := strings.Cut(r.Comment, " ")
			rs := byName[rule]
			if rs == nil {
				info, ok := ruleInfo(rule)
				if !ok {
					info = RuleInfo{Name: rule, Verdict: "?", Doc: "not a rule of gatewayd's"}
				}
				rs = &RuleStatus{RuleInfo: info}
				byName[rule] = rs
			}
			rs.Lines = append(rs.Lines, name+": "+r.Text)
			rs.Packets += r.Packets
			rs.Bytes += r.Bytes
		}
	}
	s.Ruleset = text.String()
	for _, info := range catalog {
		if rs := byName[info.Name]; rs != nil {
			s.Rules = append(s.Rules, *rs)
			f.dropEventLocked(now, rs)
		}
	}
	s.PaymentIPs = f.paymentEntries(st)
	s.Unlisted = f.unlistedLocked(now, st, s.Strict)
	f.snap.Store(s)
	return nil
}

// dropMark is a drop rule's counters when they were last reported.
type dropMark struct {
	packets, bytes uint64
	at             time.Time
}

// dropEventLocked reports a drop rule's new packets, at most once per
// DropEventInterval per rule: the rate limit on drop logging. The first
// sight of a rule only takes its counters (they may carry totals from
// before a restart).
func (f *Firewall) dropEventLocked(now time.Time, rs *RuleStatus) {
	if rs.Verdict != "drop" {
		return
	}
	prev, seen := f.drops[rs.Name]
	switch {
	case !seen || rs.Packets < prev.packets || rs.Bytes < prev.bytes:
		f.drops[rs.Name] = dropMark{rs.Packets, rs.Bytes, time.Time{}} // first look, or counters restarted
		return
	case rs.Packets == prev.packets || now.Sub(prev.at) < f.opts.DropEventInterval:
		return
	}
	f.drops[rs.Name] = dropMark{rs.Packets, rs.Bytes, now}
	n := rs.Packets - prev.packets
	f.opts.Emit(Event{Time: now, Kind: EventDrop, Rule: rs.Name, Packets: n, Bytes: rs.Bytes - prev.bytes,
		Message: fmt.Sprintf("%d packets dropped by %s: %s", n, rs.Name, rs.Doc)})
}

func (f *Firewall) paymentEntries(st *state) []SetEntry {
	var out []SetEntry
	for _, e := range f.setElements(st, setPayment) {
		if ip, ok := netip.AddrFromSlice(e.Key); ok && len(e.Key) == 4 {
			out = append(out, SetEntry{IP: ip, Expires: e.Expires})
		}
	}
	return out
}

// unlistedLocked lists the pos_unlisted set and raises an alarm for each
// pair not alarmed while it stayed in the set.
func (f *Firewall) unlistedLocked(now time.Time, st *state, strict bool) []Unlisted {
	var out []Unlisted
	live := map[string]bool{}
	for _, e := range f.setElements(st, setPOSUnlisted) {
		if len(e.Key) != 8 {
			continue
		}
		src := netip.AddrFrom4([4]byte(e.Key[:4]))
		dst := netip.AddrFrom4([4]byte(e.Key[4:8]))
		u := Unlisted{Src: src, Dst: dst, Expires: e.Expires}
		out = append(out, u)
		key := src.String() + ">" + dst.String()
		live[key] = true
		if _, done := f.unlisted[key]; done {
			continue
		}
		f.unlisted[key] = now
		rule, verb := rulePOSAlarm, "sent traffic to"
		if strict {
			rule, verb = rulePOSStrict, "was refused traffic to"
		}
		f.opts.Emit(Event{Time: now, Kind: EventPOSUnlisted, Rule: rule, Src: src, Dst: dst,
			Message: fmt.Sprintf("POS device %s %s %s, which is not an allowlisted destination", src, verb, dst)})
	}
	for key := range f.unlisted {
		if !live[key] {
			delete(f.unlisted, key)
		}
	}
	slices.SortFunc(out, func(a, b Unlisted) int {
		if c := a.Src.Compare(b.Src); c != 0 {
			return c
		}
		return a.Dst.Compare(b.Dst)
	})
	return out
}

func (f *Firewall) setElements(st *state, name string) []nftables.SetElement {
	s := st.Sets[name]
	if s == nil {
		return nil
	}
	c, err := f.k.conn()
	if err != nil {
		return nil
	}
	elems, err := c.GetSetElements(s)
	if err != nil {
		f.log.Warn("zones: reading set failed", "set", name, "err", err)
		return nil
	}
	slices.SortFunc(elems, func(a, b nftables.SetElement) int {
		return int(binary.BigEndian.Uint32(pad4(a.Key))) - int(binary.BigEndian.Uint32(pad4(b.Key)))
	})
	return elems
}

func pad4(b []byte) []byte {
	if len(b) >= 4 {
		return b[:4]
	}
	return append(make([]byte, 4-len(b)), b...)
}
