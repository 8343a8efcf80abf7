//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/config/configtest"
	"github.com/branchgw/branchgw/gateway/fleet"
	"github.com/branchgw/branchgw/gateway/remote"
	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/netlab/proc"
	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// labDaemon runs the real gatewayd in a lab store's gw namespace with the
// example config (fast failback, the test's head-office key).
type labDaemon struct {
	l       *netlab.Lab
	proc    *proc.Proc
	sock    string
	http    http.Client
	key     ed25519.PrivateKey
	cfgPath string
	cfg     []byte // the config file it started with
}

func startLabDaemon(t *testing.T) *labDaemon {
	testenv.NeedRoot(t)
	l := netlab.ForTest(t, netlab.Options{})
	netlab.ServicesForTest(t, l, netlab.ServiceOptions{Mosquitto: true})
	pub, key, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()
	cfgPath := configtest.Write(t, dir, map[string]any{
		"web.socket":              filepath.Join(dir, "gw.sock"),
		"telemetry.store_path":    filepath.Join(dir, "telemetry.db"),
		"failover.failback_after": "2s",
		"remote.command_keys":     []string{base64.StdEncoding.EncodeToString(pub)},
		"remote.confirm_window":   "20s",
	})
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := testenv.StartProc(t, l.Exec(netlab.GW, gatewayd, "-config", cfgPath))
	sock := filepath.Join(dir, "gw.sock")
	d := &labDaemon{l: l, proc: p, sock: sock, key: key, cfgPath: cfgPath, cfg: cfg, http: http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}}
	d.waitActive(t, "wan1")
	return d
}

// active reads the active WAN from the daemon's snapshot ("" if unknown).
func (d *labDaemon) active() string {
	resp, err := d.http.Get("http://gatewayd/api/v1/snapshot")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var s struct {
		Parts struct {
			WAN struct {
				Active string
				WANs   []struct{ State string } `json:"wans"`
			} `json:"wan"`
		} `json:"parts"`
	}
	json.NewDecoder(resp.Body).Decode(&s)
	for _, w := range s.Parts.WAN.WANs {
		if w.State != "up" {
			return "" // not settled yet
		}
	}
	return s.Parts.WAN.Active
}

func (d *labDaemon) waitActive(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if d.active() == want {
			return
		}
	}
	t.Fatalf("active WAN %q, want %q", d.active(), want)
}

func (d *labDaemon) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	resp, err := d.http.Post("http://gatewayd"+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestLabWANActions: the technician's "Test WAN" and "Force WAN" (page and
// gwctl share this API) and head office's failover command, on the real
// daemon in a lab store.
func TestLabWANActions(t *testing.T) {
	d := startLabDaemon(t)

	// The page's status (which names the WANs) refreshes every second.
	var code int
	var body string
	for range 50 {
		if code, body = d.post(t, "/api/v1/wan/wan2/test", ""); code != http.StatusNotFound {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 200 || !strings.Contains(body, "wan2 is up") {
		t.Errorf("test wan2: %d %s", code, body)
	}
	if code, body := d.post(t, "/api/v1/wan/wan2/force", `{"minutes": 5}`); code != 200 {
		t.Fatalf("force wan2: %d %s", code, body)
	}
	d.waitActive(t, "wan2")
	if code, body := d.post(t, "/api/v1/wan/wan2/force", `{"minutes": 0}`); code != 200 {
		t.Fatalf("back to automatic: %d %s", code, body)
	}
	d.waitActive(t, "wan1")

	// Head office, through the lab's broker in the cloud.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fl := d.headOffice(t, ctx)
	send := func(args string) {
		t.Helper()
		r, err := fl.Send(ctx, d.key, "store-0042", "failover", json.RawMessage(args), time.Minute)
		if err != nil || !r.OK {
			t.Fatalf("failover %s: %+v %v", args, r, err)
		}
	}
	send(`{"wan": "wan2", "minutes": 1}`)
	d.waitActive(t, "wan2")
	send(`{"wan": "wan2", "minutes": 0}`)
	d.waitActive(t, "wan1")
	r, err := fl.Send(ctx, d.key, "store-0042", "wan-test", json.RawMessage(`{"wan": "wan9"}`), time.Minute)
	if err != nil || r.OK || !strings.Contains(r.Error, `no WAN named "wan9"`) {
		t.Errorf("wan-test of an unknown WAN: %+v %v", r, err)
	}
}

// headOffice connects to the lab's broker from the cloud namespace.
func (d *labDaemon) headOffice(t *testing.T, ctx context.Context) *fleet.Fleet {
	t.Helper()
	fl, err := fleet.Connect(ctx, fleet.Options{Broker: "tcp://198.51.100.10:1883",
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.l.Dial(ctx, netlab.Cloud, network, addr)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fl.Close)
	return fl
}

// TestLabConfigPushThatCutsTheUplinkRollsBack: in the lab, a valid push
// applies, an invalid one never leaves head office, and a push that cuts
// the store off head office (a wrong broker port, as a typo would): the
// broker never confirms it, the daemon puts the previous config back by
// itself within the window, and head office hears "rolled-back" once the
// link is back.
func TestLabConfigPushThatCutsTheUplinkRollsBack(t *testing.T) {
	d := startLabDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fl := d.headOffice(t, ctx)
	push := func(set map[string]any) remote.Reported {
		t.Helper()
		yaml := configtest.Edit(t, d.cfg, set)
		return fl.PushConfig(ctx, fleet.Signing{Key: d.key}, []string{"store-0042"}, func(site string) (string, error) {
			return fleet.SiteYAML(yaml, site)
		})["store-0042"]
	}
	// A valid change applies; an invalid one is refused and changes nothing.
	if r := push(map[string]any{"version": "2", "log.level": "debug"}); r.State != "applied" || r.Running != 2 {
		t.Errorf("valid push: %+v", r)
	}
	if r := push(map[string]any{"version": "3", "wan.0.rate_up": "fast"}); r.State != "not-delivered" ||
		!strings.Contains(strings.Join(r.Errors, " "), `"fast": not a rate`) {
		// SiteYAML checks the file before it leaves head office.
		t.Errorf("invalid push: %+v", r)
	}
	res := push(map[string]any{"version": "4", "log.level": "debug", "mqtt.broker": "tcp://198.51.100.10:1884"})
	if res.State != "rolled-back" || res.Running != 2 || !strings.Contains(res.Reason, "not reached within 20s") {
		t.Errorf("report: %+v", res)
	}
	if c, err := config.Load(d.cfgPath); err != nil || c.Version != 2 {
		t.Errorf("config on disk after rollback: %v", err)
	}
}

// kernelState is what the daemon may leave in its namespace, as ip, tc and
// nft show it.
type kernelState struct {
	qdiscs, ifbs, rules, routes, tables string
}

func (d *labDaemon) kernelState(t *testing.T) kernelState {
	t.Helper()
	run := func(name string, args ...string) string {
		out, err := d.l.Exec(netlab.GW, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	var routes []string
	for _, line := range strings.Split(run("ip", "-4", "route", "show", "table", "all"), "\n") {
		if strings.Contains(line, "table ") && !strings.Contains(line, "table local") && !strings.Contains(line, "table main") {
			routes = append(routes, line)
		}
	}
	var rules []string
	for _, line := range strings.Split(strings.TrimSpace(run("ip", "-4", "rule", "show")), "\n") {
		if !strings.HasPrefix(line, "0:") && !strings.HasPrefix(line, "32766:") && !strings.HasPrefix(line, "32767:") {
			rules = append(rules, line) // not one of the kernel's own three
		}
	}
	var qdiscs []string
	for _, line := range strings.Split(run("tc", "qdisc", "show"), "\n") {
		if strings.HasPrefix(line, "qdisc htb") || strings.HasPrefix(line, "qdisc ingress") || strings.HasPrefix(line, "qdisc tbf") {
			qdiscs = append(qdiscs, line)
		}
	}
	return kernelState{qdiscs: strings.Join(qdiscs, "\n"), ifbs: strings.TrimSpace(run("ip", "link", "show", "type", "ifb")),
		rules: strings.Join(rules, "\n"), routes: strings.Join(routes, "\n"), tables: run("nft", "list", "tables")}
}

// TestLabCleanupAfterKill9 is the unit's ExecStopPost after a crash: a
// fully wired gatewayd (WAN policy routing, QoS, zone firewall) is killed
// with -9 in the lab's gw namespace, `gatewayd cleanup` runs there, and no
// qdisc, IFB, rule, route, connmark or QoS table is left; the zone firewall
// stays, so a stopped daemon leaves the store closed. The old cleanup left
// the shaping on both WANs.
func TestLabCleanupAfterKill9(t *testing.T) {
	d := startLabDaemon(t)
	var before kernelState
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		before = d.kernelState(t)
		if before.qdiscs != "" && before.ifbs != "" && before.rules != "" && before.routes != "" &&
			strings.Contains(before.tables, "branchgw_qos") && strings.Contains(before.tables, "branchgw_wan") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon never set up everything it owns: %+v", before)
		}
	}
	d.proc.Kill()
	if out, err := d.l.Exec(netlab.GW, gatewayd, "-config", d.cfgPath, "cleanup").CombinedOutput(); err != nil {
		t.Fatalf("gatewayd cleanup: %v\n%s", err, out)
	}
	after := d.kernelState(t)
	for what, left := range map[string]string{"qdiscs": after.qdiscs, "IFBs": after.ifbs, "rules": after.rules, "routes": after.routes} {
		if left != "" {
			t.Errorf("%s left after cleanup:\n%s", what, left)
		}
	}
	for _, table := range []string{"branchgw_qos", "branchgw_wan"} {
		if strings.Contains(after.tables, table) {
			t.Errorf("nft table %s left after cleanup", table)
		}
	}
	if !strings.Contains(after.tables, "branchgw_zones") {
		t.Errorf("the zone firewall went with the cleanup: the store is open\n%s", after.tables)
	}
}
