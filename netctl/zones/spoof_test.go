//go:build linux

package zones

import (
	"net"
	"testing"
	"time"
)

// sendFrom sends n datagrams from a source address the sender's namespace
// holds but its zone does not own.
func sendFrom(t *testing.T, s *store, from, src, dst string, n int) {
	t.Helper()
	var c net.Conn
	err := inNS(s.ns(from), func() (err error) {
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}
		c, err = d.Dial("udp4", dst)
		return err
	})
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	defer c.Close()
	for range n {
		if _, err := c.Write([]byte("spoof")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSpoofedSourceRefused(t *testing.T) {
	s := newStore(t)
	// Each sender gets an address of another zone (or of the store, on the
	// ISP side) so it can send from it.
	ipCmd(t, "-n", s.guestName, "addr", "add", "198.18.10.12/32", "dev", s.prefix+"h")
	ipCmd(t, "-n", s.prefix+"off", "addr", "add", "198.18.10.141/32", "dev", s.prefix+"h")
	ipCmd(t, "-n", s.cloudName, "addr", "add", hostPOS+"/32", "dev", "lo")
	toInternet := serveCount(t, s.cloud, netServer+":7002")
	toBox := serveCount(t, s.gw, gwWAN1+":7003")
	toOffice := serveCount(t, s.office, hostOff+":7004")

	cases := []struct {
		name, from, src, dst string
		got                  func() int64
	}{
		{"guest sends as a POS address to the internet", "guest", "198.18.10.12", netServer + ":7002", toInternet.Load},
		{"office sends as a guest address to the internet", "office", "198.18.10.141", netServer + ":7002", toInternet.Load},
		{"ISP side sends as a POS address to the box", "isp", hostPOS, gwWAN1 + ":7003", toBox.Load},
		{"ISP side sends as a POS address to the office", "isp", hostPOS, hostOff + ":7004", toOffice.Load},
	}
	const n = 5
	// waitFor polls cond for up to 5 s: long enough for a loaded machine.
	waitFor := func(cond func() bool) bool {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if cond() {
				return true
			}
		}
		return cond()
	}

	// Without the firewall the spoofed datagrams arrive: the test can see
	// a spoof pass.
	for _, tc := range cases {
		before := tc.got()
		sendFrom(t, s, tc.from, tc.src, tc.dst, n)
		if !waitFor(func() bool { return tc.got() > before }) {
			t.Fatalf("control, no firewall: %s: nothing arrived, so the test cannot tell", tc.name)
		}
	}

	f := s.firewall(t, s.config(true), nil)
	if err := f.Apply(); err != nil {
		t.Fatal(err)
	}
	spoofCount := func() uint64 {
		if err := f.Check(); err != nil {
			t.Fatal(err)
		}
		for _, r := range f.Snapshot().Rules {
			if r.Name == ruleAntiSpoof {
				return r.Packets
			}
		}
		return 0
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, counted := tc.got(), spoofCount()
			sendFrom(t, s, tc.from, tc.src, tc.dst, n)
			// Once anti-spoof has counted them all, the kernel is done
			// with them: dropped, they can no longer arrive.
			if !waitFor(func() bool { return spoofCount()-counted >= n }) {
				t.Errorf("anti-spoof counted %d packets, want %d", spoofCount()-counted, n)
			}
			if got := tc.got() - before; got != 0 {
				t.Errorf("%d spoofed datagrams arrived", got)
			}
		})
	}
}
