//go:build linux

package wan_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/wan"
	"github.com/branchgw/branchgw/netctl/wan/wanlab"
)

// `gatewayd cleanup` (wan.Cleanup) removes everything a manager put in the
// kernel, as after a crash; the running manager then sees the drift and
// puts it all back.
func TestLabCleanupAndDriftRepair(t *testing.T) {
	t.Parallel()
	r := startLab(t, 30*time.Second)
	before := kernelState(t, r.l)
	if len(before) < 9 {
		t.Fatalf("kernel state of a running manager: %v", before)
	}
	t.Logf("kernel state:\n%s", strings.Join(before, "\n"))
	ns, _ := r.l.NS(netlab.GW)
	if err := wan.Cleanup(wanlab.LabLayout(r.l), 2, &ns); err != nil {
		t.Fatal(err)
	}
	if left := kernelState(t, r.l); len(left) > 0 {
		t.Fatalf("after Cleanup: %v", left)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		now := kernelState(t, r.l)
		if slices.Equal(now, before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drift not repaired:\n got %v\nwant %v", now, before)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := posWorks(r.ctx, r.l); err != nil {
		t.Errorf("POS after repair: %v", err)
	}
}
