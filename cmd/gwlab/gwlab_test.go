//go:build linux

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/branchgw/branchgw/gateway/config"
)

func TestLabConfigValidates(t *testing.T) {
	dir := t.TempDir()
	path, err := labConfig(dir, "bgl1234", map[string]string{"failover.failback_after": "5s"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Site != "lab-bgl1234" || c.Telemetry.StorePath != filepath.Join(dir, "telemetry.db") || c.Failover.FailbackAfter.D().String() != "5s" {
		t.Errorf("lab config: site %q, store %q, failback %v", c.Site, c.Telemetry.StorePath, c.Failover.FailbackAfter.D())
	}
	text, _ := os.ReadFile(path)
	if !strings.Contains(string(text), "# gatewayd example configuration") {
		t.Error("the example's comments were lost")
	}
	if _, err := labConfig(dir, "bgl1234", map[string]string{"failover.window": "1"}); err == nil {
		t.Error("an invalid override was written")
	}
}

func TestBadCommandLines(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"down", "-prefix", "../../etc"}, "-prefix"},
		{[]string{"impair", "-prefix", "bgl0000", "wan3", "carrier", "down"}, "no WAN"},
		{[]string{"impair", "-prefix", "bgl0000", "wan1"}, "want WAN ACTION"},
		{[]string{"bench", "everything"}, "bench failover"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := run(context.Background(), tc.args, io.Discard, io.Discard)
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a usage error with %q", err, tc.want)
			}
		})
	}
}

func TestImpairArguments(t *testing.T) {
	tests := []struct {
		action string
		args   []string
	}{
		{"carrier", []string{"sideways"}},
		{"blackhole", []string{"maybe"}},
		{"loss", []string{"101"}},
		{"loss", []string{"ten"}},
		{"rate", []string{"fast", "1mbit"}},
		{"rate", []string{"1mbit"}},
		{"flap", []string{"1s", "0s", "10s"}},
		{"melt", nil},
	}
	for _, tc := range tests {
		t.Run(tc.action+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			// A nil lab: bad arguments must be refused before the lab is touched.
			err := impair(context.Background(), nil, 0, tc.action, tc.args, io.Discard)
			var u usageError
			if !errors.As(err, &u) {
				t.Fatalf("got %v, want a usage error", err)
			}
		})
	}
}
