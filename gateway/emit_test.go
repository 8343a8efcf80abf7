package gateway

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/branchgw/branchgw/netctl/wan"
	"github.com/branchgw/branchgw/telemetry/store"
)

// TestFaultEmitDoesNotWaitForTheDisk (issue 26, 7): another connection
// holds the telemetry database's write lock for 2 s, as a stuck disk or a
// long checkpoint would. The WAN manager's failover handler, which records
// the event and then moves QoS, returns while the lock is still held; the
// event reaches the store once the lock is gone. The old Emit appended
// synchronously: the handler, and QoS behind it, waited for the lock.
func TestFaultEmitDoesNotWaitForTheDisk(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.Telemetry.StorePath = filepath.Join(dir, "telemetry.db")
	cfg.MQTT.Broker = "" // no head office: the store only fills
	cfg.Web.Listen = "127.0.0.1:0"
	cfg.Web.Socket = filepath.Join(dir, "gw.sock")
	g, err := New(cfg, Options{Logger: quietLog(), WithoutNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(t, "the store open", func() bool { return g.telemetry.store.Load() != nil })

	db, err := sql.Open("sqlite3", cfg.Telemetry.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lock, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	var released atomic.Bool
	go func() {
		time.Sleep(2 * time.Second)
		released.Store(true)
		lock.ExecContext(context.Background(), `ROLLBACK`)
	}()

	g.onWANEvent(wan.Event{Time: time.Now(), Kind: "failover", WAN: "wan2", From: "wan1", To: "wan2", Reason: "test"})
	if released.Load() {
		t.Fatal("the failover handler waited for the store's write lock")
	}
	eventually(t, "the failover event stored", func() bool {
		recs, err := g.telemetry.store.Load().Read(context.Background(), store.EventStream, 0, 0, 100, 0)
		if err != nil {
			return false
		}
		for _, r := range recs {
			if strings.Contains(string(r.Payload), `"kind":"failover"`) {
				return true
			}
		}
		return false
	})
	if !released.Load() {
		t.Error("the event was stored while another connection held the write lock")
	}
}
