//go:build linux

package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// A store on a 3 MiB tmpfs with a 64 MiB budget: the disk fills long before
// the budget. Appends keep working, the bulk stream is evicted, alarms stay,
// and the store settles below what fits instead of hitting ENOSPC again and
// again.
func TestDiskFullIsSurvived(t *testing.T) {
	dir := testenv.Tmpfs(t, "3m")
	c := testConfig(t)
	c.StorePath = dir + "/telemetry.db"
	var alarms []Alarm
	s := open(t, c, Options{OnAlarm: func(a Alarm) { alarms = append(alarms, a) }})
	ctx := context.Background()
	pad := strings.Repeat("p", 300)
	failed := 0
	for i := range 40000 {
		stream := "flows"
		if i%200 == 0 {
			stream = EventStream
		}
		if _, err := s.Append(ctx, stream, fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, pad)); err != nil {
			failed++
		}
	}
	sn := s.Snapshot()
	var st unix.Statfs_t
	unix.Statfs(dir, &st)
	files, _ := os.ReadDir(dir)
	var sizes []string
	for _, f := range files {
		fi, _ := f.Info()
		sizes = append(sizes, fmt.Sprintf("%s=%d", f.Name(), fi.Size()))
	}
	t.Logf("disk-full events %d, failed appends %d, evicted %d, records %d, bytes %d, effective budget %d, free %d; %v",
		sn.DiskFullEvents, failed, sn.EvictedRecords, sn.Records, sn.Bytes, sn.EffectiveBudget, st.Bavail*uint64(st.Bsize), sizes)
	if sn.DiskFullEvents == 0 {
		t.Fatal("the disk never filled")
	}
	if failed > 0 {
		t.Fatalf("%d appends failed", failed)
	}
	if sn.DiskFullEvents > 5 {
		t.Fatalf("%d disk-full events: the store does not settle below the disk's size", sn.DiskFullEvents)
	}
	for _, si := range sn.Streams {
		if si.Name == EventStream && si.Records < 200 {
			t.Fatalf("alarms evicted: %+v", si)
		}
	}
	s.Close()
	if res, err := IntegrityCheck(c.StorePath); err != nil || res != "ok" {
		t.Fatalf("integrity after disk full: %q, %v", res, err)
	}

	// Something else fills the disk to the last byte while the daemon is
	// down: the store still opens (on its reserve). With not one free byte
	// left SQLite cannot even evict, so appends fail with ErrFull, a clear
	// error, nothing crashes or corrupts, and once space is back they work.
	free := testenv.Fill(t, dir+"/filler")
	s = open(t, c, Options{})
	var fullErr error
	for i := range 2000 {
		if _, err := s.Append(ctx, "flows", fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, pad)); err != nil {
			fullErr = err
			break
		}
	}
	if fullErr != nil && !errors.Is(fullErr, ErrFull) {
		t.Fatalf("append on a full disk: %v, want ErrFull", fullErr)
	}
	t.Logf("disk filled by someone else: %v", fullErr)
	free()
	if _, err := s.Append(ctx, EventStream, []byte(`{"type":"space_back"}`)); err != nil {
		t.Fatalf("append once space is back: %v", err)
	}
	s.Close()
	if res, err := IntegrityCheck(c.StorePath); err != nil || res != "ok" {
		t.Fatalf("integrity after the disk was full at open: %q, %v", res, err)
	}
}

// TestFaultDiskFullBudgetComesBack (issue 26, 8): a log file filled the
// disk, the store cut its budget to what was left; once the file is gone
// the store grows back to its configured budget instead of keeping the
// cut until the daemon restarts.
func TestFaultDiskFullBudgetComesBack(t *testing.T) {
	dir := testenv.Tmpfs(t, "8m")
	filler := dir + "/app.log"
	if err := os.WriteFile(filler, make([]byte, 6<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	c := testConfig(t)
	c.StorePath = dir + "/telemetry.db"
	c.Budget = 3 << 20
	s := open(t, c, Options{})
	ctx := context.Background()
	pad := strings.Repeat("p", 300)
	appendN := func(n int) {
		t.Helper()
		for i := range n {
			if _, err := s.Append(ctx, "flows", fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, pad)); err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
		}
	}
	for i := 0; s.Snapshot().DiskFullEvents == 0; i++ {
		if i == 40 {
			t.Fatal("the disk never filled")
		}
		appendN(200)
	}
	cut := s.Snapshot()
	t.Logf("disk full: budget %d cut to %d, %d bytes stored", cut.Budget, cut.EffectiveBudget, cut.Bytes)
	if cut.EffectiveBudget >= int64(c.Budget) {
		t.Fatalf("the budget was not cut: %d", cut.EffectiveBudget)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	appendN(12000) // about 4 MB: more than the budget
	back := s.Snapshot()
	t.Logf("space back: budget %d, effective %d, %d bytes stored, %d disk-full events", back.Budget, back.EffectiveBudget, back.Bytes, back.DiskFullEvents)
	if back.EffectiveBudget != int64(c.Budget) {
		t.Errorf("effective budget %d once the disk has room again, want the configured %d", back.EffectiveBudget, c.Budget)
	}
	if back.Bytes <= cut.EffectiveBudget {
		t.Errorf("the store holds %d bytes, no more than the cut budget %d", back.Bytes, cut.EffectiveBudget)
	}
	if back.DiskFullEvents != cut.DiskFullEvents {
		t.Errorf("%d more disk-full events after the space came back", back.DiskFullEvents-cut.DiskFullEvents)
	}
}

// TestFaultDiskFullAlarmIsStored (issue 26, 8): the disk_full alarm goes
// into the event stream, with the room the eviction makes, so the uplink
// takes it to head office. The old store only logged it and called
// OnAlarm: head office saw the gap events but not why.
func TestFaultDiskFullAlarmIsStored(t *testing.T) {
	c := testConfig(t)
	c.StorePath = testenv.Tmpfs(t, "3m") + "/telemetry.db"
	s := open(t, c, Options{})
	ctx := context.Background()
	pad := strings.Repeat("p", 300)
	for i := 0; s.Snapshot().DiskFullEvents == 0; i++ {
		if i == 40000 {
			t.Fatal("the disk never filled")
		}
		if _, err := s.Append(ctx, "flows", fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, pad)); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.Read(ctx, EventStream, 0, 0, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Payload), `"type":"disk_full"`) {
			return
		}
	}
	t.Errorf("no disk_full event among %d events", len(recs))
}
