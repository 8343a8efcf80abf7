//go:build linux

package uplink

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	_ "github.com/mattn/go-sqlite3"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/netlab/testenv"
	"github.com/branchgw/branchgw/telemetry/mqtttest"
)

// The faults of issue 26, each against a real mosquitto.

// TestFaultBrokerDropsBatchNoStorm (issue 26, 1): a broker that closes the
// connection on every batch (over its packet size limit, as AWS IoT's
// 128 KiB or mosquitto's max_packet_size do) ends each session at once.
// Such a session did not hold, so the backoff goes on growing: one
// connection per backoff step. The old code started the backoff over on
// every connect and reconnected every second.
func TestFaultBrokerDropsBatchNoStorm(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Extra: "max_packet_size 4096\n"})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{})
	m, tl := testConfigs(t, b.URL())
	m.MaxReconnectDelay = config.Duration(60 * time.Second) // the default
	r := startRig(t, m, tl, Deps{MinReconnectDelay: time.Second})
	pad := strings.Repeat("p", 200)
	for i := range 100 { // one batch of about 22 KB
		if _, err := r.store.Append(context.Background(), "flows", fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, pad)); err != nil {
			t.Fatal(err)
		}
	}
	// Backoff from 1 s doubling, each delay at least half its step: the
	// sixth connection comes 0.5 + 1 + 2 + 4 + 8 = 15.5 s after the first
	// at the earliest.
	const watch = 15 * time.Second
	time.Sleep(watch)
	n := count(t, sub.Messages()).births()
	t.Logf("a broker that drops every batch: %d connections in %v", n, watch)
	if n > 5 {
		t.Errorf("%d connections in %v, want at most 5 (one per backoff step)", n, watch)
	}
	if n == 0 {
		t.Error("the gateway never connected")
	}
}

// fillToTheLastByte leaves the store no way to write: its WAL is
// checkpointed to nothing (a second connection, as the store is idle), its
// reserve file is held open (so removing it frees nothing), and a filler
// takes every free page. Undoing it frees the space again.
func fillToTheLastByte(t *testing.T, db string) (undo func()) {
	t.Helper()
	c, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	var busy, frames, done int
	err = c.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done)
	c.Close()
	if err != nil || busy != 0 {
		t.Fatalf("checkpoint the store's WAL: busy %d, %v", busy, err)
	}
	reserve, err := os.Open(db + ".reserve")
	if err != nil {
		t.Fatal(err)
	}
	free := testenv.Fill(t, filepath.Join(filepath.Dir(db), "filler"))
	undo = func() { reserve.Close(); free() }
	t.Cleanup(undo)
	return undo
}

// TestFaultFullDiskNoResend (issue 26, 1): with the disk full to the last
// byte the store cannot delete what the broker acknowledged. The session
// goes on and never sends those records again; once space is back they
// are deleted. The old code ended the session on the failed delete, and
// every new session sent the whole backlog once more.
func TestFaultFullDiskNoResend(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Persist: true})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{Persistent: true})
	b.Stop()
	m, tl := testConfigs(t, b.URL())
	m.MaxReconnectDelay = config.Duration(60 * time.Second) // the default
	tl.StorePath = testenv.Tmpfs(t, "3m") + "/telemetry.db"
	r := startRig(t, m, tl, Deps{MinReconnectDelay: time.Second})
	const n = 240
	pad := strings.Repeat("p", 200)
	for i := range n {
		if _, err := r.store.Append(context.Background(), "flows", fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, pad)); err != nil {
			t.Fatal(err)
		}
	}
	undo := fillToTheLastByte(t, tl.StorePath)
	b.Restart()
	const watch = 15 * time.Second
	time.Sleep(watch)

	ta := count(t, sub.Messages())
	most := 0
	for _, c := range ta.seen["flows"] {
		most = max(most, c)
	}
	t.Logf("disk full for %v: %d connections, records received %d of %d, the most copies of one record %d, backlog %d",
		watch, ta.births(), len(ta.seen["flows"]), n, most, r.up.Snapshot().BacklogRecords)
	if !ta.has("flows", n) {
		t.Errorf("records missing at head office: %v", ta.missing("flows", n))
	}
	if most > 2 {
		t.Errorf("a record was sent %d times, want at most 2", most)
	}
	if c := ta.births(); c > 1 {
		t.Errorf("%d connections: a failed delete ended the session", c)
	}
	undo()
	r.waitSnapshot(15*time.Second, "the acknowledged records deleted once space is back", func(s *Snapshot) bool {
		return s.BacklogRecords == 0
	})
}

// failedToken is a publish paho gave up on: its "publish was broken by
// timeout", when the connection could not take the message within the
// write timeout, while the connection itself stays up.
type failedToken struct{ done chan struct{} }

func newFailedToken() *failedToken {
	t := &failedToken{done: make(chan struct{})}
	close(t.done)
	return t
}
func (t *failedToken) Wait() bool                     { return true }
func (t *failedToken) WaitTimeout(time.Duration) bool { return true }
func (t *failedToken) Done() <-chan struct{}          { return t.done }
func (t *failedToken) Error() error                   { return errors.New("publish was broken by timeout") }

// TestFaultPublishErrorSendsAgain (issue 26, 6): one batch's publish fails
// on a live connection. Its records go again on the same connection. The
// old code had moved its cursor past them: they waited for a reconnect that
// a healthy connection never makes.
func TestFaultPublishErrorSendsAgain(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := mqtttest.Subscribe(t, b.URL(), "branchgw/#", mqtttest.SubscriberOptions{})
	m, tl := testConfigs(t, b.URL())
	var batches atomic.Int32
	r := startRig(t, m, tl, Deps{}, func(u *Uplink) {
		u.publishFn = func(c mqtt.Client, topic string, payload []byte) mqtt.Token {
			if strings.Contains(topic, "/telemetry/") && batches.Add(1) == 2 {
				return newFailedToken()
			}
			return publishBatch(c, topic, payload)
		}
	})
	r.waitSnapshot(10*time.Second, "connected", func(s *Snapshot) bool { return s.Connected })
	const n = 300
	for i := range n {
		if _, err := r.store.Append(context.Background(), "flows", fmt.Appendf(nil, `{"i":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	ok := sub.WaitFor(20*time.Second, func(ms []mqtttest.Message) bool { return count(t, ms).has("flows", n) })
	ta := count(t, sub.Messages())
	if batches.Load() < 2 {
		t.Fatalf("only %d batches published: the fault never happened", batches.Load())
	}
	if !ok {
		t.Errorf("records missing at head office after a failed publish: %v", ta.missing("flows", n))
	}
	if c := ta.births(); c != 1 {
		t.Errorf("%d connections, want 1", c)
	}
}
