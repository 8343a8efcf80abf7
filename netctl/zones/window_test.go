//go:build linux

package zones

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// probers keep opening flows while the firewall changes: refused cells must
// never get an answer, the allowed one should keep working.
type probers struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	attempts atomic.Int64
	mu       sync.Mutex
	passed   []string
	okFlows  atomic.Int64
	lastSeen atomic.Value // string: the source the internet server saw last
	blasts   []blast
	sent     atomic.Int64
}

const loopProbeTimeout = 100 * time.Millisecond

// blast is a refused UDP flow sent every millisecond from one socket to a
// counting receiver: it resolves a window of about a millisecond, where the
// connection probes resolve one probe timeout.
type blast struct {
	from, addr string
	got        *atomic.Int64
}

// serveCount counts datagrams arriving at addr in ns.
func serveCount(t testing.TB, ns netns.NsHandle, addr string) *atomic.Int64 {
	t.Helper()
	var pc net.PacketConn
	if err := inNS(ns, func() (err error) { pc, err = net.ListenPacket("udp4", addr); return err }); err != nil {
		t.Fatalf("listen udp %s: %v", addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	n := new(atomic.Int64)
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	return n
}

func (s *store) startProbers(refused []cell, allowed *cell, blasts []blast) *probers {
	p := &probers{stop: make(chan struct{}), blasts: blasts}
	p.lastSeen.Store("")
	loop := func(f func()) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				select {
				case <-p.stop:
					return
				default:
					f()
				}
			}
		}()
	}
	for _, c := range refused {
		loop(func() {
			p.attempts.Add(1)
			if seen, ok := probe(s.ns(c.from), c.proto, c.addr, loopProbeTimeout); ok {
				p.mu.Lock()
				p.passed = append(p.passed, c.String()+" passed, server saw "+seen)
				p.mu.Unlock()
			}
		})
	}
	for _, b := range p.blasts {
		var c net.Conn
		if err := inNS(s.ns(b.from), func() (err error) { c, err = net.Dial("udp4", b.addr); return err }); err != nil {
			panic(err)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-p.stop:
					return
				case <-t.C:
					_, _ = c.Write([]byte("blast"))
					p.sent.Add(1)
				}
			}
		}()
	}
	if allowed != nil {
		loop(func() {
			if seen, ok := probe(s.ns(allowed.from), allowed.proto, allowed.addr, loopProbeTimeout); ok {
				p.okFlows.Add(1)
				p.lastSeen.Store(seen)
			} else {
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	return p
}

// halt stops the probers and returns what passed that should not have.
func (p *probers) halt() []string {
	close(p.stop)
	p.wg.Wait()
	time.Sleep(20 * time.Millisecond) // let the last datagrams land
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.blasts {
		if n := b.got.Swap(0); n > 0 {
			p.passed = append(p.passed, fmt.Sprintf("%s -> %s udp blast: %d datagrams arrived", b.from, b.addr, n))
		}
	}
	return p.passed
}

func refusedUnderChange() []cell {
	return []cell{
		{"guest", "pos host", "tcp", hostPOS + ":7000", false, ""},
		{"guest", "pos host", "udp", hostPOS + ":7000", false, ""},
		{"isp", "office host", "tcp", hostOff + ":7000", false, ""},
		{"isp", "office host", "udp", hostOff + ":7000", false, ""},
		{"pos", "internet", "tcp", netServer + ":7000", false, ""},
		{"guest", "status page", "tcp", gwOffice + ":" + pagePort, false, ""},
	}
}

// TestNoWindowDuringReloadAndFailover is the issue's "a prober never sees a
// refused flow pass": config reloads (in place and rebuilt), payment set
// updates and a WAN failover happen while refused flows are tried
// continuously. A control at the end shows the probers do catch a window
// when one exists (a naive delete-then-create update; 1 s long so that a
// loaded CI machine still schedules the probers inside it).
func TestNoWindowDuringReloadAndFailover(t *testing.T) {
	s := newStore(t)
	cfgA := s.config(true)
	cfgB := s.config(true)
	cfgB.Zones[0].Allow = append(cfgB.Zones[0].Allow, netip.MustParsePrefix("198.51.100.77/32"))
	cfgB.Zones[1].Allow = []netip.Prefix{netip.MustParsePrefix("203.0.113.77/32")}
	f := s.firewall(t, cfgA, nil)
	if err := f.Apply(); err != nil {
		t.Fatal(err)
	}
	allowed := cell{"office", "internet", "tcp", netServer + ":7000", true, ""}
	blasts := []blast{
		{"guest", hostPOS + ":7001", serveCount(t, s.pos, hostPOS+":7001")},
		{"isp", hostOff + ":7001", serveCount(t, s.office, hostOff+":7001")},
		{"pos", netServer + ":7001", serveCount(t, s.cloud, netServer+":7001")},
	}
	p := s.startProbers(refusedUnderChange(), &allowed, blasts)
	// A flow open before the reloads (a payment in progress) must keep
	// working through them; it is ended before the failover, which takes
	// its WAN away.
	serveEcho(t, s.cloud, netServer+":7006")
	var flow net.Conn
	if err := inNS(s.office, func() (err error) { flow, err = net.Dial("tcp4", netServer+":7006"); return err }); err != nil {
		t.Fatal(err)
	}
	defer flow.Close()
	flowDone, flowErr := make(chan struct{}), make(chan error, 1)
	go func() {
		buf := make([]byte, 5)
		for n := 0; ; n++ {
			select {
			case <-flowDone:
				flowErr <- nil
				return
			default:
			}
			_ = flow.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := flow.Write([]byte("hello")); err != nil {
				flowErr <- fmt.Errorf("write %d: %w", n, err)
				return
			}
			if _, err := io.ReadFull(flow, buf); err != nil {
				flowErr <- fmt.Errorf("read %d: %w", n, err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	const reloads = 40
	for i := range reloads {
		var err error
		switch {
		case i%5 == 4: // the rebuild path: whole table deleted and re-created in one transaction
			old, rerr := f.k.read(f.table)
			if rerr != nil {
				t.Fatal(rerr)
			}
			err = f.k.apply(f.rs, old, true)
		case i%2 == 0:
			err = f.Reload(cfgB)
		default:
			err = f.Reload(cfgA)
		}
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if err := f.AddPaymentIP(netip.AddrFrom4([4]byte{198, 51, 100, byte(100 + i)}), time.Minute); err != nil {
			t.Fatal(err)
		}
		if i == reloads/2 {
			close(flowDone)
			if err := <-flowErr; err != nil {
				t.Errorf("a flow open before the reloads broke during them: %v", err)
			}
			// Failover: the fibre's cable is pulled at the ISP side and
			// the default route moves to the second WAN.
			ipCmd(t, "-n", s.cloudName, "link", "set", s.prefix+"c1", "down")
			ipCmd(t, "-n", s.gwName, "route", "replace", "default", "via", ispWAN2)
			ipCmd(t, "-n", s.cloudName, "route", "replace", "198.18.10.0/24", "via", gwWAN2)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Traffic flows again after the failover, masqueraded on the new WAN.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasPrefix(p.lastSeen.Load().(string), gwWAN2+":") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ok := p.okFlows.Load()
	passed := p.halt()
	t.Logf("%d refused-flow probes and %d refused datagrams during %d reloads and a failover; %d allowed flows completed; last source seen by the server %s",
		p.attempts.Load(), p.sent.Load(), reloads, ok, p.lastSeen.Load())
	for _, msg := range passed {
		t.Errorf("during reload/failover: %s", msg)
	}
	if seen := p.lastSeen.Load().(string); !strings.HasPrefix(seen, gwWAN2+":") {
		t.Errorf("after failover the server saw office flows from %q, want the second WAN %s", seen, gwWAN2)
	}

	// Control: a non-atomic update (delete, pause, re-create) opens a window
	// and the same probers see refused flows pass in it.
	p = s.startProbers(refusedUnderChange(), nil, blasts)
	time.Sleep(50 * time.Millisecond)
	if err := f.k.remove(f.table); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := f.Apply(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	passed = p.halt()
	t.Logf("control: %d refused flows passed during a 1 s non-atomic update", len(passed))
	var blasted, probed bool
	for _, msg := range passed {
		if strings.Contains(msg, "udp blast") {
			blasted = true
		} else {
			probed = true
		}
	}
	if !blasted || !probed {
		t.Errorf("the probers missed a 1 s open window (connection probes caught it: %v, blasts: %v), so their silence above proves nothing", probed, blasted)
	}
}

// serveEcho echoes every TCP connection on addr in ns.
func serveEcho(t testing.TB, ns netns.NsHandle, addr string) {
	t.Helper()
	listenTCP(t, ns, addr, func(c net.Conn) { _, _ = io.Copy(c, c) })
}
