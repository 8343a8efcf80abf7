package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// errNoWAN answers WAN actions when the daemon runs without its network
// components (tests outside a lab namespace).
var errNoWAN = errors.New("no WAN manager in this daemon")

// TestWAN describes one WAN's health from its probes' latest window: state,
// reason, and each target's verdict, loss and RTT, in one sentence.
func (g *Gateway) TestWAN(_ context.Context, name string) (string, error) {
	if g.wan == nil {
		return "", errNoWAN
	}
	for _, w := range g.wan.current().Snapshot().WANs {
		if w.Name != name {
			continue
		}
		var targets []string
		for _, e := range w.Targets {
			targets = append(targets, fmt.Sprintf("%s %s %s (loss %.0f%%, rtt %s)", e.Type, e.Target, e.Verdict, e.Loss, e.RTT))
		}
		s := fmt.Sprintf("%s is %s: %s", w.Name, w.State, w.Reason)
		if len(targets) > 0 {
			s += "; " + strings.Join(targets, "; ")
		}
		return s, nil
	}
	return "", fmt.Errorf("no WAN named %q", name)
}

// ForceWAN puts new connections on one WAN for d; d = 0 returns to the
// automatic choice.
func (g *Gateway) ForceWAN(ctx context.Context, name string, d time.Duration) error {
	if g.wan == nil {
		return errNoWAN
	}
	return g.wan.current().Force(ctx, name, d)
}
