package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/branchgw/branchgw/gateway"
	"github.com/branchgw/branchgw/gateway/config"
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
		s := string(config.Example)
		for _, r := range [][2]string{
			{"site: store-0042", "site: " + site},
			{"tcp://198.51.100.10:1883", broker.URL()},
			{"/run/gatewayd/gatewayd.sock", filepath.Join(sdir, "gw.sock")},
			{"/var/lib/gatewayd/telemetry.db", filepath.Join(sdir, "telemetry.db")},
			{"listen: 198.18.10.1:80", `listen: ""`},
			{"7Qb1yO2X7+ysnhN8HKsZsjrFI6PRLcgMVMVY5MQ4mgY=", pub[1]},
		} {
			s = strings.Replace(s, r[0], r[1], 1)
		}
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
}
