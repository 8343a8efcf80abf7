package qos

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// errUnsupported is what a TC backend returns (wrapped) when the kernel
// lacks a qdisc kind (it answers ENOENT or EOPNOTSUPP).
var errUnsupported = errors.New("qdisc kind not supported by this kernel")

// TC is the traffic-control backend: the Linux one speaks rtnetlink, the
// tests' one records each call as a line of text. "Missing" is never an
// error for the Delete calls.
type TC interface {
	EnsureIFB(name string) error
	DeleteLink(name string) error
	ReplaceQdisc(q Qdisc) error
	DeleteQdisc(q Qdisc) error
	ReplaceClass(c HTBClass) error
	DeleteClass(dev string, id uint32) error
	// Classes lists the HTB class ids on dev's root.
	Classes(dev string) ([]uint32, error)
	// AddFilter adds f at priority prio.
	AddFilter(f Filter, prio uint16) error
	// DeleteFilters removes every filter of priority prio under parent.
	DeleteFilters(dev string, parent uint32, prio uint16) error
	// FilterPrios lists the filter priorities in use under parent.
	FilterPrios(dev string, parent uint32) ([]uint16, error)
	// Stats reads the counters of dev's classes (leaf qdisc drops and
	// backlog included), by class id.
	Stats(dev string) (map[uint32]ClassStats, error)
}

// applier makes the kernel's tc state match a Desired, remembering what
// it installed so a repeat apply changes nothing and a changed filter
// group is swapped make-before-break.
type applier struct {
	tc  TC
	log *slog.Logger
	// leaf is the leaf kind that worked ("" until the first apply).
	leaf string
	// groups remembers each filter group's priority and content.
	groups map[string]appliedGroup
	// applied remembers each class and leaf as last written, so a pass
	// that changes nothing writes nothing; repair clears it to rewrite
	// everything (drift repair).
	applied map[string]string
}

type appliedGroup struct {
	prio uint16
	sig  string
}

func newApplier(tc TC, log *slog.Logger) *applier {
	return &applier{tc: tc, log: log, groups: map[string]appliedGroup{}, applied: map[string]string{}}
}

// apply installs d. Every step is a replace, so it also repairs drift.
func (a *applier) apply(d Desired) error {
	if err := a.tc.EnsureIFB(d.IFB); err != nil {
		return fmt.Errorf("ifb %s: %w", d.IFB, err)
	}
	for _, s := range []Side{d.Egress, d.Ingress} {
		if err := a.side(s); err != nil {
			return fmt.Errorf("shape %s: %w", s.Dev, err)
		}
	}
	if err := a.tc.ReplaceQdisc(d.WANIngress); err != nil {
		return fmt.Errorf("ingress qdisc on %s: %w", d.WANIngress.Dev, err)
	}
	if err := a.filters(d.WANIngress.Dev, d.WANIngress.Handle, []Filter{d.Redirect}); err != nil {
		return fmt.Errorf("redirect %s to %s: %w", d.WANIngress.Dev, d.IFB, err)
	}
	return nil
}

func (a *applier) side(s Side) error {
	if err := a.tc.ReplaceQdisc(s.Root); err != nil {
		return fmt.Errorf("root qdisc: %w", err)
	}
	have, err := a.tc.Classes(s.Dev)
	if err != nil {
		return fmt.Errorf("list classes: %w", err)
	}
	want := map[uint32]bool{}
	for _, c := range s.Classes {
		want[c.ID] = true
		k := c.Dev + " class " + fmtHandle(c.ID)
		if a.applied[k] == c.String() && slices.Contains(have, c.ID) {
			continue
		}
		// A class (re)written gets its leaf written too: a new class
		// starts with the kernel's default leaf.
		delete(a.applied, c.Dev+" leaf "+fmtHandle(c.ID))
		if err := a.tc.ReplaceClass(c); err != nil {
			delete(a.applied, k)
			return fmt.Errorf("class %s: %w", fmtHandle(c.ID), err)
		}
		a.applied[k] = c.String()
	}
	// Children before the parent: HTB refuses to delete a class with children.
	slices.SortFunc(have, func(x, y uint32) int { return int(y&0xFFFF) - int(x&0xFFFF) })
	for _, id := range have {
		if !want[id] {
			delete(a.applied, s.Dev+" class "+fmtHandle(id))
			delete(a.applied, s.Dev+" leaf "+fmtHandle(id))
			if err := a.tc.DeleteClass(s.Dev, id); err != nil {
				return fmt.Errorf("delete stale class %s: %w", fmtHandle(id), err)
			}
		}
	}
	for _, l := range s.Leaves {
		if err := a.leafQdisc(l); err != nil {
			return err
		}
	}
	return a.filters(s.Dev, s.Root.Handle, s.Filters)
}

// leafQdisc installs one leaf, finding on first use which kind the kernel
// has by trying them in order; the fallback is logged once.
func (a *applier) leafQdisc(l Leaf) error {
	if a.leaf != "" {
		q := l.qdisc(a.leaf)
		k := l.Dev + " leaf " + fmtHandle(l.Class)
		if a.applied[k] == q.String() {
			return nil
		}
		if err := a.tc.ReplaceQdisc(q); err != nil {
			delete(a.applied, k)
			return fmt.Errorf("leaf %s on %s: %w", a.leaf, fmtHandle(l.Class), err)
		}
		a.applied[k] = q.String()
		return nil
	}
	var missing []string
	for _, kind := range leafKinds {
		err := a.tc.ReplaceQdisc(l.qdisc(kind))
		if errors.Is(err, errUnsupported) && kind != LeafTBF {
			missing = append(missing, kind)
			continue
		}
		if err != nil {
			return fmt.Errorf("leaf %s on %s: %w", kind, fmtHandle(l.Class), err)
		}
		a.leaf = kind
		a.applied[l.Dev+" leaf "+fmtHandle(l.Class)] = l.qdisc(kind).String()
		if len(missing) > 0 {
			a.log.Warn("qos: kernel lacks "+strings.Join(missing, " and ")+"; leaf queues fall back to a short tbf queue (10 ms or 20 frames per class), which bounds delay but does not isolate flows within a class",
				"leaf", kind)
		} else {
			a.log.Info("qos: leaf qdisc", "leaf", kind)
		}
		return nil
	}
	return errors.New("no leaf qdisc kind works") // not reached: tbf is always tried
}

// filters makes parent's filters exactly fs, one group at a time.
func (a *applier) filters(dev string, parent uint32, fs []Filter) error {
	byGroup := map[string][]Filter{}
	var order []string
	for _, f := range fs {
		if _, ok := byGroup[f.Group]; !ok {
			order = append(order, f.Group)
		}
		byGroup[f.Group] = append(byGroup[f.Group], f)
	}
	have, err := a.tc.FilterPrios(dev, parent)
	if err != nil {
		return fmt.Errorf("list filters: %w", err)
	}
	keep := map[uint16]bool{}
	for _, g := range order {
		key := dev + "/" + fmtHandle(parent) + "/" + g
		sig := signature(byGroup[g])
		base := groupBase[g]
		if cur, ok := a.groups[key]; ok && cur.sig == sig && slices.Contains(have, cur.prio) {
			keep[cur.prio] = true
			continue
		}
		prio := base
		if slices.Contains(have, base) {
			prio = base + 1
			if slices.Contains(have, prio) {
				// Both slots taken (drift): clear the spare one first.
				if err := a.tc.DeleteFilters(dev, parent, prio); err != nil {
					return fmt.Errorf("delete filters prio %d: %w", prio, err)
				}
			}
		}
		for _, f := range byGroup[g] {
			if err := a.tc.AddFilter(f, prio); err != nil {
				return fmt.Errorf("filter %s: %w", f.Comment, err)
			}
		}
		keep[prio] = true
		a.groups[key] = appliedGroup{prio: prio, sig: sig}
	}
	for _, p := range have {
		if !keep[p] {
			if err := a.tc.DeleteFilters(dev, parent, p); err != nil {
				return fmt.Errorf("delete filters prio %d: %w", p, err)
			}
		}
	}
	for key := range a.groups {
		g := key[strings.LastIndexByte(key, '/')+1:]
		if strings.HasPrefix(key, dev+"/"+fmtHandle(parent)+"/") && byGroup[g] == nil {
			delete(a.groups, key)
		}
	}
	return nil
}

func signature(fs []Filter) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// remove takes d's shaping off its WAN and deletes the IFB. Missing
// objects are fine: remove also runs after a crash.
func (a *applier) remove(wanDev, ifb string) error {
	var errs []error
	if wanDev != "" {
		errs = append(errs,
			a.tc.DeleteQdisc(Qdisc{Dev: wanDev, Parent: handleRoot, Handle: mkHandle(htbMajor, 0), Kind: "htb"}),
			a.tc.DeleteQdisc(Qdisc{Dev: wanDev, Parent: handleIngress, Handle: mkHandle(ingressMajor, 0), Kind: "ingress"}))
		a.forget(wanDev)
	}
	if ifb != "" {
		errs = append(errs, a.tc.DeleteLink(ifb))
		a.forget(ifb)
	}
	return errors.Join(errs...)
}

// forget drops what is remembered of dev.
func (a *applier) forget(dev string) {
	for key := range a.groups {
		if strings.HasPrefix(key, dev+"/") {
			delete(a.groups, key)
		}
	}
	for key := range a.applied {
		if strings.HasPrefix(key, dev+" ") {
			delete(a.applied, key)
		}
	}
}

// repair makes the next apply rewrite every class and leaf, putting back
// what someone changed behind our back.
func (a *applier) repair() { clear(a.applied) }

// NFT is the nftables backend for the classification table.
type NFT interface {
	// Apply replaces the whole table with rs in one transaction.
	Apply(rs Ruleset) error
	// AddPayment adds new addresses to the payment set and resets the
	// timeout of the refresh ones.
	AddPayment(table string, add, refresh []PaymentIP) error
	// Delete removes the table; a missing one is fine.
	Delete(table string) error
}
