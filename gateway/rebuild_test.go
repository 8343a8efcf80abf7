package gateway

import (
	"context"
	"errors"
	"testing"

	"github.com/branchgw/branchgw/gateway/config"
)

type builtComp struct{ level string }

func (b *builtComp) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func TestRebuiltOnlyWhenItsSectionChanges(t *testing.T) {
	base := testConfig(t)
	with := func(level, site string) *config.Config {
		c := *base
		c.Log.Level, c.Site = level, site
		return &c
	}
	for _, tc := range []struct {
		name      string
		next      *config.Config
		wantErr   bool
		restarted bool
		level     string
	}{
		{"other section changed", with("info", "store-9"), false, false, "info"},
		{"own section changed", with("debug", "store-0042"), false, true, "debug"},
		{"refused by the component", with("error", "store-0042"), true, false, "info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restarted := make(chan string, 1)
			r, err := newRebuilt("c", with("info", "store-0042"),
				func(c *config.Config) any { return c.Log },
				func(c *config.Config) (*builtComp, error) {
					if c.Log.Level == "error" {
						return nil, errors.New("refused")
					}
					return &builtComp{level: c.Log.Level}, nil
				}, func(name string) { restarted <- name })
			if err != nil {
				t.Fatal(err)
			}
			err = r.Reload(tc.next)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Reload: %v", err)
			}
			if tc.restarted {
				if n := <-restarted; n != "c" {
					t.Errorf("restarted %q", n)
				}
			} else if len(restarted) > 0 {
				t.Error("restarted without a change of its own section")
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			r.Run(ctx) // the supervisor's restart runs what Reload built
			if got := r.current().level; got != tc.level {
				t.Errorf("running level %q, want %q", got, tc.level)
			}
		})
	}
}

// TestRebuiltCarriesStateToTheSuccessor: the component a reload builds
// gets the state of the one it replaces, once, between their Runs; a
// restart of the same component carries nothing.
func TestRebuiltCarriesStateToTheSuccessor(t *testing.T) {
	base := testConfig(t)
	r, err := newRebuilt("c", base,
		func(c *config.Config) any { return c.Log },
		func(c *config.Config) (*builtComp, error) { return &builtComp{level: c.Log.Level}, nil },
		func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	var carried []string
	r.carry = func(old, next *builtComp) { carried = append(carried, old.level+"->"+next.level) }
	done, cancel := context.WithCancel(context.Background())
	cancel()
	r.Run(done) // first run: nothing to carry
	next := *base
	next.Log.Level = "debug"
	if err := r.Reload(&next); err != nil {
		t.Fatal(err)
	}
	r.Run(done) // the successor
	r.Run(done) // a restart of the same one
	if len(carried) != 1 || carried[0] != base.Log.Level+"->debug" {
		t.Errorf("carried %v, want once from %s to debug", carried, base.Log.Level)
	}
}
