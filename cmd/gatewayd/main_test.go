package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// gatewayd is the binary built once for the process tests.
var gatewayd string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatewayd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatewayd = filepath.Join(dir, "gatewayd")
	out, err := exec.Command("go", "build", "-o", gatewayd, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building gatewayd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// labConfig is the example config with paths in dir and the page on loopback,
// so the daemon runs anywhere without touching the system.
func labConfig(t testing.TB, dir string, edits ...string) string {
	s := string(config.Example)
	repl := append([]string{
		"/run/gatewayd/gatewayd.sock", filepath.Join(dir, "gw.sock"),
		"/var/lib/gatewayd/telemetry.db", filepath.Join(dir, "telemetry.db"),
		"listen: 198.18.10.1:443", `listen: ""`, "redirect_listen: 198.18.10.1:80", `redirect_listen: ""`,
		// Outside a lab namespace nothing may leave the machine: the broker
		// is a closed loopback port, so the uplink just retries.
		"broker: tcp://198.51.100.10:1883", "broker: tcp://127.0.0.1:1",
		// The namespace has no WAN links to shape: QoS would refuse every
		// reload (it is proven in the lab, netctl/qos).
		"qos:\n  enabled: true", "qos:\n  enabled: false",
	}, edits...)
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(s, repl[i]) {
			t.Fatalf("labConfig: %q not in example", repl[i])
		}
		s = strings.ReplaceAll(s, repl[i], repl[i+1])
	}
	path := filepath.Join(dir, "gatewayd.yaml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(gatewayd, "-version").Output()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^gatewayd \S+ \(commit \S+, built \S+, go1\.\d+\S*, linux/amd64\)\nsqlite 3\.\d+\.\d+\n$`)
	if !re.Match(out) {
		t.Errorf("-version printed %q", out)
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := labConfig(t, dir)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("site: s1\nwan:\n  - name: wan1\n    interfce: eth0\n"), 0o600)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"good", []string{"-check-config", "-config", good}, 0, good + ": OK (site store-0042, 2 WANs, 3 zones)\n", ""},
		{"bad", []string{"-check-config", "-config", bad}, 2, "", bad + `: wan[0].interfce: unknown field (did you mean "interface"?) (line 4)
`},
		{"missing", []string{"-check-config", "-config", filepath.Join(dir, "nope.yaml")}, 2, "",
			"config: open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory\n"},
		{"stray argument", []string{"-check-config", "extra"}, 2, "", "gatewayd: unexpected argument \"extra\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr.String())
			}
			if stdout.String() != tc.stdout || stderr.String() != tc.stderr {
				t.Errorf("stdout %q\nstderr %q\nwant stdout %q\nstderr %q", stdout.String(), stderr.String(), tc.stdout, tc.stderr)
			}
		})
	}
}

// daemon is a gatewayd process under test with its log lines on a channel.
type daemon struct {
	cmd   *exec.Cmd
	lines chan string
	exit  chan error
	sock  string
}

// startDaemon runs gatewayd in a network namespace of its own (unshare -n),
// so its WAN routing and firewall never touch the host; the unix socket and
// NOTIFY_SOCKET still reach it through the filesystem.
func startDaemon(t testing.TB, cfgPath, sock string, env ...string) *daemon {
	testenv.NeedRoot(t)
	unshare := testenv.NeedCommand(t, "unshare")
	cmd := exec.Command(unshare, "--net", gatewayd, "-config", cfgPath)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, lines: make(chan string, 1000), exit: make(chan error, 1), sock: sock}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case d.lines <- sc.Text():
			default: // a test that stopped reading must not block the daemon
			}
		}
		d.exit <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return d
}

// waitLog returns the first log line containing s.
func (d *daemon) waitLog(t testing.TB, s string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l := <-d.lines:
			if strings.Contains(l, s) {
				return l
			}
		case <-timeout:
			t.Fatalf("no log line with %q", s)
		}
	}
}

// status asks the daemon's API over its unix socket.
func (d *daemon) status(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.get(t, "/api/v1/status"), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// get fetches a path of the daemon's API over its unix socket.
func (d *daemon) get(t testing.TB, path string) []byte {
	t.Helper()
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.sock)
	}}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://gatewayd" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignals(t *testing.T) {
	dir := t.TempDir()
	cfgPath := labConfig(t, dir)
	good, _ := os.ReadFile(cfgPath)
	d := startDaemon(t, cfgPath, filepath.Join(dir, "gw.sock"))
	d.waitLog(t, "gatewayd ready")
	if st := d.status(t); st["site"] != "store-0042" {
		t.Fatalf("status: %v", st)
	}

	// A bad file on SIGHUP: one clear line, the old config stays (the site
	// id shows which config is in force).
	bad := bytes.Replace(good, []byte("site: store-0042"), []byte("site: store-0043"), 1)
	os.WriteFile(cfgPath, bytes.Replace(bad, []byte("level: info"), []byte("level: loud"), 1), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	line := d.waitLog(t, "config reload rejected")
	levelLine := 1 + bytes.Count(good[:bytes.Index(good, []byte("level: info"))], []byte("\n"))
	want := fmt.Sprintf(`err="%s: log.level: \"loud\": must be one of debug, info, warn, error (line %d)"`, cfgPath, levelLine)
	if !strings.Contains(line, want) {
		t.Errorf("reload error line: %s", line)
	}
	time.Sleep(1500 * time.Millisecond) // the API caches its status for up to a second
	if st := d.status(t); st["site"] != "store-0042" {
		t.Errorf("site after rejected reload = %v", st["site"])
	}

	// A good file on SIGHUP takes effect without a restart.
	os.WriteFile(cfgPath, bytes.Replace(good, []byte("site: store-0042"), []byte("site: store-0043"), 1), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, "config reloaded")
	var site any
	for deadline := time.Now().Add(10 * time.Second); site != "store-0043" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		site = d.status(t)["site"]
	}
	if site != "store-0043" {
		t.Errorf("site after reload = %v", site)
	}
	// The technician's page sees the daemon's own log lines.
	if logs := d.get(t, "/api/v1/logs"); !bytes.Contains(logs, []byte("config reload rejected")) {
		t.Errorf("recent logs lack the rejected reload: %.500s", logs)
	}

	// SIGTERM: a clean stop within supervisor.shutdown_timeout, exit 0.
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.waitLog(t, "gatewayd stopped")
	select {
	case err := <-d.exit:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("gatewayd did not exit after SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(dir, "gw.sock")); err == nil {
		t.Error("socket left behind after stop")
	}
}

// readVmRSS returns a process's resident set in KiB.
func readVmRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb int
			_, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			return kb, err
		}
	}
	return 0, io.EOF
}

// TestCleanup is what systemd's ExecStopPost runs after a crash: it removes
// what the daemon left behind, and is fine to run twice.
func TestCleanup(t *testing.T) {
	testenv.NeedRoot(t)
	if os.Getenv("GATEWAYD_CLEANUP_IN_NETNS") == "" {
		// Cleanup works on the current network namespace: run this test
		// again in a fresh one, never on the host's routing.
		unshare := testenv.NeedCommand(t, "unshare")
		cmd := exec.Command(unshare, "--net", os.Args[0], "-test.run", "^TestCleanup$", "-test.count=1")
		cmd.Env = append(os.Environ(), "GATEWAYD_CLEANUP_IN_NETNS=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("in a fresh netns: %v\n%s", err, out)
		}
		return
	}
	dir := t.TempDir()
	cfgPath := labConfig(t, dir)
	sock := filepath.Join(dir, "gw.sock")
	os.WriteFile(sock, nil, 0o600) // left by a killed daemon
	nft := testenv.NeedCommand(t, "nft")
	if out, err := exec.Command(nft, "add table inet branchgw_zones").CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	hasFirewall := func() bool {
		out, _ := exec.Command(nft, "list tables").Output()
		return strings.Contains(string(out), "branchgw_zones")
	}
	for _, tc := range []struct {
		args     []string
		firewall bool
	}{
		{[]string{"-config", cfgPath, "cleanup"}, true},               // the store stays closed
		{[]string{"-config", cfgPath, "cleanup"}, true},               // twice is fine
		{[]string{"-config", cfgPath, "-firewall", "cleanup"}, false}, // uninstall
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errb.String())
		}
		if hasFirewall() != tc.firewall {
			t.Errorf("%v: firewall table present = %v", tc.args, !tc.firewall)
		}
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket still there: %v", err)
	}
}
