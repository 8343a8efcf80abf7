package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Component is one long-running part of the daemon. Run returns when ctx is
// done; an error or panic before that makes the supervisor restart it.
type Component interface {
	Name() string
	Run(ctx context.Context) error
}

// Readier is implemented by components that need time to come up; READY=1
// waits until Ready is closed (or the component has failed once).
type Readier interface {
	Ready() <-chan struct{}
}

// Component states, as shown in Health.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateBackoff  = "backoff" // failed, waiting to restart
	StateStopped  = "stopped"
)

// Health is one component's state for the status page and API.
type Health struct {
	Name        string    `json:"name"`
	State       string    `json:"state"`
	Restarts    int       `json:"restarts"`
	LastError   string    `json:"last_error,omitempty"`
	Since       time.Time `json:"since"`
	NextRestart time.Time `json:"next_restart,omitzero"`
}

// SupervisorOptions tunes restarts; zero fields take the config defaults.
type SupervisorOptions struct {
	Backoff         time.Duration // first restart delay
	BackoffMax      time.Duration // cap of the doubling delay
	ShutdownTimeout time.Duration // how long components get to stop
	// Tick is how often the loop checks in (watchdog, status line).
	Tick time.Duration
	// OnTick runs on the loop every Tick; it is how the loop proves it is
	// alive (sd_notify WATCHDOG=1), so a wedged loop stops the pings.
	OnTick func()
	// OnReady runs once, on the loop, when every component is up or has
	// failed at least once.
	OnReady func()
}

// Supervisor runs components, restarts the ones that fail with capped
// exponential backoff, and keeps the others running.
type Supervisor struct {
	log      *slog.Logger
	opt      SupervisorOptions
	children []*child
	exits    chan exit
	restarts chan *child
	calls    chan func()
	health   atomic.Pointer[[]Health]
}

type child struct {
	comp     Component
	h        Health
	failures int // consecutive; reset after a long enough good run
	started  time.Time
	cancel   context.CancelFunc
	running  bool
	ready    bool
	want     bool // restart requested by an operator
}

type exit struct {
	c   *child
	err error
}

// NewSupervisor makes a supervisor for comps.
func NewSupervisor(log *slog.Logger, opt SupervisorOptions, comps ...Component) *Supervisor {
	if opt.Backoff <= 0 {
		opt.Backoff = time.Second
	}
	if opt.BackoffMax < opt.Backoff {
		opt.BackoffMax = max(30*time.Second, opt.Backoff)
	}
	if opt.ShutdownTimeout <= 0 {
		opt.ShutdownTimeout = 10 * time.Second
	}
	if opt.Tick <= 0 {
		opt.Tick = time.Second
	}
	s := &Supervisor{
		log:      log,
		opt:      opt,
		exits:    make(chan exit, len(comps)), // a late exit after shutdown never blocks
		restarts: make(chan *child),
		calls:    make(chan func()),
	}
	for _, c := range comps {
		s.children = append(s.children, &child{comp: c, h: Health{Name: c.Name(), State: StateStarting}})
	}
	s.publish()
	return s
}

// Health returns every component's state; safe from any goroutine.
func (s *Supervisor) Health() []Health { return *s.health.Load() }

// Do runs fn on the supervisor loop and waits for it. Actions that change
// supervision (restart a component) go through here, so they never race.
func (s *Supervisor) Do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case s.calls <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Restart stops a component and starts it again at once.
func (s *Supervisor) Restart(ctx context.Context, name string) error {
	var err error
	if doErr := s.Do(ctx, func() {
		i := slices.IndexFunc(s.children, func(c *child) bool { return c.h.Name == name })
		if i < 0 {
			err = fmt.Errorf("no component %q", name)
			return
		}
		c := s.children[i]
		c.want = true
		if c.running {
			c.cancel()
		}
	}); doErr != nil {
		return doErr
	}
	return err
}

// Run supervises until ctx is done, then stops every component and waits up
// to ShutdownTimeout. The error names components that did not stop in time.
func (s *Supervisor) Run(ctx context.Context) error {
	runCtx, cancelAll := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAll()
	readyCh := s.readyWatch(runCtx)
	for _, c := range s.children {
		s.start(runCtx, c)
	}
	s.publish()
	tick := time.NewTicker(s.opt.Tick)
	defer tick.Stop()
	announced := false
	for {
		if !announced && s.allUp() {
			announced = true
			if s.opt.OnReady != nil {
				s.opt.OnReady()
			}
		}
		select {
		case <-ctx.Done():
			return s.shutdown(cancelAll)
		case e := <-s.exits:
			s.exited(e, runCtx)
		case c := <-s.restarts:
			if !c.running && c.h.State == StateBackoff {
				s.start(runCtx, c)
			}
		case c := <-readyCh:
			c.ready = true
			if c.h.State == StateStarting {
				c.h.State = StateRunning
			}
		case fn := <-s.calls:
			fn()
		case <-tick.C:
			if s.opt.OnTick != nil {
				s.opt.OnTick()
			}
		}
		s.publish()
	}
}

// readyWatch forwards each Readier's ready signal to the loop.
func (s *Supervisor) readyWatch(ctx context.Context) <-chan *child {
	ch := make(chan *child)
	for _, c := range s.children {
		r, ok := c.comp.(Readier)
		if !ok {
			c.ready = true
			continue
		}
		go func() {
			select {
			case <-r.Ready():
			case <-ctx.Done():
				return
			}
			select {
			case ch <- c:
			case <-ctx.Done():
			}
		}()
	}
	return ch
}

func (s *Supervisor) allUp() bool {
	for _, c := range s.children {
		if !c.ready && c.h.Restarts == 0 {
			return false
		}
	}
	return true
}

func (s *Supervisor) start(ctx context.Context, c *child) {
	cctx, cancel := context.WithCancel(ctx)
	c.cancel, c.running, c.started = cancel, true, time.Now()
	c.h.NextRestart = time.Time{}
	if c.ready {
		c.h.State = StateRunning
	} else {
		c.h.State = StateStarting
	}
	c.h.Since = c.started
	go func() {
		s.exits <- exit{c, runRecovered(cctx, c.comp)}
	}()
}

// runRecovered turns a panic into an error with its stack, so one broken
// component never takes the daemon down.
func runRecovered(ctx context.Context, comp Component) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return comp.Run(ctx)
}

func (s *Supervisor) exited(e exit, runCtx context.Context) {
	c := e.c
	c.running = false
	c.cancel()
	if c.want { // operator restart: no backoff, not a failure
		c.want = false
		s.log.Info("component restarted on request", "component", c.h.Name)
		c.h.Restarts++
		s.start(runCtx, c)
		return
	}
	err := e.err
	if err == nil {
		err = errors.New("stopped on its own")
	}
	// A run longer than the backoff cap was healthy: start counting afresh.
	if time.Since(c.started) > s.opt.BackoffMax {
		c.failures = 0
	}
	c.failures++
	delay := s.opt.Backoff << min(c.failures-1, 20)
	delay = min(delay, s.opt.BackoffMax)
	c.h.State, c.h.Restarts, c.h.Since = StateBackoff, c.h.Restarts+1, time.Now()
	c.h.LastError = firstLine(err.Error())
	c.h.NextRestart = c.h.Since.Add(delay)
	s.log.Error("component failed; restarting", "component", c.h.Name, "err", err.Error(),
		"restarts", c.h.Restarts, "backoff", delay)
	time.AfterFunc(delay, func() {
		select {
		case s.restarts <- c:
		case <-runCtx.Done():
		}
	})
}

func (s *Supervisor) shutdown(cancelAll context.CancelFunc) error {
	cancelAll()
	deadline := time.NewTimer(s.opt.ShutdownTimeout)
	defer deadline.Stop()
	for s.anyRunning() {
		select {
		case e := <-s.exits:
			e.c.running = false
			e.c.h.State, e.c.h.Since = StateStopped, time.Now()
			if e.err != nil && !errors.Is(e.err, context.Canceled) {
				s.log.Warn("component stopped with error", "component", e.c.h.Name, "err", e.err)
			}
			s.publish()
		case <-deadline.C:
			var stuck []string
			for _, c := range s.children {
				if c.running {
					stuck = append(stuck, c.h.Name)
				}
			}
			return fmt.Errorf("components did not stop within %s: %s", s.opt.ShutdownTimeout, strings.Join(stuck, ", "))
		}
	}
	for _, c := range s.children {
		c.h.State = StateStopped
	}
	s.publish()
	return nil
}

func (s *Supervisor) anyRunning() bool {
	return slices.ContainsFunc(s.children, func(c *child) bool { return c.running })
}

func (s *Supervisor) publish() {
	hs := make([]Health, len(s.children))
	for i, c := range s.children {
		hs[i] = c.h
	}
	s.health.Store(&hs)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
