package inspect

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/branchgw/branchgw/netctl/inspect/oui"
	"github.com/gopacket/gopacket/layers"
)

// maxDeviceIPs bounds the addresses remembered per device (newest kept).
const maxDeviceIPs = 4

// device is one LAN station, by MAC.
type device struct {
	mac                          [6]byte
	ips                          [maxDeviceIPs]netip.Addr
	vendor                       string
	hostname, fingerprint, class string
	first, last                  int64
	changed                      int64 // last new address or DHCP fact
	bytes, pkts                  uint64
	term                         int16 // POS terminal index or -1
	alarmed                      bool  // new-device alarm raised
}

func (d *device) hasIP(ip netip.Addr) bool {
	for _, a := range d.ips {
		if a == ip {
			return true
		}
	}
	return false
}

// addIP remembers ip, dropping the oldest when full. It reports whether
// ip is new.
func (d *device) addIP(ip netip.Addr) bool {
	if d.hasIP(ip) {
		return false
	}
	copy(d.ips[1:], d.ips[:maxDeviceIPs-1])
	d.ips[0] = ip
	return true
}

// deviceTable holds at most max devices; when full the one seen least
// recently makes room (a linear scan, but only when a new MAC appears
// on a full table).
type deviceTable struct {
	idx     map[[6]byte]int32
	slab    []device
	max     int
	evicted uint64
}

func newDeviceTable(max int) *deviceTable {
	return &deviceTable{idx: make(map[[6]byte]int32, min(max, 1024)), max: max}
}

// get returns the device for mac, creating it; isNew says it was created.
func (t *deviceTable) get(mac [6]byte, ts int64) (d *device, isNew bool) {
	if i, ok := t.idx[mac]; ok {
		return &t.slab[i], false
	}
	var i int32
	if len(t.slab) < t.max {
		t.slab = append(t.slab, device{})
		i = int32(len(t.slab) - 1)
	} else {
		i = 0
		for j := range t.slab {
			if t.slab[j].last < t.slab[i].last {
				i = int32(j)
			}
		}
		delete(t.idx, t.slab[i].mac)
		t.evicted++
	}
	t.slab[i] = device{mac: mac, first: ts, last: ts, changed: ts, term: -1, vendor: oui.Lookup3([3]byte(mac[:3]))}
	t.idx[mac] = i
	return &t.slab[i], true
}

// dhcpFacts extracts what identifies a device from a DHCPv4 message:
// hostname (option 12), vendor class (60) and the parameter request list
// (55) as a fingerprint "1,3,6,15" (the Fingerbank convention).
func dhcpFacts(m *layers.DHCPv4) (hostname, fingerprint, class string, msgType layers.DHCPMsgType) {
	for _, o := range m.Options {
		switch o.Type {
		case layers.DHCPOptMessageType:
			if len(o.Data) == 1 {
				msgType = layers.DHCPMsgType(o.Data[0])
			}
		case layers.DHCPOptHostname:
			hostname = printable(o.Data, 63)
		case layers.DHCPOptClassID:
			class = printable(o.Data, 63)
		case layers.DHCPOptParamsRequest:
			var b strings.Builder
			for i, p := range o.Data {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.Itoa(int(p)))
			}
			fingerprint = b.String()
		}
	}
	return
}

// printable keeps at most n bytes of b, replacing anything but printable
// ASCII, so a hostile hostname cannot reach logs or the page raw.
func printable(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}
