package inspect

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// posWindow is the period over which a terminal's retransmit rate is
// judged (pos.retransmit_alarm_percent is "per minute").
const posWindow = int64(60e9)

// minWindowSegs keeps a handful of segments from deciding a rate.
const minWindowSegs = 20

// failedInARow is how many consecutive failed handshakes degrade a terminal.
const failedInARow = 2

// ewmaWeight is the weight of a new handshake time in the running average.
const ewmaWeight = 0.3

// terminal is one configured POS device and its health.
type terminal struct {
	name   string
	mac    [6]byte
	hasMAC bool
	ip     netip.Addr

	handshakes, failed uint64
	failedRun          int
	lastHS, maxHS      int64
	avgHS              float64 // EWMA, ns
	segs, retrans      uint64  // all time
	winStart           int64
	winSegs, winRetr   uint64
	lastRate           float64 // retransmit share of the last full window
	lastSuccess        int64

	degraded bool
	reason   string
}

func newTerminals(devs []config.POSDevice) []terminal {
	ts := make([]terminal, len(devs))
	for i, d := range devs {
		ts[i].name = d.Name
		if hw, err := net.ParseMAC(d.MAC); err == nil && len(hw) == 6 {
			ts[i].mac, ts[i].hasMAC = [6]byte(hw), true
		}
		if ip, err := netip.ParseAddr(d.IP); err == nil {
			ts[i].ip = ip.Unmap()
		}
	}
	return ts
}

// findTerminal returns the index of the terminal with this MAC or IP, or -1.
// The MAC wins: a terminal's IP may change under DHCP.
func findTerminal(ts []terminal, mac [6]byte, ip netip.Addr) int16 {
	for i := range ts {
		if ts[i].hasMAC && ts[i].mac == mac {
			return int16(i)
		}
	}
	for i := range ts {
		if !ts[i].hasMAC && ts[i].ip.IsValid() && ts[i].ip == ip {
			return int16(i)
		}
	}
	return -1
}

// segment accounts one TCP data segment of a terminal's flows.
func (t *terminal) segment(retrans bool, ts int64) {
	t.roll(ts)
	t.segs++
	t.winSegs++
	if retrans {
		t.retrans++
		t.winRetr++
	}
}

// roll closes the retransmit window when it is over.
func (t *terminal) roll(ts int64) {
	if t.winStart == 0 {
		t.winStart = ts
		return
	}
	if ts-t.winStart < posWindow {
		return
	}
	if t.winSegs >= minWindowSegs {
		t.lastRate = float64(t.winRetr) / float64(t.winSegs)
	} else {
		t.lastRate = 0
	}
	t.winStart, t.winSegs, t.winRetr = ts, 0, 0
}

// rate is the retransmit share to judge by: the running window once it
// has enough segments, else the last full window.
func (t *terminal) rate() float64 {
	if t.winSegs >= minWindowSegs {
		return max(t.lastRate, float64(t.winRetr)/float64(t.winSegs))
	}
	return t.lastRate
}

func (t *terminal) handshake(d int64) {
	t.handshakes++
	t.failedRun = 0
	t.lastHS = d
	t.maxHS = max(t.maxHS, d)
	if t.handshakes == 1 {
		t.avgHS = float64(d)
	} else {
		t.avgHS += ewmaWeight * (float64(d) - t.avgHS)
	}
}

func (t *terminal) handshakeFailed() {
	t.failed++
	t.failedRun++
}

// judge returns the terminal's health against the thresholds: degraded
// and why, in one sentence.
func (t *terminal) judge(s *settings) (bool, string) {
	switch {
	case t.failedRun >= failedInARow:
		return true, fmt.Sprintf("%d TLS handshakes to payment hosts failed in a row", t.failedRun)
	case t.handshakes > 0 && int64(t.avgHS) > s.handshakeAlarm:
		return true, fmt.Sprintf("TLS handshake to payment hosts takes %v on average (alarm above %v)",
			time.Duration(t.avgHS).Round(time.Millisecond), time.Duration(s.handshakeAlarm))
	case t.rate() > s.retransAlarm:
		return true, fmt.Sprintf("%.1f%% of TCP segments retransmitted (alarm above %.0f%%)", 100*t.rate(), 100*s.retransAlarm)
	}
	return false, ""
}
