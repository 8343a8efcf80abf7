//go:build linux

package qos

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
)

// Ports of the bulk servers this package starts in the lab's cloud.
const (
	sinkPort   = 9000 // reads and discards: uploads
	sourcePort = 9001 // writes zeros until closed: downloads
)

// bulkServers runs a sink and a source on netlab.Server until the test ends.
func bulkServers(t *testing.T, l *netlab.Lab) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	var lns []net.Listener
	t.Cleanup(func() {
		for _, ln := range lns {
			ln.Close()
		}
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	serve := func(port int, handle func(net.Conn)) {
		ln, err := l.Listen(netlab.Cloud, "tcp4", netip.AddrPortFrom(netlab.Server, uint16(port)).String())
		if err != nil {
			t.Fatalf("bulk server %d: %v", port, err)
		}
		lns = append(lns, ln)
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				wg.Go(func() { handle(c); c.Close() })
			}
		})
	}
	serve(sinkPort, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	serve(sourcePort, func(c net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
}

// bulk is a set of saturating TCP transfers; Bytes counts what arrived
// (downloads) or was written (uploads).
type bulk struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	up     atomic.Int64
	down   atomic.Int64
}

// startBulk opens n uploads and n downloads from each node.
func startBulk(t *testing.T, l *netlab.Lab, n int, from ...netlab.Node) *bulk {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &bulk{cancel: cancel}
	for _, node := range from {
		for range n {
			for _, port := range []int{sinkPort, sourcePort} {
				c, err := l.Dial(ctx, node, "tcp4", netip.AddrPortFrom(netlab.Server, uint16(port)).String())
				if err != nil {
					b.stop()
					t.Fatalf("bulk from %s: %v", node, err)
				}
				b.wg.Go(func() {
					<-ctx.Done()
					c.Close()
				})
				b.wg.Go(func() {
					buf := make([]byte, 32<<10)
					for {
						var k int
						var err error
						if port == sinkPort {
							k, err = c.Write(buf)
							b.up.Add(int64(k))
						} else {
							k, err = c.Read(buf)
							b.down.Add(int64(k))
						}
						if err != nil {
							return
						}
					}
				})
			}
		}
	}
	t.Cleanup(b.stop)
	return b
}

func (b *bulk) stop() { b.cancel(); b.wg.Wait() }

// posProbe is a till's request/response loop: a 64-byte UDP datagram to
// the payment host's echo every interval, with its RTT recorded.
type posProbe struct {
	conn   net.Conn
	t0     time.Time
	done   chan struct{}
	stopCh chan struct{}

	mu   sync.Mutex
	sent int
	rtts []time.Duration
}

func startPOS(t *testing.T, l *netlab.Lab, from netlab.Node, to netip.Addr, interval time.Duration) *posProbe {
	t.Helper()
	c, err := l.Dial(context.Background(), from, "udp4", netip.AddrPortFrom(to, netlab.EchoPort).String())
	if err != nil {
		t.Fatalf("pos probe: %v", err)
	}
	p := &posProbe{conn: c, t0: time.Now(), done: make(chan struct{}), stopCh: make(chan struct{})}
	go p.read()
	go func() {
		defer close(p.done)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		buf := make([]byte, 64)
		for {
			select {
			case <-p.stopCh:
				return
			case <-tk.C:
			}
			binary.BigEndian.PutUint64(buf, uint64(time.Since(p.t0)))
			if _, err := c.Write(buf); err == nil {
				p.mu.Lock()
				p.sent++
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *posProbe) read() {
	buf := make([]byte, 128)
	for {
		n, err := p.conn.Read(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || n < 8 {
			continue
		}
		rtt := time.Since(p.t0) - time.Duration(binary.BigEndian.Uint64(buf))
		p.mu.Lock()
		p.rtts = append(p.rtts, rtt)
		p.mu.Unlock()
	}
}

// window returns the counters so far and resets them: each phase of a
// measurement calls it at its start and end.
func (p *posProbe) window() (sent int, rtts []time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sent, rtts = p.sent, p.rtts
	p.sent, p.rtts = 0, nil
	return sent, rtts
}

func (p *posProbe) stop() {
	select {
	case <-p.stopCh:
		return
	default:
	}
	close(p.stopCh)
	<-p.done
	p.conn.Close()
}

// percentile returns the q-th quantile (0..1) of ds.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(int(float64(len(s)-1)*q+0.5), len(s)-1)]
}
