package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/branchgw/branchgw/gateway"
	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/config/configtest"
	"github.com/branchgw/branchgw/gateway/remote"
	"github.com/branchgw/branchgw/telemetry/mqtttest"
)

// TestFleetCLI drives `gwctl fleet` against a real mosquitto with two real
// in-process gateways.
func TestFleetCLI(t *testing.T) {
	broker := mqtttest.Start(t, mqtttest.Options{})
	dir := t.TempDir()
	key := filepath.Join(dir, "ho.key")
	gwctl := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"fleet", "-broker", broker.URL(), "-timeout", "30s"}, args...), nil, &out, &errb)
		return code, out.String() + errb.String()
	}
	code, out := gwctl("-key", key, "keygen")
	pub := regexp.MustCompile(`remote.command_keys: (\S+)`).FindStringSubmatch(out)
	if code != 0 || pub == nil {
		t.Fatalf("keygen: %d %s", code, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	paths := map[string]string{}
	for _, site := range []string{"store-01", "store-02"} {
		sdir := t.TempDir()
		s := string(configtest.Example(t, map[string]any{
			"site":                 site,
			"mqtt.broker":          broker.URL(),
			"web.socket":           filepath.Join(sdir, "gw.sock"),
			"web.listen":           "",
			"web.redirect_listen":  "",
			"telemetry.store_path": filepath.Join(sdir, "telemetry.db"),
			"remote.command_keys":  []string{pub[1]},
		}))
		path := filepath.Join(sdir, "gatewayd.yaml")
		os.WriteFile(path, []byte(s), 0o640)
		paths[site] = path
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		g, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ConfigPath: path, WithoutNetwork: true})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { g.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
	}
	var listed string
	for range 50 {
		if _, listed = gwctl("list"); strings.Contains(listed, "2 sites, 2 online") {
			break
		}
	}
	if !regexp.MustCompile(`store-01\s+online`).MatchString(listed) || !strings.Contains(listed, "2 sites, 2 online") {
		t.Fatalf("list:\n%s", listed)
	}
	if code, out := gwctl("-key", key, "send", "store-02", "ping"); code != 0 || !strings.Contains(out, `"pong": "store-02"`) {
		t.Errorf("send: %d %s", code, out)
	}
	if code, out := gwctl("send", "store-02", "ping"); code != 1 || !strings.Contains(out, "-key is required") {
		t.Errorf("send without key: %d %s", code, out)
	}
	b, _ := os.ReadFile(paths["store-01"])
	tmpl := filepath.Join(dir, "push.yaml")
	os.WriteFile(tmpl, bytes.Replace(bytes.Replace(b, []byte("version: 1"), []byte("version: 2"), 1), []byte("level: info"), []byte("level: warn"), 1), 0o600)
	if code, out := gwctl("-key", key, "-sites", "store-01", "push-config", tmpl); code != 0 || !regexp.MustCompile(`store-01\s+applied\s+v2`).MatchString(out) {
		t.Errorf("push-config: %d %s", code, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("site: x\nwan: nope\n"), 0o600)
	if code, out := gwctl("-key", key, "-sites", "store-01", "push-config", bad); code != 1 || !strings.Contains(out, "wan: expected a list") {
		t.Errorf("bad push-config: %d %s", code, out)
	}

	// Key rotation: the push is signed with the old key, confirmed with
	// the new one, and from then on only the new one works.
	key2 := filepath.Join(dir, "ho2.key")
	code, out = gwctl("-key", key2, "keygen")
	pub2 := regexp.MustCompile(`remote.command_keys: (\S+)`).FindStringSubmatch(out)
	if code != 0 || pub2 == nil {
		t.Fatalf("keygen: %d %s", code, out)
	}
	rotated := filepath.Join(dir, "rotated.yaml")
	os.WriteFile(rotated, bytes.Replace(bytes.Replace(b, []byte("version: 1"), []byte("version: 3"), 1), []byte(pub[1]), []byte(pub2[1]), 1), 0o600)
	if code, out := gwctl("-key", key, "-sites", "store-01", "push-config", rotated); code != 1 || !regexp.MustCompile(`store-01\s+pending\s+v3\s+changes remote.command_keys`).MatchString(out) {
		t.Errorf("rotation without -confirm-key: %d %s", code, out)
	}
	if code, out := gwctl("-key", key2, "send", "store-01", "config-confirm", `{"version": 3}`); code != 0 || !strings.Contains(out, `"confirmed": 3`) {
		t.Errorf("confirm: %d %s", code, out)
	}
	if code, out := gwctl("-key", key, "send", "store-01", "ping"); code != 1 || !strings.Contains(out, "signature does not verify") {
		t.Errorf("ping with the rotated-out key: %d %s", code, out)
	}
	rotateBack := filepath.Join(dir, "back.yaml")
	os.WriteFile(rotateBack, bytes.Replace(b, []byte("version: 1"), []byte("version: 4"), 1), 0o600)
	if code, out := gwctl("-key", key2, "-confirm-key", key, "-sites", "store-01", "push-config", rotateBack); code != 0 || !regexp.MustCompile(`store-01\s+applied\s+v4`).MatchString(out) {
		t.Errorf("rotation with -confirm-key: %d %s", code, out)
	}
	if code, out := gwctl("-key", key, "send", "store-01", "ping"); code != 0 {
		t.Errorf("ping with the key rotated back in: %d %s", code, out)
	}
}

// evilStore answers every diag command on site with the given chunks, made
// from the command's id.
func evilStore(t *testing.T, brokerURL, site string, answer func(id string) []remote.Chunk) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("evil-" + site))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("evil store connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	topic := "branchgw/" + site + "/cmd/diag"
	tok := c.Subscribe(topic, 1, func(c mqtt.Client, m mqtt.Message) {
		var env remote.Envelope
		var body remote.Body
		raw, _ := base64.StdEncoding.DecodeString(gjson(m.Payload(), &env).Body)
		gjson(raw, &body)
		for _, ch := range answer(body.ID) {
			b, _ := json.Marshal(ch)
			c.Publish(topic+"/resp", 1, false, b).Wait()
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("evil store subscribe: %v", tok.Error())
	}
}

func gjson[T any](b []byte, v *T) *T { _ = json.Unmarshal(b, v); return v }

// A store (or anyone with its MQTT login) answers a diag command with a
// file name of its choosing and with a chunk of another command. gwctl must
// write only <site>-<time>.tar.gz in the current directory, with the bytes
// of the answer to its own command.
func TestAttackDiagFileName(t *testing.T) {
	broker := mqtttest.Start(t, mqtttest.Options{})
	dir := t.TempDir()
	work := filepath.Join(dir, "ops", "work")
	os.MkdirAll(work, 0o755)
	t.Chdir(work)
	key := filepath.Join(dir, "ho.key")
	gwctl := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"fleet", "-broker", broker.URL(), "-timeout", "20s", "-key", key}, args...), nil, &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := gwctl("keygen"); code != 0 {
		t.Fatalf("keygen: %d %s", code, out)
	}
	good := []byte("the bundle head office asked for")
	evilStore(t, broker.URL(), "store-07", func(id string) []remote.Chunk {
		forged := remote.Split(remote.Response{ID: "not-" + id, Name: "diag"}, remote.Chunked{Name: "../forged.tar.gz", Data: []byte("forged")})
		real := remote.Split(remote.Response{ID: id, Name: "diag"}, remote.Chunked{Name: "../../.bashrc", Data: good})
		return append(forged, real...)
	})
	code, out := gwctl("send", "store-07", "diag")
	if code != 0 {
		t.Fatalf("send diag: %d %s", code, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*"))
	files2, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	var names []string
	for _, f := range append(files, files2...) {
		if fi, err := os.Stat(f); err == nil && !fi.IsDir() {
			names = append(names, strings.TrimPrefix(f, dir+"/"))
		}
	}
	if len(names) != 1 || !regexp.MustCompile(`^ops/work/store-07-\d{8}T\d{6}Z\.tar\.gz$`).MatchString(names[0]) {
		t.Fatalf("files written: %v (output %s)", names, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, names[0])); !bytes.Equal(b, good) {
		t.Errorf("bundle = %q, want the answer to gwctl's own command", b)
	}
	if !strings.Contains(out, "checksum verified") {
		t.Errorf("output: %s", out)
	}
	if code, out := gwctl("send", "../etc", "diag"); code != 1 || !strings.Contains(out, `"../etc": not a site id`) {
		t.Errorf("send to a path: %d %s", code, out)
	}
}
