//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
)

// posStats counts a till's transactions.
type posStats struct {
	mu       sync.Mutex
	ok, fail int
	lastRTT  time.Duration
	lastErr  error
}

func (s *posStats) add(rtt time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.fail++
		s.lastErr = err
		return
	}
	s.ok++
	s.lastRTT = rtt
}

func (s *posStats) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := fmt.Sprintf("%d ok, %d failed, last %v", s.ok, s.fail, s.lastRTT.Round(100*time.Microsecond))
	if s.lastErr != nil {
		out += fmt.Sprintf(" (last error: %v)", s.lastErr)
	}
	return out
}

// posTill runs card transactions from node every interval over one TCP
// connection to the lab's card acquirer (an echo server on the Payment
// address: the example config's pos zone is strict and allows only that
// address), reconnecting after a failure, until ctx ends.
func posTill(ctx context.Context, l *netlab.Lab, node netlab.Node, interval time.Duration, st *posStats) {
	addr := fmt.Sprintf("%s:%d", netlab.Payment, netlab.POSPort)
	var conn net.Conn
	var rd *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		start := time.Now()
		if conn == nil {
			dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			c, err := l.Dial(dctx, node, "tcp4", addr)
			cancel()
			if err != nil {
				st.add(0, err)
				continue
			}
			conn, rd = c, bufio.NewReader(c)
		}
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		msg := fmt.Sprintf("txn %d amount 12.50\n", n)
		_, err := conn.Write([]byte(msg))
		if err == nil {
			var line string
			line, err = rd.ReadString('\n')
			if err == nil && line != msg {
				err = fmt.Errorf("answer %q", line)
			}
		}
		if err != nil {
			conn.Close()
			conn = nil
		}
		st.add(time.Since(start), err)
	}
}
