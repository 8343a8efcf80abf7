package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// Deps are what the server needs from the daemon. Only Logger and Snapshot
// are required; a nil field turns its feature off with a clear message.
type Deps struct {
	Logger *slog.Logger
	// Snapshot returns the daemon state (gateway.Snapshot, or anything
	// that marshals to the same JSON).
	Snapshot func() any
	// Actions are the technician's buttons and gwctl's commands.
	Actions Actions
	// Config returns the config in force, for the diagnostics bundle
	// (redacted) and the login check (the password hash).
	Config func() *config.Config
	// Events returns up to n recent events, newest last.
	Events func(n int) []Event
	// Logs returns up to n recent log lines, newest last (see LogRing).
	Logs func(n int) []LogLine
	// Audit records a technician action in the event stream.
	Audit func(Event)
	// Now defaults to time.Now.
	Now func() time.Time
	// StatPaths are the filesystems whose fill the System section shows
	// (default "/"; the daemon adds the telemetry store's directory).
	StatPaths []string
	// StateDir keeps the page's self-signed certificate across restarts
	// (empty: a new one on every start).
	StateDir string
}

// Event is one entry of the daemon's event stream as the page shows it.
type Event struct {
	Time    time.Time `json:"time"`
	Source  string    `json:"source"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
	// Detail is the component's own event, as JSON (see EventLog.Record).
	Detail json.RawMessage `json:"detail,omitempty"`
}

// ErrUnsupported is returned by an action this box or build cannot do.
var ErrUnsupported = errors.New("not supported on this gateway")

// Actions are the fixes a technician can trigger. Every method must return
// promptly (long work runs in the background) except Capture, which
// streams for d. A method returning ErrUnsupported is shown as such.
type Actions interface {
	// TestWAN probes one WAN now and describes the result in a sentence.
	TestWAN(ctx context.Context, wan string) (string, error)
	// ForceWAN puts all traffic on wan for d (failover or failback); d = 0
	// returns to automatic choice.
	ForceWAN(ctx context.Context, wan string, d time.Duration) error
	// Restart restarts one component.
	Restart(ctx context.Context, component string) error
	// Reboot reboots the box.
	Reboot(ctx context.Context) error
	// Capture writes a pcap of the LAN for d to w.
	Capture(ctx context.Context, w io.Writer, d time.Duration) error
}

// ActionFuncs implements Actions with functions; a nil one is unsupported.
type ActionFuncs struct {
	TestWANFunc  func(ctx context.Context, wan string) (string, error)
	ForceWANFunc func(ctx context.Context, wan string, d time.Duration) error
	RestartFunc  func(ctx context.Context, component string) error
	RebootFunc   func(ctx context.Context) error
	CaptureFunc  func(ctx context.Context, w io.Writer, d time.Duration) error
}

// TestWAN implements Actions.
func (a ActionFuncs) TestWAN(ctx context.Context, wan string) (string, error) {
	if a.TestWANFunc == nil {
		return "", ErrUnsupported
	}
	return a.TestWANFunc(ctx, wan)
}

// ForceWAN implements Actions.
func (a ActionFuncs) ForceWAN(ctx context.Context, wan string, d time.Duration) error {
	if a.ForceWANFunc == nil {
		return ErrUnsupported
	}
	return a.ForceWANFunc(ctx, wan, d)
}

// Restart implements Actions.
func (a ActionFuncs) Restart(ctx context.Context, component string) error {
	if a.RestartFunc == nil {
		return ErrUnsupported
	}
	return a.RestartFunc(ctx, component)
}

// Reboot implements Actions.
func (a ActionFuncs) Reboot(ctx context.Context) error {
	if a.RebootFunc == nil {
		return ErrUnsupported
	}
	return a.RebootFunc(ctx)
}

// Capture implements Actions.
func (a ActionFuncs) Capture(ctx context.Context, w io.Writer, d time.Duration) error {
	if a.CaptureFunc == nil {
		return ErrUnsupported
	}
	return a.CaptureFunc(ctx, w, d)
}

func (d *Deps) fill() {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Snapshot == nil {
		d.Snapshot = func() any { return struct{}{} }
	}
	if d.Actions == nil {
		d.Actions = ActionFuncs{}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if len(d.StatPaths) == 0 {
		d.StatPaths = []string{"/"}
	}
}
