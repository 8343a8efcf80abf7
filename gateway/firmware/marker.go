package firmware

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// Marker states, as the snapshot shows them.
const (
	StateWaiting     = "waiting"     // not yet healthy long enough
	StateGood        = "good"        // marked good this boot
	StateDisabled    = "disabled"    // firmware.mark_good_after is 0
	StateUnsupported = "unsupported" // no slot manager on this system
)

// Event kinds the marker emits.
const (
	EventBooted         = "firmware.booted"
	EventMarkedGood     = "firmware.marked_good"
	EventMarkGoodFailed = "firmware.mark_good_failed"
)

// Event is something head office should hear about.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Slot    string    `json:"slot,omitempty"`
	Version string    `json:"version,omitempty"`
	Message string    `json:"message"`
}

// Snapshot is the marker's state for the status page and API; immutable.
type Snapshot struct {
	State        string    `json:"state"`
	Booted       string    `json:"booted_slot,omitempty"`
	Version      string    `json:"version,omitempty"`
	BootStatus   string    `json:"boot_status,omitempty"`
	HealthySince time.Time `json:"healthy_since,omitzero"`
	MarkedAt     time.Time `json:"marked_good_at,omitzero"`
	// Waiting says what the box is waiting for ("wan: both WANs down").
	Waiting   string `json:"waiting,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// Deps are what the marker needs from the daemon.
type Deps struct {
	Logger  *slog.Logger
	Manager Manager
	// Healthy says whether WAN, uplink and every component are healthy
	// now, and if not, why not.
	Healthy func() (ok bool, why string)
	// Emit receives events; nil drops them.
	Emit func(Event)
	// Now and Tick are injectable for tests; defaults time.Now and 1 s.
	Now  func() time.Time
	Tick time.Duration
}

// Marker marks the booted slot good once the box has been healthy for
// cfg.MarkGoodAfter without a break. It is a supervised component.
type Marker struct {
	hold time.Duration
	d    Deps
	snap atomic.Pointer[Snapshot]
}

// NewMarker builds the component from the firmware config section.
func NewMarker(cfg config.Firmware, d Deps) *Marker {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Tick <= 0 {
		d.Tick = time.Second
	}
	if d.Emit == nil {
		d.Emit = func(Event) {}
	}
	m := &Marker{hold: cfg.MarkGoodAfter.D(), d: d}
	m.snap.Store(&Snapshot{State: StateWaiting})
	return m
}

// Name is the component's name.
func (m *Marker) Name() string { return "firmware" }

// Snapshot returns the current state.
func (m *Marker) Snapshot() *Snapshot { return m.snap.Load() }

func (m *Marker) set(f func(s *Snapshot)) {
	s := *m.snap.Load()
	f(&s)
	m.snap.Store(&s)
}

// Run reports the booted slot, waits for a continuous healthy stretch of
// the configured length, marks the slot good once, then idles until ctx
// is done. A failed mark is retried on the next tick; an unreadable
// status is an error for the supervisor to retry.
func (m *Marker) Run(ctx context.Context) error {
	st, err := m.d.Manager.Status(ctx)
	if errors.Is(err, ErrUnsupported) {
		m.set(func(s *Snapshot) { s.State = StateUnsupported })
		m.d.Logger.Info("firmware: no A/B slot manager; slot marking off")
		<-ctx.Done()
		return nil
	}
	if err != nil {
		m.set(func(s *Snapshot) { s.LastError = err.Error() })
		return err
	}
	booted, _ := st.BootedSlot()
	m.set(func(s *Snapshot) {
		s.Booted, s.Version, s.BootStatus, s.LastError = booted.Bootname, booted.Version, booted.BootStatus, ""
	})
	if m.snap.Load().MarkedAt.IsZero() {
		// Once per boot, not again after a supervisor restart.
		m.d.Emit(Event{Time: m.d.Now(), Kind: EventBooted, Slot: booted.Bootname, Version: booted.Version,
			Message: "booted slot " + booted.Bootname + " (" + booted.BootStatus + ")"})
	}
	m.d.Logger.Info("firmware: booted", "slot", booted.Bootname, "version", booted.Version,
		"boot_status", booted.BootStatus, "mark_good_after", m.hold)
	if m.hold <= 0 {
		m.set(func(s *Snapshot) { s.State = StateDisabled })
		<-ctx.Done()
		return nil
	}
	tick := time.NewTicker(m.d.Tick)
	defer tick.Stop()
	for {
		if m.snap.Load().State != StateGood {
			m.step(ctx, booted)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// step is one look at health: start or break the healthy stretch, and
// mark good when it is long enough.
func (m *Marker) step(ctx context.Context, booted Slot) {
	now := m.d.Now()
	ok, why := m.d.Healthy()
	if !ok {
		m.set(func(s *Snapshot) { s.HealthySince, s.Waiting = time.Time{}, why })
		return
	}
	s := m.snap.Load()
	if s.HealthySince.IsZero() {
		m.set(func(s *Snapshot) { s.HealthySince, s.Waiting = now, "" })
		return
	}
	if now.Sub(s.HealthySince) < m.hold {
		return
	}
	if err := m.d.Manager.MarkGood(ctx); err != nil {
		m.set(func(s *Snapshot) { s.LastError = err.Error() })
		m.d.Logger.Error("firmware: mark-good failed; retrying", "slot", booted.Bootname, "err", err)
		m.d.Emit(Event{Time: now, Kind: EventMarkGoodFailed, Slot: booted.Bootname, Version: booted.Version, Message: err.Error()})
		return
	}
	m.set(func(s *Snapshot) { s.State, s.MarkedAt, s.LastError, s.BootStatus = StateGood, now, "", "good" })
	m.d.Logger.Info("firmware: slot marked good", "slot", booted.Bootname, "healthy_for", now.Sub(s.HealthySince))
	m.d.Emit(Event{Time: now, Kind: EventMarkedGood, Slot: booted.Bootname, Version: booted.Version,
		Message: "slot " + booted.Bootname + " marked good after " + now.Sub(s.HealthySince).Round(time.Second).String() + " healthy"})
}
