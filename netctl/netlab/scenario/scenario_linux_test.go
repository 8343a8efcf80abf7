//go:build linux

package scenario

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// buildGatewayd builds the daemon from this tree into a temporary directory.
func buildGatewayd(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(gomod)) == 0 {
		testenv.Unavailable(t, "needs the go command to build gatewayd: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "gatewayd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gatewayd")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gatewayd: %v\n%s", err, out)
	}
	return bin
}

// TestShortScenario runs the store's worst day in about two and a half
// minutes against the real gatewayd, mosquitto and kernel, and fails on
// any missed goal. The verdict table is in the test log.
func TestShortScenario(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "mosquitto")
	testenv.NeedFile(t, "/proc/self/ns/net", "a kernel with network namespaces")
	bin := buildGatewayd(t)
	prefix := netlab.NewPrefix()
	t.Cleanup(func() {
		// Run removes the lab; this checks it did, even after a failure.
		if err := netlab.Clean(prefix, nil); err != nil {
			t.Errorf("clean: %v", err)
		}
		if left, err := netlab.Leftovers(prefix); err != nil || len(left) > 0 {
			t.Errorf("left behind: %v %v", left, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	v, err := Run(ctx, Short(), Options{
		Gatewayd: bin, Prefix: prefix, Progress: &progress, Artifacts: os.Getenv("SCENARIO_ARTIFACTS"),
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	var table bytes.Buffer
	_ = v.WriteTable(&table)
	t.Logf("verdict:\n%s", table.String())
	for i, f := range v.POS.Failures {
		if i == 40 {
			t.Logf("... %d more POS failures", len(v.POS.Failures)-i)
			break
		}
		t.Logf("POS failure outside both-down: %s", f)
	}
	for _, r := range v.Rows {
		if r.OK != nil && !*r.OK {
			t.Errorf("missed: %s: %s: goal %s, measured %s", r.Area, r.What, r.Goal, r.Measured)
		}
	}
}
