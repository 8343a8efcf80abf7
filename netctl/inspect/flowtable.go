package inspect

import (
	"net/netip"

	"github.com/branchgw/branchgw/netctl/inspect/wire"
)

// flowKey is a bidirectional 5-tuple plus VLAN: the endpoint that sorts
// lower is a. Addresses are stored as 16 bytes (IPv4 mapped) so the key
// holds no pointers and hashes fast.
type flowKey struct {
	a, b   [16]byte
	ap, bp uint16
	vlan   uint16
	proto  uint8
}

// makeKey returns the key of p's flow and whether p travels from a to b.
func makeKey(p *wire.Packet) (flowKey, bool) {
	s, d := p.Src.As16(), p.Dst.As16()
	k := flowKey{proto: p.Proto, vlan: p.VLAN}
	if less(s, p.SrcPort, d, p.DstPort) {
		k.a, k.ap, k.b, k.bp = s, p.SrcPort, d, p.DstPort
		return k, true
	}
	k.a, k.ap, k.b, k.bp = d, p.DstPort, s, p.SrcPort
	return k, false
}

func less(a [16]byte, ap uint16, b [16]byte, bp uint16) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return ap < bp
}

func addr16(b [16]byte) netip.Addr { return netip.AddrFrom16(b).Unmap() }

// flowTable holds at most max flows in a slab addressed by index, with a
// map from key to index and an LRU list through the slab (most recently
// active at head) so idle expiry and eviction when full are O(1) per flow.
// It never allocates once the slab and map have grown to max.
type flowTable struct {
	idx        map[flowKey]int32
	slab       []flow
	free       []int32
	head, tail int32
	max        int

	created, expired, evicted uint64
}

const nilIdx = -1

func newFlowTable(max int) *flowTable {
	return &flowTable{idx: make(map[flowKey]int32, min(max, 4096)), head: nilIdx, tail: nilIdx, max: max}
}

func (t *flowTable) len() int { return len(t.idx) }

func (t *flowTable) get(k flowKey) (int32, bool) {
	i, ok := t.idx[k]
	return i, ok
}

func (t *flowTable) at(i int32) *flow { return &t.slab[i] }

// insert adds a zeroed flow for k at the head. When the table is full it
// first ends the least recently active flow through end.
func (t *flowTable) insert(k flowKey, end func(*flow, endReason)) int32 {
	if len(t.idx) >= t.max && t.tail != nilIdx {
		t.evicted++
		t.remove(t.tail, end, endEvicted)
	}
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		t.slab = append(t.slab, flow{})
		i = int32(len(t.slab) - 1)
	}
	t.slab[i] = flow{key: k, prev: nilIdx, next: nilIdx, reasm: nilIdx, term: -1}
	t.idx[k] = i
	t.pushHead(i)
	t.created++
	return i
}

// touch moves flow i to the head of the LRU list.
func (t *flowTable) touch(i int32) {
	if t.head == i {
		return
	}
	t.unlink(i)
	t.pushHead(i)
}

// expire ends flows idle since before their deadline, oldest first.
func (t *flowTable) expire(now, idle, closedIdle int64, end func(*flow, endReason)) {
	for t.tail != nilIdx {
		f := &t.slab[t.tail]
		limit := idle
		if f.state == tcpClosed {
			limit = closedIdle
		}
		if now-f.last < limit {
			return
		}
		t.expired++
		t.remove(t.tail, end, endIdle)
	}
}

func (t *flowTable) remove(i int32, end func(*flow, endReason), why endReason) {
	f := &t.slab[i]
	if end != nil {
		end(f, why)
	}
	t.unlink(i)
	delete(t.idx, f.key)
	// Drop the strings so the slab does not pin names.
	t.slab[i] = flow{}
	t.free = append(t.free, i)
}

func (t *flowTable) pushHead(i int32) {
	f := &t.slab[i]
	f.prev, f.next = nilIdx, t.head
	if t.head != nilIdx {
		t.slab[t.head].prev = i
	}
	t.head = i
	if t.tail == nilIdx {
		t.tail = i
	}
}

func (t *flowTable) unlink(i int32) {
	f := &t.slab[i]
	if f.prev != nilIdx {
		t.slab[f.prev].next = f.next
	} else {
		t.head = f.next
	}
	if f.next != nilIdx {
		t.slab[f.next].prev = f.prev
	} else {
		t.tail = f.prev
	}
	f.prev, f.next = nilIdx, nilIdx
}

// each calls fn for every flow, most recently active first.
func (t *flowTable) each(fn func(*flow)) {
	for i := t.head; i != nilIdx; i = t.slab[i].next {
		fn(&t.slab[i])
	}
}
