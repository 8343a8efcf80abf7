package gateway

import (
	"context"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// runner is what rebuilt needs of the component it makes.
type runner interface {
	Run(ctx context.Context) error
}

// rebuilt runs a component made from the config, and makes a new one when
// its section of the config changes on reload: for components that take
// their settings only at construction. The new settings are checked by
// building the component before anything changes, so a reload the component
// would refuse keeps the running one.
type rebuilt[T runner] struct {
	name    string
	section func(*config.Config) any
	build   func(*config.Config) (T, error)
	restart func(name string) // asks the supervisor for a restart

	// carry, when set, hands state from the component a reload replaced
	// to its successor, between the old one's Run and the new one's.
	carry func(old, next T)

	cfg  atomic.Pointer[config.Config]
	next atomic.Pointer[T] // built by Reload, taken by the next Run
	cur  atomic.Pointer[T]
}

func newRebuilt[T runner](name string, cfg *config.Config, section func(*config.Config) any,
	build func(*config.Config) (T, error), restart func(string)) (*rebuilt[T], error) {
	first, err := build(cfg)
	if err != nil {
		return nil, err
	}
	r := &rebuilt[T]{name: name, section: section, build: build, restart: restart}
	r.cfg.Store(cfg)
	r.cur.Store(&first)
	r.next.Store(&first)
	return r, nil
}

func (r *rebuilt[T]) Name() string { return r.name }

func (r *rebuilt[T]) Run(ctx context.Context) error {
	c := r.next.Load()
	// The supervisor runs one Run at a time: the old component's has
	// returned when its successor's starts.
	if old := r.cur.Swap(c); old != c && r.carry != nil {
		r.carry(*old, *c)
	}
	return (*c).Run(ctx)
}

// Reload builds the component anew if its section changed, then restarts it.
func (r *rebuilt[T]) Reload(cfg *config.Config) error {
	old := r.cfg.Load()
	if reflect.DeepEqual(r.section(old), r.section(cfg)) {
		r.cfg.Store(cfg)
		return nil
	}
	c, err := r.build(cfg)
	if err != nil {
		return err
	}
	r.cfg.Store(cfg)
	r.next.Store(&c)
	go r.restart(r.name)
	return nil
}

// current is the running component (or the one about to run).
func (r *rebuilt[T]) current() T { return *r.cur.Load() }

// supervisorRestart returns the restart hook for rebuilt components.
func (g *Gateway) supervisorRestart(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.sup.Restart(ctx, name); err != nil {
		g.log.Error("restart after reload failed", "component", name, "err", err)
	}
}
