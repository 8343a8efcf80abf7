package inspect

import (
	"bytes"
	"testing"
)

func TestReasmBuf(t *testing.T) {
	data := []byte("0123456789abcdefghij")
	tests := []struct {
		name   string
		segs   [][2]int // [from, to) offsets of data, in arrival order
		prefix int
		ok     bool
	}{
		{"in order", [][2]int{{0, 5}, {5, 10}, {10, 20}}, 20, true},
		{"reversed", [][2]int{{15, 20}, {10, 15}, {5, 10}, {0, 5}}, 20, true},
		{"hole", [][2]int{{0, 5}, {10, 20}}, 5, true},
		{"overlaps and duplicates", [][2]int{{2, 8}, {0, 4}, {2, 8}, {6, 12}}, 12, true},
		{"nothing from the start", [][2]int{{3, 9}}, 0, true},
		{"beyond the buffer", [][2]int{{0, 4}, {16, 20}}, 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newReasmPool(16, 1)
			i := p.get(1000)
			b := &p.bufs[i]
			ok := true
			for _, s := range tt.segs {
				ok = b.add(uint32(1000+s[0]), data[s[0]:s[1]]) && ok
			}
			if ok != tt.ok || len(b.prefix()) != min(tt.prefix, 16) || !bytes.Equal(b.prefix(), data[:len(b.prefix())]) {
				t.Errorf("ok %v prefix %q", ok, b.prefix())
			}
		})
	}
	// Too many holes: the ninth disjoint span is refused.
	p := newReasmPool(64, 1)
	b := &p.bufs[p.get(0)]
	for k := 0; k < maxSpans; k++ {
		if !b.add(uint32(1+3*k), []byte{1}) {
			t.Fatalf("span %d refused", k)
		}
	}
	if b.add(60, []byte{1}) {
		t.Error("span beyond maxSpans accepted")
	}
	// Slots are bounded and reused.
	p = newReasmPool(8, 2)
	a, c := p.get(0), p.get(0)
	if p.get(0) != nilIdx || p.noSlot != 1 {
		t.Error("third slot granted")
	}
	p.put(a)
	if p.get(5) != a || p.inUse != 2 {
		t.Error("slot not reused")
	}
	p.put(c)
}
