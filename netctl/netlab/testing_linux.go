//go:build linux

package netlab

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// ForTest builds a lab for a test: it stops the test (testenv rules) when
// not root, and removes the lab in t.Cleanup even when the test fails,
// then checks that nothing was left behind.
func ForTest(t testing.TB, opts Options) *Lab {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedFile(t, "/proc/self/ns/net", "a kernel with network namespaces")
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := New(ctx, opts)
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netlab: close: %v", err)
		}
		left, err := Leftovers(l.Prefix)
		if err != nil || len(left) > 0 {
			t.Errorf("netlab: left behind: %v %v", left, err)
		}
	})
	return l
}

// ServicesForTest starts the cloud servers and stops them in t.Cleanup.
func ServicesForTest(t testing.TB, l *Lab, o ServiceOptions) *Services {
	t.Helper()
	if o.Mosquitto {
		testenv.NeedCommand(t, "mosquitto")
	}
	s, err := l.StartServices(context.Background(), o)
	if err != nil {
		t.Fatalf("netlab: services: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("netlab: services close: %v", err)
		}
	})
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(b))
	return len(b), nil
}
