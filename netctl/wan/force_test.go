//go:build linux

package wan_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/wan"
)

// TestLabForce is the technician's "Force WAN": traffic moves to the backup
// while both lines are fine, new connections take it, and ending the
// override brings it back without waiting for a fault.
func TestLabForce(t *testing.T) {
	t.Parallel()
	r := startLab(t, 2*time.Second)
	if err := r.m.Force(r.ctx, "wan3", time.Minute); err == nil {
		t.Error("forcing an unknown WAN accepted")
	}
	if err := r.m.Force(r.ctx, "wan2", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, i := r.waitEvent(t, 0, 5*time.Second, "forced", isKind("forced", "wan2"))
	c, err := r.l.Dial(r.ctx, netlab.POS1, "tcp4", fmt.Sprintf("%s:%d", netlab.Server, netlab.POSPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := echoLine(c, "on the forced backup"); err != nil {
		t.Fatal(err)
	}
	if m := ctMarks(t, r, c); m[0] != wan.DefaultLayout.Mark(1) {
		t.Errorf("new connection marked %#x, want wan2's %#x", m[0], wan.DefaultLayout.Mark(1))
	}
	if s := r.m.Snapshot(); s.Active != "wan2" {
		t.Errorf("active %s while forced", s.Active)
	}
	if err := r.m.Force(r.ctx, "", 0); err != nil {
		t.Fatal(err)
	}
	r.waitEvent(t, i, 10*time.Second, "back to automatic", isKind("failback", "wan1"))
}
