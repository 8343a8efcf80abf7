package firmware

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Update event kinds: what head office sees of an update it started.
const (
	EventUpdateStarted  = "firmware.update_started"
	EventUpdateProgress = "firmware.update_progress"
	EventUpdateDone     = "firmware.update_done"
	EventUpdateFailed   = "firmware.update_failed"
)

// Updater installs bundles head office sends (the remote "update"
// command), one at a time, and reports progress and the result as events.
// The new slot runs after the next reboot, which head office schedules;
// it is then on trial until the Marker marks it good.
type Updater struct {
	mgr  Manager
	emit func(Event)
	now  func() time.Time
	mu   sync.Mutex // one install at a time
	busy bool
	// step is the least progress change worth an event (RAUC reports
	// many small steps; head office needs a handful).
	step int
}

// NewUpdater returns an Updater over mgr; emit receives the events.
func NewUpdater(mgr Manager, emit func(Event), now func() time.Time) *Updater {
	if now == nil {
		now = time.Now
	}
	if emit == nil {
		emit = func(Event) {}
	}
	return &Updater{mgr: mgr, emit: emit, now: now, step: 10}
}

// ErrBusy is returned while another install runs.
var ErrBusy = errors.New("an update is already being installed")

// Install writes bundle into the inactive slot. It refuses a second
// install while one runs, and returns the manager's error (a bad
// signature, an incompatible bundle, a download failure) unchanged.
func (u *Updater) Install(ctx context.Context, bundle string) error {
	u.mu.Lock()
	if u.busy {
		u.mu.Unlock()
		return ErrBusy
	}
	u.busy = true
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.busy = false
		u.mu.Unlock()
	}()
	if err := checkBundle(bundle); err != nil {
		u.emit(Event{Time: u.now(), Kind: EventUpdateFailed, Message: err.Error()})
		return err
	}
	u.emit(Event{Time: u.now(), Kind: EventUpdateStarted, Message: "installing " + bundle})
	last := -u.step
	err := u.mgr.Install(ctx, bundle, func(p Progress) {
		if p.Percent-last >= u.step || p.Percent == 100 && last != 100 {
			last = p.Percent
			u.emit(Event{Time: u.now(), Kind: EventUpdateProgress, Message: fmt.Sprintf("%d%% %s", p.Percent, p.Message)})
		}
	})
	if err != nil {
		u.emit(Event{Time: u.now(), Kind: EventUpdateFailed, Message: err.Error()})
		return err
	}
	u.emit(Event{Time: u.now(), Kind: EventUpdateDone, Message: "installed " + bundle + "; the new slot boots on the next reboot"})
	return nil
}
