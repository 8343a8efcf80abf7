package qos

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func has(ops []string, sub string) bool {
	return slices.ContainsFunc(ops, func(o string) bool { return strings.Contains(o, sub) })
}

func count(ops []string, sub string) int {
	n := 0
	for _, o := range ops {
		if strings.Contains(o, sub) {
			n++
		}
	}
	return n
}

// TestApplyLeafSelection: the applier tries fq_codel, then cake, then
// falls back to tbf, deciding once by what the kernel refuses.
func TestApplyLeafSelection(t *testing.T) {
	cfg := testConfig()
	for _, tc := range []struct {
		name    string
		missing []string
		want    string
		tries   []string // kinds tried on the first leaf
	}{
		{"firmware kernel", nil, LeafFqCodel, []string{"fq_codel"}},
		{"cake only", []string{LeafFqCodel}, LeafCake, []string{"fq_codel: unsupported", "cake"}},
		{"lab kernel", []string{LeafFqCodel, LeafCake}, LeafTBF, []string{"fq_codel: unsupported", "cake: unsupported", "tbf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTC(tc.missing...)
			a := newApplier(f, slog.New(slog.DiscardHandler))
			if err := a.apply(Plan(cfg, cfg.WANs[0], "ifb9", nil)); err != nil {
				t.Fatal(err)
			}
			if a.leaf != tc.want {
				t.Errorf("leaf %q, want %q", a.leaf, tc.want)
			}
			ops := f.take()
			var leafOps []string
			for _, o := range ops {
				if strings.Contains(o, "parent 1:10 handle 10:") && strings.Contains(o, "dev wan1") {
					leafOps = append(leafOps, o)
				}
			}
			if len(leafOps) != len(tc.tries) {
				t.Fatalf("leaf ops %q, want %d tries", leafOps, len(tc.tries))
			}
			for i, w := range tc.tries {
				if !strings.Contains(leafOps[i], w) {
					t.Errorf("try %d: %q, want %q", i, leafOps[i], w)
				}
			}
			// Every other leaf goes straight to the chosen kind.
			if n := count(ops, "unsupported"); n != len(tc.tries)-1 {
				t.Errorf("%d refused tries, want %d", n, len(tc.tries)-1)
			}
		})
	}
}

// TestApplyIdempotentAndMakeBeforeBreak: a repeat apply writes nothing,
// a class lost to drift is put back;
// a changed payment set is added at the spare priority before the old one
// goes; a removed class is deleted.
func TestApplyIdempotentAndMakeBeforeBreak(t *testing.T) {
	cfg := testConfig()
	f := newFakeTC(LeafFqCodel, LeafCake)
	a := newApplier(f, slog.New(slog.DiscardHandler))
	p1 := []netip.Addr{netip.MustParseAddr("192.0.2.1")}
	if err := a.apply(Plan(cfg, cfg.WANs[0], "ifb9", p1)); err != nil {
		t.Fatal(err)
	}
	first := f.take()
	if !has(first, "ifb9 parent 1: prio 10 protocol ip u32 match u32 0xc0000201") || !has(first, "dev wan1 parent ffff: prio 1 protocol all") {
		t.Fatalf("first apply:\n%s", strings.Join(first, "\n"))
	}

	if err := a.apply(Plan(cfg, cfg.WANs[0], "ifb9", p1)); err != nil {
		t.Fatal(err)
	}
	if again := f.take(); has(again, "tc filter") || has(again, " del ") || has(again, "tc class") || has(again, "handle 10: tbf") {
		t.Errorf("repeat apply rewrote something:\n%s", strings.Join(again, "\n"))
	}
	// Drift: a class deleted behind our back comes back with its leaf.
	f.classes["wan1"] = slices.DeleteFunc(f.classes["wan1"], func(id uint32) bool { return id == mkHandle(1, 0x20) })
	if err := a.apply(Plan(cfg, cfg.WANs[0], "ifb9", p1)); err != nil {
		t.Fatal(err)
	}
	if ops := f.take(); count(ops, "tc class replace") != 1 || !has(ops, "classid 1:20") || !has(ops, "dev wan1 parent 1:20 handle 20: tbf") {
		t.Errorf("drift repair:\n%s", strings.Join(ops, "\n"))
	}
	// repair rewrites everything.
	a.repair()
	if err := a.apply(Plan(cfg, cfg.WANs[0], "ifb9", p1)); err != nil {
		t.Fatal(err)
	}
	if ops := f.take(); count(ops, "tc class replace") != 12 {
		t.Errorf("repair pass wrote %d classes, want 12", count(ops, "tc class replace"))
	}

	p2 := append(p1, netip.MustParseAddr("192.0.2.2"))
	if err := a.apply(Plan(cfg, cfg.WANs[0], "ifb9", p2)); err != nil {
		t.Fatal(err)
	}
	var filterOps []string
	for _, o := range f.take() {
		if strings.Contains(o, "tc filter") {
			filterOps = append(filterOps, o)
		}
	}
	want := []string{"prio 11 protocol ip u32 match u32 0xc0000201", "prio 11 protocol ip u32 match u32 0xc0000202", "tc filter del dev ifb9 parent 1: prio 10"}
	if len(filterOps) != len(want) {
		t.Fatalf("payment change: %q", filterOps)
	}
	for i, w := range want {
		if !strings.Contains(filterOps[i], w) {
			t.Errorf("op %d: %q, want %q", i, filterOps[i], w)
		}
	}

	cfg.Classes = slices.DeleteFunc(slices.Clone(cfg.Classes), func(c Class) bool { return c.Name == ClassGuest })
	if err := a.apply(Plan(cfg, cfg.WANs[0], "ifb9", p2)); err != nil {
		t.Fatal(err)
	}
	ops := f.take()
	if !has(ops, "tc class del dev wan1 classid 1:50") || !has(ops, "tc class del dev ifb9 classid 1:50") {
		t.Errorf("guest class not removed:\n%s", strings.Join(ops, "\n"))
	}

	if err := a.remove("wan1", "ifb9"); err != nil {
		t.Fatal(err)
	}
	got := f.take()
	wantRm := []string{"tc qdisc del dev wan1 root", "tc qdisc del dev wan1 ingress", "ip link del ifb9"}
	if !slices.Equal(got, wantRm) {
		t.Errorf("remove: %q, want %q", got, wantRm)
	}
}
