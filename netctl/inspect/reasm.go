package inspect

// reasmPool holds the bounded buffers in which ClientHellos split across
// TCP segments are put back together. Post-quantum key shares
// (X25519MLKEM768) make a ClientHello larger than one MSS, so the server
// name often sits in the second segment. A buffer is size bytes (config
// inspect.reassembly_bytes); at most slots flows reassemble at once, so
// the memory is bounded whatever the traffic does.
type reasmPool struct {
	size  int
	bufs  []reasmBuf
	free  []int32
	inUse int

	started, completed, tooBig, noSlot uint64
}

// reasmBuf is one flow's reassembly: data[i] is the byte at sequence
// number base+i; spans lists the filled ranges, merged and sorted.
type reasmBuf struct {
	data  []byte
	base  uint32
	spans [maxSpans]span
	n     int
}

type span struct{ lo, hi int }

// maxSpans bounds the holes a buffer tracks; more means a pathological
// stream, not a ClientHello.
const maxSpans = 8

func newReasmPool(size, slots int) *reasmPool {
	p := &reasmPool{size: size, bufs: make([]reasmBuf, slots)}
	for i := slots - 1; i >= 0; i-- {
		p.free = append(p.free, int32(i))
	}
	return p
}

// get starts a buffer at sequence number base, or returns nilIdx when every
// slot is taken.
func (p *reasmPool) get(base uint32) int32 {
	n := len(p.free)
	if n == 0 {
		p.noSlot++
		return nilIdx
	}
	i := p.free[n-1]
	p.free = p.free[:n-1]
	b := &p.bufs[i]
	if b.data == nil {
		b.data = make([]byte, p.size) // once per slot, reused after
	}
	b.base, b.n = base, 0
	p.inUse++
	p.started++
	return i
}

func (p *reasmPool) put(i int32) {
	if i == nilIdx {
		return
	}
	p.free = append(p.free, i)
	p.inUse--
}

// add copies a segment in. It reports false when the segment cannot be
// placed: beyond the buffer, or too many holes.
func (b *reasmBuf) add(seq uint32, payload []byte) bool {
	off := int(int32(seq - b.base))
	if off < 0 { // starts before the buffer: keep the part inside
		if -off >= len(payload) {
			return true
		}
		payload = payload[-off:]
		off = 0
	}
	if off >= len(b.data) {
		return false
	}
	hi := off + copy(b.data[off:], payload)
	return b.mark(span{off, hi})
}

// mark records s as filled, merging overlapping and adjacent spans.
func (b *reasmBuf) mark(s span) bool {
	// Insert in order of lo, then merge in one pass.
	if b.n == maxSpans {
		return false
	}
	i := b.n
	for i > 0 && b.spans[i-1].lo > s.lo {
		b.spans[i] = b.spans[i-1]
		i--
	}
	b.spans[i] = s
	b.n++
	w := 0
	for r := 1; r < b.n; r++ {
		if b.spans[r].lo <= b.spans[w].hi {
			b.spans[w].hi = max(b.spans[w].hi, b.spans[r].hi)
			continue
		}
		w++
		b.spans[w] = b.spans[r]
	}
	b.n = w + 1
	return true
}

// prefix returns the contiguous bytes from base.
func (b *reasmBuf) prefix() []byte {
	if b.n == 0 || b.spans[0].lo != 0 {
		return nil
	}
	return b.data[:b.spans[0].hi]
}

// full reports whether the contiguous prefix fills the buffer.
func (b *reasmBuf) full() bool { return len(b.prefix()) == len(b.data) }
