package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Source is a packet source: AF_PACKET on Linux, or a capture file.
type Source interface {
	// ReadPacket returns the next frame, valid until the next call, its
	// capture time and the VLAN id the kernel stripped from it (0: none).
	// It returns ErrTimeout when nothing arrived within the poll timeout,
	// io.EOF at the end of a file.
	ReadPacket() (frame []byte, ts time.Time, vlan uint16, err error)
	// Stats returns the kernel's counters.
	Stats() (CaptureStats, error)
	Close() error
}

// ErrTimeout is what ReadPacket returns when the poll timeout expired with
// no packet; Run uses these wake-ups to notice cancellation.
var ErrTimeout = errors.New("capture: poll timeout")

// PollTimeout bounds how long Run waits in poll(2) before it checks its
// context: the worst-case shutdown delay.
const PollTimeout = 200 * time.Millisecond

// Run captures until ctx is done. It opens the source (AF_PACKET on
// inspect.interface unless Deps.Open is set), inspects every frame on this
// goroutine, and every Deps.SnapshotEvery expires flows and publishes a
// snapshot. It returns nil when ctx ends, an error when the capture fails.
func (in *Inspector) Run(ctx context.Context) error {
	open := in.deps.Open
	if open == nil {
		open = in.openAFPacket
	}
	src, err := open()
	if err != nil {
		return fmt.Errorf("inspect: open capture on %q: %w", in.cfg.Inspect.Interface, err)
	}
	defer src.Close()
	in.log.Info("inspect: capturing", "interface", in.cfg.Inspect.Interface, "max_flows", in.s.maxFlows)
	every := in.deps.SnapshotEvery
	next := in.deps.Now().Add(every)
	for {
		if ctx.Err() != nil {
			in.tick(src)
			return nil
		}
		frame, ts, vlan, err := src.ReadPacket()
		switch {
		case err == nil:
			in.handle(frame, ts.UnixNano(), vlan)
			// The packet's kernel timestamp says when to tick: no clock
			// read per packet.
			if ts.Before(next) {
				continue
			}
		case errors.Is(err, ErrTimeout):
		case errors.Is(err, io.EOF):
			in.tick(src)
			return nil
		default:
			return fmt.Errorf("inspect: capture on %q: %w", in.cfg.Inspect.Interface, err)
		}
		if now := in.deps.Now(); !now.Before(next) {
			in.tick(src)
			next = now.Add(every)
		}
	}
}

func (in *Inspector) tick(src Source) {
	if st, err := src.Stats(); err == nil {
		in.capture = st
	} else {
		in.log.Warn("inspect: capture statistics", "err", err)
	}
	in.Tick(in.deps.Now())
}
