//go:build linux

package zones

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// kernel talks to nf_tables over netlink, in the current network namespace
// or in the one NetNS names (tests, the lab).
type kernel struct {
	netns int
}

func (k kernel) conn() (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(bigBuffers)}
	if k.netns != 0 {
		opts = append(opts, nftables.WithNetNSFd(k.netns))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: open netlink: %w", err)
	}
	return c, nil
}

// socketBuffer is the netlink socket's send and receive buffer. A batch
// gets one ack per message; with the default 208 KiB receive buffer the
// kernel runs out of room (ENOBUFS) at a few hundred rules.
const socketBuffer = 4 << 20

// bigBuffers raises both buffers past the sysctl limits (we hold
// CAP_NET_ADMIN anyway, nf_tables needs it), falling back to the capped
// sizes without it.
func bigBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		for _, opt := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt[0], socketBuffer); e != nil {
				if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt[1], socketBuffer); e != nil {
					serr = e
				}
			}
		}
	})
	return errors.Join(err, serr)
}

func table(name string) *nftables.Table {
	return &nftables.Table{Name: name, Family: nftables.TableFamilyINet}
}

// keptRule is one rule as the kernel holds it.
type keptRule struct {
	Comment string
	Text    string
	Packets uint64
	Bytes   uint64
}

// keptChain is one chain as the kernel holds it.
type keptChain struct {
	Spec  chainSpec
	Rules []keptRule
}

// state is the owned table as read back from the kernel.
type state struct {
	Exists bool
	Chains map[string]*keptChain
	Order  []string // chain names in kernel order
	Sets   map[string]*nftables.Set
}

// read dumps the owned table: chains, rules (rendered) and sets.
func (k kernel) read(name string) (*state, error) {
	c, err := k.conn()
	if err != nil {
		return nil, err
	}
	st := &state{Chains: map[string]*keptChain{}, Sets: map[string]*nftables.Set{}}
	t, err := c.ListTableOfFamily(name, nftables.TableFamilyINet)
	if errors.Is(err, unix.ENOENT) || (err == nil && t == nil) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nftables: list table %s: %w", name, err)
	}
	st.Exists = true
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("nftables: list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name != name {
			continue
		}
		kc := &keptChain{Spec: chainSpec{Name: ch.Name, Hook: ch.Hooknum, Prio: ch.Priority, Type: ch.Type, Policy: ch.Policy}}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return nil, fmt.Errorf("nftables: list rules of %s: %w", ch.Name, err)
		}
		for _, r := range rules {
			comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			kr := keptRule{Comment: comment, Text: render(r.Exprs)}
			for _, e := range r.Exprs {
				if cnt, ok := e.(*expr.Counter); ok {
					kr.Packets, kr.Bytes = cnt.Packets, cnt.Bytes
				}
			}
			kc.Rules = append(kc.Rules, kr)
		}
		st.Chains[ch.Name] = kc
		st.Order = append(st.Order, ch.Name)
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return nil, fmt.Errorf("nftables: list sets: %w", err)
	}
	for _, s := range sets {
		st.Sets[s.Name] = s
	}
	return st, nil
}

// apply makes the owned table hold exactly rs, in one netlink batch, which
// nf_tables commits as one transaction: packets see either the old ruleset
// or the new one, never an empty or half-built table. The table, its
// chains and its sets are kept (so DNS-learned set elements survive a
// reload) and all rules are replaced. With replace, the whole table is
// deleted and rebuilt in the same batch instead, which also works when a
// set's definition changed; set elements are then carried over from old.
// Rule counters are carried over from old so per-rule totals survive.
func (k kernel) apply(rs *ruleset, old *state, replace bool) error {
	c, err := k.conn()
	if err != nil {
		return err
	}
	t := table(rs.Table)
	c.AddTable(t)
	if replace && old.Exists {
		c.DelTable(t)
		c.AddTable(t)
	}
	chains := map[string]*nftables.Chain{}
	for _, cs := range rs.Chains {
		chains[cs.Name] = c.AddChain(&nftables.Chain{Name: cs.Name, Table: t, Hooknum: cs.Hook, Priority: cs.Prio, Type: cs.Type, Policy: cs.Policy})
	}
	if !replace {
		c.FlushTable(t)
	}
	sets := map[string]*nftables.Set{}
	for i, ss := range rs.Sets {
		// Our own batch-local set IDs: left at 0, google/nftables takes one
		// from a package counter without synchronisation, a data race with
		// any other component (QoS) adding sets at the same time.
		s := &nftables.Set{Table: t, Name: ss.Name, KeyType: ss.Key, Concatenation: ss.Concat,
			HasTimeout: true, Dynamic: true, Size: ss.Size, ID: uint32(i + 1)}
		var elems []nftables.SetElement
		if replace {
			elems = old.elements(k, ss.Name)
		}
		if err := c.AddSet(s, elems); err != nil {
			return fmt.Errorf("nftables: set %s: %w", ss.Name, err)
		}
		sets[ss.Name] = s
	}
	carry := old.counters()
	for _, r := range rs.Rules {
		comment := r.comment()
		key := r.Chain + "\x00" + comment + "\x00" + render(r.Exprs)
		c.AddRule(&nftables.Rule{
			Table:    t,
			Chain:    chains[r.Chain],
			Exprs:    bind(r.Exprs, sets, carry[key]),
			UserData: userdata.AppendString(nil, userdata.TypeComment, comment),
		})
		delete(carry, key) // duplicates of one key start from zero
	}
	if !replace {
		for _, name := range old.Order {
			if !slices.ContainsFunc(rs.Chains, func(cs chainSpec) bool { return cs.Name == name }) {
				c.DelChain(&nftables.Chain{Name: name, Table: t})
			}
		}
		for name := range old.Sets {
			if !slices.ContainsFunc(rs.Sets, func(ss setSpec) bool { return ss.Name == name }) {
				c.DelSet(&nftables.Set{Name: name, Table: t})
			}
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: apply table %s: %w", rs.Table, err)
	}
	return nil
}

// bind copies a rule's expressions, pointing set references at the sets of
// this batch and starting the counter at the carried-over totals.
func bind(exprs []expr.Any, sets map[string]*nftables.Set, carried *expr.Counter) []expr.Any {
	out := make([]expr.Any, len(exprs))
	for i, e := range exprs {
		switch e := e.(type) {
		case *expr.Lookup:
			l := *e
			if s := sets[l.SetName]; s != nil {
				l.SetID = s.ID
			}
			out[i] = &l
		case *expr.Dynset:
			d := *e
			if s := sets[d.SetName]; s != nil {
				d.SetID = s.ID
			}
			out[i] = &d
		case *expr.Counter:
			cnt := expr.Counter{}
			if carried != nil {
				cnt = *carried
			}
			out[i] = &cnt
		default:
			out[i] = e
		}
	}
	return out
}

// counters maps chain, comment and text of each old rule to its counter.
func (st *state) counters() map[string]*expr.Counter {
	out := map[string]*expr.Counter{}
	if st == nil {
		return out
	}
	for name, ch := range st.Chains {
		for _, r := range ch.Rules {
			key := name + "\x00" + r.Comment + "\x00" + r.Text
			if _, dup := out[key]; !dup {
				out[key] = &expr.Counter{Packets: r.Packets, Bytes: r.Bytes}
			}
		}
	}
	return out
}

// elements returns a set's live elements with their remaining lifetime,
// for carrying them into a rebuilt table. A failure loses only learned
// entries (they come back with the next DNS answer), so it is not fatal.
func (st *state) elements(k kernel, name string) []nftables.SetElement {
	s := st.Sets[name]
	if s == nil {
		return nil
	}
	c, err := k.conn()
	if err != nil {
		return nil
	}
	elems, err := c.GetSetElements(s)
	if err != nil {
		return nil
	}
	var out []nftables.SetElement
	for _, e := range elems {
		if e.Expires > 0 {
			out = append(out, nftables.SetElement{Key: e.Key, Timeout: e.Expires})
		}
	}
	return out
}

// remove deletes the owned table; a table already gone is not an error.
func (k kernel) remove(name string) error {
	c, err := k.conn()
	if err != nil {
		return err
	}
	c.DelTable(table(name))
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("nftables: delete table %s: %w", name, err)
	}
	return nil
}
