//go:build linux

package wan_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/wan"
	"github.com/branchgw/branchgw/netctl/wan/wanlab"
)

// openConns opens n POS connections from pos1 and checks each echoes.
func openConns(t *testing.T, r *labRun, n int) []net.Conn {
	t.Helper()
	var out []net.Conn
	for i := range n {
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		c, err := r.l.Dial(ctx, netlab.POS1, "tcp4", fmt.Sprintf("%s:%d", netlab.Server, netlab.POSPort))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := echoLine(c, fmt.Sprint("txn ", i)); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func countMarks(marks []uint32) (m1, m2 int) {
	for _, m := range marks {
		switch m {
		case wan.DefaultLayout.Mark(0):
			m1++
		case wan.DefaultLayout.Mark(1):
			m2++
		}
	}
	return m1, m2
}

// Weighted mode spreads new connections over both WANs, each pinned to
// its WAN; when one fails the others take all new connections.
func TestLabWeighted(t *testing.T) {
	t.Parallel()
	fo := wanlab.LabFailover(30 * time.Second)
	fo.Mode = "weighted"
	wans := wanlab.LabWANs()
	wans[0].Weight, wans[1].Weight = 1, 1
	r := startLabWith(t, wans, fo)
	deadline := time.Now().Add(10 * time.Second)
	for !r.m.Snapshot().WANs[1].Carrying {
		if time.Now().After(deadline) {
			t.Fatalf("wan2 does not share: %s", r.m.Snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
	conns := openConns(t, r, 40)
	marks := ctMarks(t, r, conns...)
	m1, m2 := countMarks(marks)
	t.Logf("weighted 1:1, 40 connections: %d on wan1, %d on wan2", m1, m2)
	if m1 == 0 || m2 == 0 || m1+m2 != 40 {
		t.Errorf("40 connections: %d on wan1, %d on wan2", m1, m2)
	}

	from := len(r.ev.Events())
	if err := r.l.Carrier(1, false); err != nil {
		t.Fatal(err)
	}
	r.waitEvent(t, from, 5*time.Second, "wan2 leaves", isKind("weights", ""))
	m1, m2 = countMarks(ctMarks(t, r, openConns(t, r, 20)...))
	if m1 != 20 || m2 != 0 {
		t.Errorf("wan2 down, 20 new connections: %d on wan1, %d on wan2", m1, m2)
	}
	// The flush touched only wan2's connections: wan1's keep working.
	for i, c := range conns {
		if marks[i] == wan.DefaultLayout.Mark(0) {
			if err := echoLine(c, "still here"); err != nil {
				t.Errorf("a wan1 connection broke when wan2 failed: %v", err)
			}
		}
	}
	if s := r.m.Snapshot(); s.WANs[1].Carrying || s.Mode != "weighted" {
		t.Errorf("wan2 down: %+v", s.WANs[1])
	}
}
