//go:build linux

package netlab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Stream is a POS-like UDP stream: one small datagram every interval from
// a LAN host to the cloud echo, and the arrival time of every echo. The
// longest silence between two echoes is the outage a till would see.
type Stream struct {
	conn net.Conn
	stop context.CancelFunc
	done chan struct{}

	mu       sync.Mutex
	sent     int
	received int
	arrivals []time.Time
}

// StartStream starts a stream from node to the echo server at addr
// ("ip:port"), one datagram every interval, until Stop.
func (l *Lab) StartStream(ctx context.Context, from Node, addr string, interval time.Duration) (*Stream, error) {
	c, err := l.Dial(ctx, from, "udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("netlab: stream: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream{conn: c, stop: cancel, done: make(chan struct{})}
	go s.read()
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		var buf [8]byte
		for seq := uint64(0); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			binary.BigEndian.PutUint64(buf[:], seq)
			// A send may fail while the route is gone; the gap shows it.
			_, _ = c.Write(buf[:])
			s.mu.Lock()
			s.sent++
			s.mu.Unlock()
		}
	}()
	return s, nil
}

func (s *Stream) read() {
	buf := make([]byte, 64)
	for {
		_, err := s.conn.Read(buf)
		now := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors (port unreachable) surface here; keep reading
		}
		s.mu.Lock()
		s.received++
		s.arrivals = append(s.arrivals, now)
		s.mu.Unlock()
	}
}

// StreamStats sum up a stream.
type StreamStats struct {
	Sent, Received int
	// MaxGap is the longest time between two echoes after the given start
	// (or between the start and the first echo).
	MaxGap time.Duration
	// GapStart is when that longest silence began.
	GapStart time.Time
}

// Stats reports the stream so far, with MaxGap measured from since on.
func (s *Stream) Stats(since time.Time) StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := StreamStats{Sent: s.sent, Received: s.received}
	prev := since
	for _, a := range s.arrivals {
		if a.Before(since) {
			continue
		}
		if g := a.Sub(prev); g > st.MaxGap {
			st.MaxGap, st.GapStart = g, prev
		}
		prev = a
	}
	return st
}

// LastEcho is the arrival time of the latest echo (zero if none).
func (s *Stream) LastEcho() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.arrivals) == 0 {
		return time.Time{}
	}
	return s.arrivals[len(s.arrivals)-1]
}

// Stop ends the stream and closes its socket.
func (s *Stream) Stop() {
	s.stop()
	<-s.done
	s.conn.Close()
}
