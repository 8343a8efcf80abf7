//go:build linux

package zones

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunRepairsAndStaysClosed runs the component as the daemon does: Run
// applies, its periodic check repairs a deleted table, and stopping it
// leaves the firewall in place (a stopped daemon leaves the store closed).
func TestRunRepairsAndStaysClosed(t *testing.T) {
	s := newStore(t)
	events := make(chan Event, 100)
	f, err := New(s.config(true), testLogger(), Options{TablePrefix: s.prefix, NetNS: int(s.gw), CheckInterval: 50 * time.Millisecond,
		Emit: func(e Event) {
			select {
			case events <- e:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Cleanup(s.prefix, int(s.gw)) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	// Stop Run before the namespace (and so its fd) goes away, even when
	// the test fails halfway.
	t.Cleanup(func() {
		cancel()
		<-done
	})

	waitEvent := func(kind string) Event {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case e := <-events:
				if e.Kind == kind {
					return e
				}
			case <-timeout:
				t.Fatalf("no %s event", kind)
			}
		}
	}
	waitEvent(EventApplied)
	// Refused probes are reported by the periodic check as drop events.
	deadline := time.Now().Add(10 * time.Second)
	for e := (Event{}); e.Kind != EventDrop; {
		if time.Now().After(deadline) {
			t.Fatal("no drop event")
		}
		s.check(t, []cell{{"guest", "pos host", "tcp", hostPOS + ":7000", false, ""}})
		select {
		case e = <-events:
		case <-time.After(500 * time.Millisecond):
		}
	}

	s.nft(t, "delete", "table", "inet", f.Table())
	waitEvent(EventDrift)
	waitEvent(EventApplied)
	s.check(t, []cell{{"guest", "pos host", "tcp", hostPOS + ":7000", false, ""}})

	cancel()
	err = <-done
	done <- nil // for the cleanup above
	if err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if !strings.Contains(s.nft(t, "list", "tables"), f.Table()) {
		t.Fatal("the table is gone after Run stopped: the store would be open")
	}
	s.check(t, []cell{{"guest", "pos host", "tcp", hostPOS + ":7000", false, ""}})
}
