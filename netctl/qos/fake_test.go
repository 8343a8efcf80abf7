package qos

import (
	"fmt"
	"slices"
	"strings"
)

// fakeTC records every call as a line of text and keeps just enough
// state (classes, filter priorities) for the applier's reads.
type fakeTC struct {
	ops     []string
	missing map[string]bool // qdisc kinds the "kernel" lacks
	classes map[string][]uint32
	prios   map[string][]uint16
}

func newFakeTC(missing ...string) *fakeTC {
	f := &fakeTC{missing: map[string]bool{}, classes: map[string][]uint32{}, prios: map[string][]uint16{}}
	for _, m := range missing {
		f.missing[m] = true
	}
	return f
}

func (f *fakeTC) log(format string, a ...any) { f.ops = append(f.ops, fmt.Sprintf(format, a...)) }

// take returns the recorded lines and forgets them.
func (f *fakeTC) take() []string { o := f.ops; f.ops = nil; return o }

func (f *fakeTC) EnsureIFB(name string) error {
	f.log("ip link add %s type ifb; ip link set %s up", name, name)
	return nil
}
func (f *fakeTC) DeleteLink(name string) error {
	f.log("ip link del %s", name)
	return nil
}

func (f *fakeTC) ReplaceQdisc(q Qdisc) error {
	if f.missing[q.Kind] {
		f.log("%s: unsupported", q)
		return fmt.Errorf("%s: %w", q.Kind, errUnsupported)
	}
	f.log("%s", q)
	return nil
}

func (f *fakeTC) DeleteQdisc(q Qdisc) error {
	f.log("tc qdisc del dev %s %s", q.Dev, fmtHandle(q.Parent))
	delete(f.classes, q.Dev)
	for k := range f.prios {
		if strings.HasPrefix(k, q.Dev+" ") {
			delete(f.prios, k)
		}
	}
	return nil
}

func (f *fakeTC) ReplaceClass(c HTBClass) error {
	f.log("%s", c)
	if !slices.Contains(f.classes[c.Dev], c.ID) {
		f.classes[c.Dev] = append(f.classes[c.Dev], c.ID)
	}
	return nil
}

func (f *fakeTC) DeleteClass(dev string, id uint32) error {
	f.log("tc class del dev %s classid %s", dev, fmtHandle(id))
	f.classes[dev] = slices.DeleteFunc(f.classes[dev], func(x uint32) bool { return x == id })
	return nil
}

func (f *fakeTC) Classes(dev string) ([]uint32, error) { return slices.Clone(f.classes[dev]), nil }

func key(dev string, parent uint32) string { return dev + " " + fmtHandle(parent) }

func (f *fakeTC) AddFilter(fl Filter, prio uint16) error {
	f.log("%s", strings.Replace(fl.String(), "prio "+fl.Group, fmt.Sprintf("prio %d", prio), 1))
	k := key(fl.Dev, fl.Parent)
	if !slices.Contains(f.prios[k], prio) {
		f.prios[k] = append(f.prios[k], prio)
		slices.Sort(f.prios[k])
	}
	return nil
}

func (f *fakeTC) DeleteFilters(dev string, parent uint32, prio uint16) error {
	f.log("tc filter del dev %s parent %s prio %d", dev, fmtHandle(parent), prio)
	k := key(dev, parent)
	f.prios[k] = slices.DeleteFunc(f.prios[k], func(p uint16) bool { return p == prio })
	return nil
}

func (f *fakeTC) FilterPrios(dev string, parent uint32) ([]uint16, error) {
	return slices.Clone(f.prios[key(dev, parent)]), nil
}

func (f *fakeTC) Stats(dev string) (map[uint32]ClassStats, error) {
	out := map[uint32]ClassStats{}
	for _, id := range f.classes[dev] {
		out[id] = ClassStats{Packets: uint64(id & 0xFF)}
	}
	return out, nil
}

// fakeNFT records the tables it is given.
type fakeNFT struct {
	ops    []string
	tables map[string]string
	fail   error
}

func (f *fakeNFT) Apply(rs Ruleset) error {
	if f.fail != nil {
		return f.fail
	}
	f.tables[rs.Table] = rs.String()
	f.ops = append(f.ops, "nft apply "+rs.Table)
	return nil
}

func (f *fakeNFT) AddPayment(table string, add, refresh []PaymentIP) error {
	for _, p := range add {
		f.ops = append(f.ops, fmt.Sprintf("nft add element inet %s payment { %s timeout %s }", table, p.Addr, p.Timeout))
	}
	for _, p := range refresh {
		f.ops = append(f.ops, fmt.Sprintf("nft refresh element inet %s payment { %s timeout %s }", table, p.Addr, p.Timeout))
	}
	return nil
}

func (f *fakeNFT) Delete(table string) error {
	delete(f.tables, table)
	f.ops = append(f.ops, "nft delete table inet "+table)
	return nil
}
