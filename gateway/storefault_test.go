package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/remote"
	"github.com/branchgw/branchgw/telemetry/mqtttest"
	"github.com/branchgw/branchgw/telemetry/store"
)

// TestFaultStoreCannotOpenKeepsTheLink (issue 26, 4): the telemetry store
// cannot open (its directory is a file, as a data partition that failed to
// mount can leave it). The box still comes online, answers a command, takes
// a config push, and head office gets a store_unavailable alarm; the status
// shows the error. Once the directory is back, the real store opens by
// itself and takes over what was kept in RAM. The old daemon did not start
// the uplink without a store: head office could not reach the box at all.
func TestFaultStoreCannotOpenKeepsTheLink(t *testing.T) {
	broker := mqtttest.Start(t, mqtttest.Options{})
	pub, priv, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(data, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(data, "telemetry.db")
	yamlWith := func(version int, edits ...string) string {
		return siteYAML(t, dir, broker.URL(), pub, version, append([]string{filepath.Join(dir, "telemetry.db"), real}, edits...)...)
	}
	path := filepath.Join(dir, "gatewayd.yaml")
	os.WriteFile(path, []byte(yamlWith(1)), 0o640)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("RUNTIME_DIRECTORY", t.TempDir())
	g, err := New(cfg, Options{Logger: quietLog(), ConfigPath: path, WithoutNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	g.telemetry.retry = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	ho := newHeadOffice(t, broker.URL(), "branchgw/store-0042", priv)
	arrived := func(what string, topicSuffix, text string) {
		t.Helper()
		if !ho.sub.WaitFor(30*time.Second, func(ms []mqtttest.Message) bool {
			for _, m := range ms {
				if strings.HasSuffix(m.Topic, topicSuffix) && bytes.Contains(m.Payload, []byte(text)) {
					return true
				}
			}
			return false
		}) {
			t.Fatalf("%s never reached head office", what)
		}
	}
	arrived("the gateway's birth", "/status", "online")
	arrived("the store_unavailable alarm", "/event", "store_unavailable")
	ho.command("p1", "ping", "", time.Now().Add(time.Minute))
	if r := ho.response("ping", "p1"); !r.OK {
		t.Errorf("ping: %+v", r)
	}
	ho.pushConfig("c2", yamlWith(2, "level: info", "level: debug"))
	ho.reported(2, remote.StateApplied)
	sn, _ := g.Snapshot().Parts["store"].(*store.Snapshot)
	if sn == nil || !strings.Contains(sn.LastError, "cannot open") {
		t.Errorf("status of the store: %+v, want its error", sn)
	}

	// The partition is back: the real store takes over by itself.
	os.Remove(data)
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the real store open", func() bool {
		st := g.telemetry.store.Load()
		return st != nil && st.Path() == real && g.telemetry.storeErr.Load() == nil
	})
	g.Emit("event", map[string]string{"kind": "test", "message": "after the store came back"})
	arrived("an event stored on disk", "/event", "after the store came back")
}
