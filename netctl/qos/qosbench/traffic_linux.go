//go:build linux

package qosbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/branchgw/branchgw/netctl/netlab"
)

// Ports of the bulk servers in the lab's cloud.
const (
	SinkPort   = 9000 // reads and discards: uploads
	SourcePort = 9001 // writes zeros until closed: downloads
)

// Servers are the bulk sink and source on netlab.Server.
type Servers struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	lns   []net.Listener
	conns []net.Conn
}

// StartServers starts the sink (SinkPort) and the source (SourcePort) in
// the lab's cloud; Close stops them.
func StartServers(l *netlab.Lab) (*Servers, error) {
	s := &Servers{}
	serve := func(port int, handle func(net.Conn)) error {
		ln, err := l.Listen(netlab.Cloud, "tcp4", netip.AddrPortFrom(netlab.Server, uint16(port)).String())
		if err != nil {
			return fmt.Errorf("qosbench: bulk server %d: %w", port, err)
		}
		s.lns = append(s.lns, ln)
		s.wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				s.mu.Lock()
				s.conns = append(s.conns, c)
				s.mu.Unlock()
				s.wg.Go(func() { handle(c); c.Close() })
			}
		})
		return nil
	}
	if err := serve(SinkPort, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	err := serve(SourcePort, func(c net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// Close stops the servers and their connections.
func (s *Servers) Close() error {
	for _, ln := range s.lns {
		ln.Close()
	}
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Bulk is a set of saturating TCP transfers.
type Bulk struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	up     atomic.Int64
	down   atomic.Int64
}

// StartBulk opens up uploads and down downloads from each node to the
// servers; Stop ends them.
func StartBulk(l *netlab.Lab, up, down int, from ...netlab.Node) (*Bulk, error) {
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bulk{cancel: cancel}
	for _, node := range from {
		for i := range up + down {
			port := SinkPort
			if i >= up {
				port = SourcePort
			}
			c, err := l.Dial(ctx, node, "tcp4", netip.AddrPortFrom(netlab.Server, uint16(port)).String())
			if err != nil {
				b.Stop()
				return nil, fmt.Errorf("qosbench: bulk from %s: %w", node, err)
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
					if port == SinkPort {
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
	return b, nil
}

// Bytes returns the bytes uploaded (written) and downloaded (read) so far.
func (b *Bulk) Bytes() (up, down int64) { return b.up.Load(), b.down.Load() }

// Stop ends the transfers and waits for them.
func (b *Bulk) Stop() { b.cancel(); b.wg.Wait() }
