//go:build linux

package scenario

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/branchgw/branchgw/gateway/fleet"
	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/netlab/diskfull"
)

// world is what the faults act on.
type world struct {
	lab    *netlab.Lab
	p      Params
	broker *broker
	gw     *daemon
	ho     *Recorder
	fleet  *fleet.Fleet
	key    ed25519.PrivateKey
	site   string
	dir    string
	// dataDir is the tmpfs the telemetry store lives on.
	dataDir string
	join    *joiner

	// config returns gatewayd's config file at version with extra settings.
	config func(version int64, set map[string]string) ([]byte, error)
	// version is the newest config version pushed so far.
	version int64

	mu     sync.Mutex
	pushes []PushResult
}

// do carries out one step; it returns when the fault is over.
func (w *world) do(ctx context.Context, s Step) FaultRun {
	r := FaultRun{Kind: s.Kind, WAN: s.WAN, Start: time.Now()}
	note, err := w.fault(ctx, s)
	r.End, r.Note = time.Now(), note
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

func (w *world) fault(ctx context.Context, s Step) (string, error) {
	l := w.lab
	switch s.Kind {
	case CarrierPull:
		if err := l.Carrier(s.WAN, false); err != nil {
			return "", err
		}
		sleep(ctx, s.Dur)
		return "", l.Carrier(s.WAN, true)
	case Flap:
		end := time.Now().Add(s.Dur)
		n := 0
		for time.Now().Before(end) && ctx.Err() == nil {
			if err := l.Carrier(s.WAN, false); err != nil {
				return "", err
			}
			sleep(ctx, w.p.FlapOff)
			if err := l.Carrier(s.WAN, true); err != nil {
				return "", err
			}
			n++
			sleep(ctx, w.p.FlapOn)
		}
		return fmt.Sprintf("%d cable pulls", n), nil
	case BlackHole:
		if err := l.BlackHole(s.WAN, true); err != nil {
			return "", err
		}
		sleep(ctx, s.Dur)
		return "", l.BlackHole(s.WAN, false)
	case Slow:
		before := l.Shapes()[s.WAN]
		slow := netlab.ISPShape{Down: netlab.Shape{RateBits: w.p.SlowDown}, Up: netlab.Shape{RateBits: w.p.SlowUp}}
		if err := l.SetRate(s.WAN, slow); err != nil {
			return "", err
		}
		sleep(ctx, s.Dur)
		return fmt.Sprintf("%d/%d kbit/s", w.p.SlowDown/1000, w.p.SlowUp/1000), l.SetRate(s.WAN, before)
	case BothDown:
		err := errors.Join(l.Carrier(0, false), l.Carrier(1, false))
		sleep(ctx, s.Dur)
		return "", errors.Join(err, l.Carrier(0, true), l.Carrier(1, true))
	case BrokerRestart:
		if err := w.broker.stop(); err != nil {
			return "", err
		}
		sleep(ctx, s.Dur)
		return "", w.broker.start(ctx)
	case KillDuringReplay:
		note, err := w.awaitReplay(ctx, s.Dur)
		if err := w.gw.kill9(); err != nil {
			return note, err
		}
		return "killed " + note, err
	case DiskFullDuringReplay:
		note, _ := w.awaitReplay(ctx, s.Dur)
		free, err := diskfull.Fill(filepath.Join(w.dataDir, "filler"))
		if err != nil {
			return note, err
		}
		sleep(ctx, w.p.FullFor)
		free()
		return fmt.Sprintf("store's disk full for %s, %s", w.p.FullFor, note), nil
	case Throttled:
		before := l.Shapes()[1]
		sim := netlab.Shape{RateBits: w.p.ThrottleRate}
		if err := errors.Join(l.Carrier(0, false), l.SetRate(1, netlab.ISPShape{Down: sim, Up: sim})); err != nil {
			return "", err
		}
		sleep(ctx, s.Dur)
		return fmt.Sprintf("wan1 pulled, wan2 at %d kbit/s", w.p.ThrottleRate/1000), errors.Join(l.SetRate(1, before), l.Carrier(0, true))
	case BadPush, GoodPush:
		return w.push(ctx, s.Kind)
	case DeviceBurst:
		bctx, cancel := context.WithTimeout(ctx, s.Dur)
		defer cancel()
		before := w.join.count()
		w.join.burst(bctx, w.p.DeviceRate)
		return fmt.Sprintf("%d devices", w.join.count()-before), nil
	}
	return "", fmt.Errorf("unknown fault %q", s.Kind)
}

// awaitReplay waits until head office receives the outage's backlog
// (records made before the step that arrive after it, or a batch flagged
// historical), at most wait; the note says which.
func (w *world) awaitReplay(ctx context.Context, wait time.Duration) (string, error) {
	from := time.Now()
	w.ho.WatchBacklog(from)
	deadline := from.Add(wait)
	for w.ho.BacklogSeen().IsZero() && w.ho.LastHistorical().Before(from) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Sprintf("with no replay seen within %s", wait), ctx.Err()
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return fmt.Sprintf("during the backlog replay, %s after the step began", time.Since(from).Round(100*time.Millisecond)), nil
}

// push sends a config from head office and waits for the final report.
func (w *world) push(ctx context.Context, kind FaultKind) (string, error) {
	w.version++
	v := w.version
	set := map[string]string{"pos.handshake_alarm": "2s"}
	if kind == BadPush {
		set = nil
	}
	y, err := w.config(v, set)
	if err != nil {
		return "", err
	}
	if kind == BadPush {
		if y, err = misspell(y); err != nil {
			return "", err
		}
	}
	pctx, cancel := context.WithTimeout(ctx, w.p.ConfirmWindow+30*time.Second)
	defer cancel()
	res := w.fleet.PushConfig(pctx, fleet.Signing{Key: w.key}, []string{w.site}, func(string) (string, error) { return string(y), nil })
	r := res[w.site]
	w.mu.Lock()
	w.pushes = append(w.pushes, PushResult{Kind: kind, Version: v, State: r.State, Errors: r.Errors})
	w.mu.Unlock()
	return fmt.Sprintf("v%d %s", v, r.State), nil
}
