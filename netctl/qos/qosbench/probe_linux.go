//go:build linux

package qosbench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
)

// Probe is a till's request/response loop: a 64-byte UDP datagram to an
// echo server every interval, each answer's RTT recorded by sequence
// number, so a phase's loss and RTTs come from the requests it sent.
type Probe struct {
	conn   net.Conn
	t0     time.Time
	stopCh chan struct{}
	done   chan struct{}

	mu   sync.Mutex
	sent []time.Duration // send time since t0, by sequence number
	rtt  []time.Duration // 0 until answered
}

// StartProbe starts a probe from node to the UDP echo at to.
func StartProbe(l *netlab.Lab, from netlab.Node, to netip.Addr, interval time.Duration) (*Probe, error) {
	c, err := l.Dial(context.Background(), from, "udp4", netip.AddrPortFrom(to, netlab.EchoPort).String())
	if err != nil {
		return nil, fmt.Errorf("qosbench: probe: %w", err)
	}
	p := &Probe{conn: c, t0: time.Now(), stopCh: make(chan struct{}), done: make(chan struct{})}
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
			p.mu.Lock()
			seq := uint64(len(p.sent))
			at := time.Since(p.t0)
			p.sent = append(p.sent, at)
			p.rtt = append(p.rtt, 0)
			p.mu.Unlock()
			binary.BigEndian.PutUint64(buf, seq)
			_, _ = c.Write(buf) // a failed send shows as a loss
		}
	}()
	return p, nil
}

func (p *Probe) read() {
	buf := make([]byte, 128)
	for {
		n, err := p.conn.Read(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || n < 8 {
			continue
		}
		now := time.Since(p.t0)
		seq := binary.BigEndian.Uint64(buf)
		p.mu.Lock()
		if seq < uint64(len(p.sent)) && p.rtt[seq] == 0 {
			p.rtt[seq] = max(now-p.sent[seq], 1)
		}
		p.mu.Unlock()
	}
}

// Mark returns the next sequence number: a phase is [Mark at its start,
// Mark at its end).
func (p *Probe) Mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent)
}

// Stats sums up requests from..to.
func (p *Probe) Stats(from, to int) Latency {
	p.mu.Lock()
	rtts := slices.Clone(p.rtt[from:to])
	p.mu.Unlock()
	l := Latency{Sent: len(rtts)}
	var got []time.Duration
	for _, r := range rtts {
		if r == 0 {
			l.Lost++
		} else {
			got = append(got, r)
		}
	}
	slices.Sort(got)
	if len(got) > 0 {
		l.P50, l.P99, l.Max = quantile(got, 0.50), quantile(got, 0.99), got[len(got)-1]
	}
	return l
}

// Stop ends the probe and closes its socket.
func (p *Probe) Stop() {
	select {
	case <-p.stopCh:
		return
	default:
	}
	close(p.stopCh)
	<-p.done
	p.conn.Close()
}

// Latency is a phase's POS transactions.
type Latency struct {
	Sent, Lost    int
	P50, P99, Max time.Duration
}

// quantile of sorted ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	return ds[min(int(float64(len(ds)-1)*q+0.5), len(ds)-1)]
}
