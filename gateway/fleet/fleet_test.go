package fleet_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway"
	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/config/configtest"
	"github.com/branchgw/branchgw/gateway/fleet"
	"github.com/branchgw/branchgw/gateway/remote"
	"github.com/branchgw/branchgw/telemetry/mqtttest"
)

// siteConfig is the example config for one simulated store on the broker.
func siteConfig(t testing.TB, dir, site, broker string, pub ed25519.PublicKey) string {
	s := string(configtest.Example(t, map[string]any{
		"site":                 site,
		"mqtt.broker":          broker,
		"mqtt.keep_alive":      "5s",
		"web.socket":           filepath.Join(dir, "gw.sock"),
		"web.listen":           "",
		"web.redirect_listen":  "",
		"telemetry.store_path": filepath.Join(dir, "telemetry.db"),
		"remote.command_keys":  []string{base64.StdEncoding.EncodeToString(pub)},
	}))
	path := filepath.Join(dir, "gatewayd.yaml")
	if err := os.WriteFile(path, []byte(s), 0o640); err != nil {
		t.Fatal(err)
	}
	pathsMu.Lock()
	paths[site] = path
	pathsMu.Unlock()
	return path
}

// runSite starts the daemon's head-office link as a real process (see
// testdata/site); the fleet test kills it with SIGKILL so the broker has to
// publish its last will.
func runSite(t *testing.T, cfgPath string) *exec.Cmd {
	bin := filepath.Join(t.TempDir(), "site")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/site").CombinedOutput(); err != nil {
		t.Fatalf("build site: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-config", cfgPath)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// TestFleetOfFifty puts 50 gateways on one broker: 49 in-process daemons
// and one in a process of its own. Head office sees all 50, sees the killed
// one go offline through its last will, and pushes a config to all 50.
func TestFleetOfFifty(t *testing.T) {
	if testing.Short() {
		t.Skip("50 gateways")
	}
	broker := mqtttest.Start(t, mqtttest.Options{})
	pub, priv, _ := ed25519.GenerateKey(nil)
	const n = 50
	sites := make([]string, n)
	for i := range sites {
		sites[i] = fmt.Sprintf("store-%02d", i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	victim := runSite(t, siteConfig(t, t.TempDir(), sites[0], broker.URL(), pub))
	for _, site := range sites[1:] {
		path := siteConfig(t, t.TempDir(), site, broker.URL(), pub)
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		g, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ConfigPath: path, WithoutNetwork: true})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); g.Run(ctx) }()
	}

	f, err := fleet.Connect(ctx, fleet.Options{Broker: broker.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	online := func() (int, map[string]bool) {
		c, on := 0, map[string]bool{}
		for _, s := range f.Sites() {
			on[s.Site] = s.Online
			if s.Online {
				c++
			}
		}
		return c, on
	}
	waitUntil(t, "all 50 online", func() bool { c, _ := online(); return c == n })

	// One store loses power: the broker's last will marks it offline
	// within 1.5 keep-alive intervals.
	victim.Process.Kill()
	waitUntil(t, "the killed site offline", func() bool { _, on := online(); return !on[sites[0]] })
	if c, _ := online(); c != n-1 {
		t.Errorf("%d online after one kill, want %d", c, n-1)
	}

	// A command round trip through the fleet view.
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	defer scancel()
	r, err := f.Send(sctx, priv, sites[7], "ping", nil, time.Minute)
	if err != nil || !r.OK {
		t.Errorf("ping store-07: %+v %v", r, err)
	}

	// Push a config to every live site.
	pctx, pcancel := context.WithTimeout(ctx, 60*time.Second)
	defer pcancel()
	results := f.PushConfig(pctx, fleet.Signing{Key: priv}, sites[1:], func(site string) (string, error) {
		// Each site's own paths and broker, as in its current file.
		b, err := os.ReadFile(siteConfigPath(site))
		if err != nil {
			return "", err
		}
		s := strings.Replace(string(b), "version: 1", "version: 2", 1)
		return fleet.SiteYAML([]byte(strings.Replace(s, "level: info", "level: debug", 1)), site)
	})
	applied := 0
	for site, res := range results {
		if res.State == remote.StateApplied && res.Running == 2 {
			applied++
		} else {
			t.Errorf("%s: %+v", site, res)
		}
	}
	if applied != n-1 {
		t.Errorf("%d of %d sites applied the push", applied, n-1)
	}
	waitUntil(t, "config versions in the fleet view", func() bool {
		c := 0
		for _, s := range f.Sites() {
			if s.ConfigVersion == 2 {
				c++
			}
		}
		return c == n-1
	})
}

var (
	pathsMu sync.Mutex
	paths   = map[string]string{}
)

func siteConfigPath(site string) string {
	pathsMu.Lock()
	defer pathsMu.Unlock()
	return paths[site]
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
