//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config/configtest"
	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// TestAgainstGatewayd runs the real daemon (in a network namespace of its
// own, so its WAN routing and firewall never touch the host) and drives it
// with gwctl through its unix socket, in both output forms.
func TestAgainstGatewayd(t *testing.T) {
	testenv.NeedRoot(t)
	unshare := testenv.NeedCommand(t, "unshare")
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatewayd")
	if out, err := exec.Command("go", "build", "-o", bin, "../gatewayd").CombinedOutput(); err != nil {
		t.Fatalf("building gatewayd: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "gw.sock")
	cfgPath := configtest.Write(t, dir, map[string]any{
		"web.socket":           sock,
		"web.listen":           "",
		"web.redirect_listen":  "",
		"telemetry.store_path": filepath.Join(dir, "telemetry.db"),
		// Nothing may leave the machine: a closed loopback port as broker.
		"mqtt.broker": "tcp://127.0.0.1:1",
	})
	testenv.Start(t, exec.Command(unshare, "--net", bin, "-config", cfgPath))
	gw := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"-socket", sock}, args...), nil, &out, &errb)
		return code, out.String() + errb.String()
	}
	// Wait until the daemon answers and says it is ready.
	var st struct {
		Ready bool   `json:"ready"`
		Site  string `json:"site"`
	}
	for i := 0; ; i++ {
		if code, out := gw("status", "--json"); code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.Ready {
			break
		}
		if i == 300 {
			t.Fatalf("gatewayd not ready on %s", sock)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Site != "store-0042" {
		t.Errorf("site %q", st.Site)
	}
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"status"}, 0, []string{"store-0042", "active WAN:", "COMPONENT", "api", "running"}},
		{[]string{"wan"}, 0, []string{"WAN"}},
		{[]string{"wan", "--json"}, 0, []string{`"wans"`}},
		{[]string{"pos"}, 0, []string{"TERMINAL"}},
		{[]string{"devices", "--json"}, 0, []string{"null"}},
		{[]string{"events", "-n", "10"}, 0, []string{"TIME", "SOURCE"}},
		{[]string{"logs", "--json"}, 0, []string{"["}},
		{[]string{"runbook"}, 0, []string{"no_wan"}},
		{[]string{"restart", "telemetry"}, 0, []string{"restarted telemetry"}},
		{[]string{"restart", "nope"}, 1, []string{`no component "nope"`}},
		{[]string{"failover", "wan9", "5"}, 1, []string{`no WAN named "wan9"`}},
	} {
		code, out := gw(tc.args...)
		if code != tc.code {
			t.Errorf("gwctl %v: exit %d, want %d\n%s", tc.args, code, tc.code, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("gwctl %v: %q missing in\n%s", tc.args, w, out)
			}
		}
		if strings.Contains(strings.Join(tc.args, " "), "json") && !json.Valid([]byte(out)) {
			t.Errorf("gwctl %v: not JSON:\n%s", tc.args, out)
		}
	}
}
