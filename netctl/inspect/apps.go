package inspect

import (
	"net/netip"
	"slices"
)

// Bounds of the application-identity tables.
const (
	maxNames      = 16384 // interned names
	maxDNSEntries = 16384 // IP -> name mappings
	maxPaymentIPs = 4096
	maxApps       = 1024 // per-name byte totals of ended flows
	// paymentHold keeps a payment IP in the set at least this long after
	// its DNS answer, whatever the TTL: a terminal keeps using a
	// connection, and QoS must not drop it mid-transaction.
	paymentHold = int64(3600e9)
	minDNSHold  = int64(300e9)
)

// names interns lower-cased host names so flows share one string per name
// and a lookup of a known name allocates nothing.
type names struct {
	m   map[string]string
	buf [256]byte
}

// intern returns the lower-case string for b; b must be a valid hostname
// (wire.ValidHostname), so at most 253 bytes.
func (n *names) intern(b []byte) string {
	if len(b) > len(n.buf) {
		return ""
	}
	l := n.buf[:len(b)]
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		l[i] = c
	}
	l = trimDot(l)
	if s, ok := n.m[string(l)]; ok {
		return s
	}
	if n.m == nil || len(n.m) >= maxNames {
		// Flows keep their strings; only sharing restarts.
		n.m = make(map[string]string, 256)
	}
	s := string(l)
	n.m[s] = s
	return s
}

func trimDot(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '.' {
		return b[:len(b)-1]
	}
	return b
}

// dnsEntry is what a DNS answer taught about an address.
type dnsEntry struct {
	name, category string
	until          int64
}

// appTotal is bytes and flows per name, for flows that have ended.
type appTotal struct {
	category     string
	bytes, flows uint64
}

// appTable is the application-identity state.
type appTable struct {
	names   names
	dns     map[netip.Addr]dnsEntry
	payment map[netip.Addr]int64 // until
	totals  map[string]*appTotal

	dnsEvicted uint64
}

func newAppTable() *appTable {
	return &appTable{dns: map[netip.Addr]dnsEntry{}, payment: map[netip.Addr]int64{}, totals: map[string]*appTotal{}}
}

// learn records that ip answers for name until the given time. It
// reports whether ip joined the payment set.
func (a *appTable) learn(ip netip.Addr, name, category string, until int64) bool {
	ip = ip.Unmap()
	if _, ok := a.dns[ip]; !ok && len(a.dns) >= maxDNSEntries {
		// Bounded: drop an arbitrary eighth (map order is random) rather
		// than track recency for every answer.
		n := 0
		for k := range a.dns {
			delete(a.dns, k)
			a.dnsEvicted++
			if n++; n >= maxDNSEntries/8 {
				break
			}
		}
	}
	a.dns[ip] = dnsEntry{name: name, category: category, until: until}
	if category == CategoryPayment {
		return a.addPayment(ip, until)
	}
	return false
}

func (a *appTable) addPayment(ip netip.Addr, until int64) bool {
	until = max(until, 0)
	if old, ok := a.payment[ip]; ok {
		a.payment[ip] = max(old, until)
		return false
	}
	if len(a.payment) >= maxPaymentIPs {
		return false
	}
	a.payment[ip] = until
	return true
}

// expire drops DNS mappings and payment IPs past their time; it reports
// whether the payment set changed.
func (a *appTable) expire(now int64) bool {
	for k, e := range a.dns {
		if e.until < now {
			delete(a.dns, k)
		}
	}
	changed := false
	for k, until := range a.payment {
		if until < now {
			delete(a.payment, k)
			changed = true
		}
	}
	return changed
}

func (a *appTable) paymentList() []netip.Addr {
	out := make([]netip.Addr, 0, len(a.payment))
	for ip := range a.payment {
		out = append(out, ip)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// addTotal accounts an ended flow's bytes to its name.
func (a *appTable) addTotal(name, category string, bytes uint64) {
	if name == "" {
		return
	}
	t, ok := a.totals[name]
	if !ok {
		if len(a.totals) >= maxApps {
			return
		}
		t = &appTotal{category: category}
		a.totals[name] = t
	}
	t.bytes += bytes
	t.flows++
}
