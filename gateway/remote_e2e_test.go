package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/remote"
	"github.com/branchgw/branchgw/telemetry/mqtttest"
)

// headOffice is the test's view from the broker: a subscriber on the store's
// root and a publisher that signs with the head-office key.
type headOffice struct {
	t    *testing.T
	key  ed25519.PrivateKey
	sub  *mqtttest.Subscriber
	pub  mqtt.Client
	root string
}

// newHeadOffice connects head office to broker: a subscriber on root and a
// publisher that signs with key, both closed when the test ends.
func newHeadOffice(t *testing.T, broker, root string, key ed25519.PrivateKey) *headOffice {
	t.Helper()
	ho := &headOffice{t: t, key: key, root: root,
		sub: mqtttest.Subscribe(t, broker, root+"/#", mqtttest.SubscriberOptions{ClientID: "head-office"})}
	ho.pub = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("head-office-pub"))
	if tok := ho.pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { ho.pub.Disconnect(100) })
	return ho
}

func (h *headOffice) send(topic string, retained bool, payload []byte) {
	tok := h.pub.Publish(h.root+"/"+topic, 1, retained, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		h.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func (h *headOffice) command(id, name, args string, expires time.Time) {
	b := remote.Body{ID: id, Site: "store-0042", Name: name, Expires: expires}
	if args != "" {
		b.Args = json.RawMessage(args)
	}
	p, err := remote.Sign(h.key, b)
	if err != nil {
		h.t.Fatal(err)
	}
	h.send("cmd/"+name, false, p)
}

// response waits for the answer to command id.
func (h *headOffice) response(name, id string) remote.Response {
	h.t.Helper()
	var got remote.Response
	ok := h.sub.WaitFor(20*time.Second, func(ms []mqtttest.Message) bool {
		for _, m := range ms {
			var r remote.Response
			if m.Topic == h.root+"/cmd/"+name+"/resp" && json.Unmarshal(m.Payload, &r) == nil && r.ID == id {
				got = r
				return true
			}
		}
		return false
	})
	if !ok {
		h.t.Fatalf("no response to %s %s", name, id)
	}
	return got
}

func (h *headOffice) pushConfig(id, yaml string) {
	args, _ := json.Marshal(remote.DesiredArgs{Config: yaml})
	p, err := remote.Sign(h.key, remote.Body{ID: id, Site: "store-0042", Name: "config", Args: args, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		h.t.Fatal(err)
	}
	h.send("config/desired", true, p)
}

// reported waits for a config report with version and state.
func (h *headOffice) reported(version int64, state string) remote.Reported {
	h.t.Helper()
	var got remote.Reported
	ok := h.sub.WaitFor(60*time.Second, func(ms []mqtttest.Message) bool {
		for _, m := range ms {
			var r remote.Reported
			if m.Topic == h.root+"/config/reported" && json.Unmarshal(m.Payload, &r) == nil &&
				r.Version == version && r.State == state {
				got = r
				return true
			}
		}
		return false
	})
	if !ok {
		h.t.Fatalf("no config report v%d %s; got %s", version, state, h.dump("config/reported"))
	}
	return got
}

func (h *headOffice) dump(suffix string) string {
	var out []string
	for _, m := range h.sub.Messages() {
		if strings.HasSuffix(m.Topic, suffix) {
			out = append(out, string(m.Payload))
		}
	}
	return strings.Join(out, "\n")
}

// siteYAML is the example config for a daemon in dir talking to broker,
// with head office's key pub, at version, with edits (pairs of old, new).
func siteYAML(t *testing.T, dir, broker string, pub ed25519.PublicKey, version int, edits ...string) string {
	s := string(config.Example)
	edits = append([]string{
		"version: 1", fmt.Sprintf("version: %d", version),
		"tcp://198.51.100.10:1883", broker,
		"/run/gatewayd/gatewayd.sock", filepath.Join(dir, "gw.sock"),
		"/var/lib/gatewayd/telemetry.db", filepath.Join(dir, "telemetry.db"),
		"listen: 198.18.10.1:443", "listen: 127.0.0.1:0", "redirect_listen: 198.18.10.1:80", `redirect_listen: ""`,
		"7Qb1yO2X7+ysnhN8HKsZsjrFI6PRLcgMVMVY5MQ4mgY=", base64.StdEncoding.EncodeToString(pub),
		"confirm_window: 120s", "confirm_window: 20s",
	}, edits...)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("%q not in example", edits[i])
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	return s
}

// TestRemoteEndToEnd runs the daemon's real components against a real
// mosquitto: signed commands, refusals, and config pushes that apply, get
// rejected, or roll back when the broker goes away.
func TestRemoteEndToEnd(t *testing.T) {
	broker := mqtttest.Start(t, mqtttest.Options{Persist: true})
	pub, priv, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()
	yamlWith := func(version int, edits ...string) string {
		return siteYAML(t, dir, broker.URL(), pub, version, edits...)
	}
	path := filepath.Join(dir, "gatewayd.yaml")
	os.WriteFile(path, []byte(yamlWith(1)), 0o640)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{Logger: quietLog(), ConfigPath: path, WithoutNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	root := "branchgw/store-0042"
	ho := newHeadOffice(t, broker.URL(), root, priv)
	if !ho.sub.WaitFor(30*time.Second, func(ms []mqtttest.Message) bool {
		for _, m := range ms {
			if m.Topic == root+"/status" && bytes.Contains(m.Payload, []byte("online")) {
				return true
			}
		}
		return false
	}) {
		t.Fatal("gateway never came online")
	}

	t.Run("commands", func(t *testing.T) {
		now := time.Now()
		ho.command("p1", "ping", "", now.Add(time.Minute))
		if r := ho.response("ping", "p1"); !r.OK || !strings.Contains(fmt.Sprint(r.Result), "store-0042") {
			t.Errorf("ping: %+v", r)
		}
		ho.command("p1", "ping", "", now.Add(time.Minute)) // replayed
		ho.command("old", "ping", "", now.Add(-time.Second))
		ho.command("s1", "status", "", now.Add(time.Minute))
		forged := remote.Body{ID: "f1", Site: "store-0042", Name: "reboot", Expires: now.Add(time.Minute)}
		_, otherKey, _ := ed25519.GenerateKey(nil)
		if p, err := remote.Sign(otherKey, forged); err == nil {
			ho.send("cmd/reboot", false, p)
		}
		ho.send("cmd/ping", false, []byte(`{"body": "not base64!", "sig": 1}`))
		ho.command("r1", "restart-component", `{"component":"web"}`, now.Add(time.Minute))
		ho.command("r2", "restart-component", `{"component":"web","force":true}`, now.Add(time.Minute))
		if r := ho.response("ping", "old"); r.OK || !strings.Contains(r.Error, "refused: expired") {
			t.Errorf("expired: %+v", r)
		}
		if r := ho.response("status", "s1"); !r.OK || !strings.Contains(fmt.Sprint(r.Result), "store-0042") {
			t.Errorf("status: %+v", r)
		}
		if r := ho.response("reboot", "f1"); r.OK || !strings.Contains(r.Error, "refused: signature does not verify") {
			t.Errorf("forged reboot: %+v", r)
		}
		if r := ho.response("restart-component", "r1"); !r.OK {
			t.Errorf("restart: %+v", r)
		}
		if r := ho.response("restart-component", "r2"); r.OK || !strings.Contains(r.Error, `unknown field "force"`) {
			t.Errorf("bad args: %+v", r)
		}
		// Replay and garbage answers: the replay carries its id; garbage has none.
		if !ho.sub.WaitFor(20*time.Second, func(ms []mqtttest.Message) bool {
			n := 0
			for _, m := range ms {
				if m.Topic == root+"/cmd/ping/resp" && (bytes.Contains(m.Payload, []byte("replayed")) || bytes.Contains(m.Payload, []byte("malformed"))) {
					n++
				}
			}
			return n == 2
		}) {
			t.Errorf("replay and malformed not refused:\n%s", ho.dump("cmd/ping/resp"))
		}
		// A firmware update: refused without a bundle; with one it starts,
		// and on this box (no RAUC) its failure arrives as an event.
		ho.command("u1", "update", `{}`, time.Now().Add(time.Minute))
		if r := ho.response("update", "u1"); r.OK || !strings.Contains(r.Error, "bundle") {
			t.Errorf("update without bundle: %+v", r)
		}
		ho.command("u2", "update", `{"bundle":"/data/update.raucb"}`, time.Now().Add(time.Minute))
		if r := ho.response("update", "u2"); !r.OK {
			t.Errorf("update: %+v", r)
		}
		if !ho.sub.WaitFor(30*time.Second, func(ms []mqtttest.Message) bool {
			for _, m := range ms {
				if m.Topic == root+"/event" && bytes.Contains(m.Payload, []byte("firmware.update_failed")) {
					return true
				}
			}
			return false
		}) {
			t.Errorf("no firmware.update_failed event:\n%s", ho.dump("/event"))
		}
		// The diagnostics bundle arrives in checked chunks.
		ho.command("d1", "diag", `{"capture_seconds": 0}`, time.Now().Add(time.Minute))
		var asm remote.Assembler
		var bundle []byte
		if !ho.sub.WaitFor(30*time.Second, func(ms []mqtttest.Message) bool {
			asm = remote.Assembler{ID: "d1"}
			for _, m := range ms {
				var c remote.Chunk
				if m.Topic == root+"/cmd/diag/resp" && json.Unmarshal(m.Payload, &c) == nil && c.ID == "d1" && c.Parts > 0 {
					if b, done, err := asm.Add(c); err == nil && done {
						bundle = b
						return true
					}
				}
			}
			return false
		}) {
			t.Fatalf("no diag bundle:\n%.2000s", ho.dump("cmd/diag/resp"))
		}
		if len(bundle) < 100 || bundle[0] != 0x1f || bundle[1] != 0x8b {
			t.Errorf("diag bundle is not a gzip file (%d bytes)", len(bundle))
		}
		ho.command("p2", "ping", "", time.Now().Add(time.Minute))
		if r := ho.response("ping", "p2"); !r.OK {
			t.Errorf("daemon unwell after bad input: %+v", r)
		}
	})

	t.Run("config push", func(t *testing.T) {
		ho.pushConfig("c2", yamlWith(2, "level: info", "level: debug"))
		ho.reported(2, remote.StateApplied)
		if g.Config().Log.Level != "debug" {
			t.Errorf("log level %q after push", g.Config().Log.Level)
		}
		onDisk, err := config.Load(path)
		if err != nil || onDisk.Version != 2 {
			t.Errorf("file after push: v%v, %v", onDisk, err)
		}

		ho.pushConfig("c3", yamlWith(3, "target: 198.51.100.1", "target: 1.2.3"))
		r := ho.reported(0, remote.StateRejected)
		if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], `wan[0].probes[0].target: "1.2.3": not an IP address`) {
			t.Errorf("rejected report: %+v", r)
		}
		if g.Config().Version != 2 {
			t.Errorf("running v%d after a rejected push", g.Config().Version)
		}

		// A network change, then the broker goes away: rolled back by itself,
		// reported once the broker is back.
		ho.pushConfig("c4", yamlWith(4, "rate_up: 20mbit", "rate_up: 30mbit"))
		ho.reported(4, remote.StatePending)
		broker.Stop()
		deadline := time.Now().Add(60 * time.Second)
		for g.Config().Version != 2 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if g.Config().Version != 2 {
			t.Fatalf("not rolled back: running v%d", g.Config().Version)
		}
		broker.Restart()
		r = ho.reported(4, remote.StateRolledBack)
		if !strings.Contains(r.Reason, "not reached within 20s") || r.Running != 2 {
			t.Errorf("rollback report: %+v", r)
		}
		if onDisk, _ := config.Load(path); onDisk == nil || onDisk.Version != 2 {
			t.Errorf("rolled-back config reached the disk")
		}
	})

	// Issue 18, 1: a rotated key is in force at once, a revoked one verifies
	// nothing (not even a push of itself back), and the change holds only
	// once the new key confirms it.
	t.Run("key rotation", func(t *testing.T) {
		newPub, newPriv, _ := ed25519.GenerateKey(nil)
		oldKey := base64.StdEncoding.EncodeToString(pub)
		rotate := yamlWith(5, oldKey, base64.StdEncoding.EncodeToString(newPub))
		ho.pushConfig("k5", rotate)
		if r := ho.reported(5, remote.StatePending); !r.KeyConfirm {
			t.Fatalf("key change not awaiting a confirm: %+v", r)
		}
		ho.command("k-old", "ping", "", time.Now().Add(time.Minute))
		if r := ho.response("ping", "k-old"); r.OK || !strings.Contains(r.Error, "signature does not verify") {
			t.Errorf("ping with the revoked key: %+v", r)
		}
		ho.pushConfig("k6", yamlWith(6)) // the revoked key pushes itself back
		if !ho.sub.WaitFor(20*time.Second, func(ms []mqtttest.Message) bool {
			for _, m := range ms {
				if m.Topic == root+"/config/reported" && bytes.Contains(m.Payload, []byte("refused: signature does not verify")) {
					return true
				}
			}
			return false
		}) {
			t.Errorf("push with the revoked key not refused: %s", ho.dump("config/reported"))
		}
		ho.command("k-oldconfirm", remote.ConfirmCommand, `{"version": 5}`, time.Now().Add(time.Minute))
		if r := ho.response(remote.ConfirmCommand, "k-oldconfirm"); r.OK {
			t.Errorf("confirm with the revoked key: %+v", r)
		}
		ho.key = newPriv
		ho.command("k-new", "ping", "", time.Now().Add(time.Minute))
		if r := ho.response("ping", "k-new"); !r.OK {
			t.Errorf("ping with the new key: %+v", r)
		}
		ho.command("k-confirm", remote.ConfirmCommand, `{"version": 5}`, time.Now().Add(time.Minute))
		if r := ho.response(remote.ConfirmCommand, "k-confirm"); !r.OK {
			t.Fatalf("confirm with the new key: %+v", r)
		}
		ho.reported(5, remote.StateApplied)
		if onDisk, _ := config.Load(path); onDisk == nil || onDisk.Version != 5 {
			t.Errorf("confirmed key change not on disk")
		}

		// A key added but never confirmed: rolled back when the window ends,
		// and the key it added verifies nothing again.
		thirdPub, thirdPriv, _ := ed25519.GenerateKey(nil)
		ho.pushConfig("k7", yamlWith(7, oldKey, base64.StdEncoding.EncodeToString(newPub)+"\n    - "+base64.StdEncoding.EncodeToString(thirdPub)))
		ho.reported(7, remote.StatePending)
		ho.reported(7, remote.StateRolledBack)
		ho.key = thirdPriv
		ho.command("k-third", "ping", "", time.Now().Add(time.Minute))
		if r := ho.response("ping", "k-third"); r.OK {
			t.Errorf("ping with the key of a rolled-back push: %+v", r)
		}
		ho.key = newPriv
	})
}
