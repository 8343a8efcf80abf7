package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/gateway/passwd"
	"github.com/branchgw/branchgw/gateway/web"
)

func TestHashPassword(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"hash-password"}, strings.NewReader("correct horse\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !passwd.Verify(strings.TrimSpace(out.String()), "correct horse") {
		t.Errorf("hash %q does not verify", out.String())
	}
	if code := run([]string{"hash-password"}, strings.NewReader("short\n"), &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "at least 8 characters") {
		t.Errorf("short password: exit %d, %q", code, errb.String())
	}
}

// fakeDaemon serves the web API on a real unix socket with the web
// package's fixture snapshot and actions that record their calls.
type fakeDaemon struct {
	sock  string
	mu    sync.Mutex
	calls []string
}

func (d *fakeDaemon) record(s string) {
	d.mu.Lock()
	d.calls = append(d.calls, s)
	d.mu.Unlock()
}

func startFake(t *testing.T) *fakeDaemon {
	snap, err := os.ReadFile("../../gateway/web/testdata/snapshot.json")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDaemon{sock: filepath.Join(t.TempDir(), "gw.sock")}
	evs := web.NewEventLog(10)
	b, err := os.ReadFile("../../gateway/web/testdata/wan_events.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, e := range raw {
		var we web.WANEvent
		json.Unmarshal(e, &we)
		evs.Add(web.Event{Time: we.Time, Source: "wan", Kind: we.Kind, Message: "wan1 " + we.From + " → " + we.To + ": " + we.Reason, Detail: e})
	}
	// The fixture's clock: its devices' ages do not depend on today's date.
	start, base := time.Now(), time.Date(2026, 11, 23, 10, 42, 30, 0, time.UTC)
	srv := web.NewSocket(config.Web{Socket: d.sock}, web.Deps{
		Now:      func() time.Time { return base.Add(time.Since(start)) },
		Snapshot: func() any { return json.RawMessage(snap) },
		Events:   evs.Recent,
		Logs: func(int) []web.LogLine {
			return []web.LogLine{{Time: time.Now(), Level: "INFO", Text: `level=INFO msg="gatewayd ready"`}}
		},
		Actions: web.ActionFuncs{
			TestWANFunc: func(_ context.Context, w string) (string, error) {
				d.record("test " + w)
				return "3 of 3 targets answer", nil
			},
			ForceWANFunc: func(_ context.Context, w string, dur time.Duration) error {
				d.record("force " + w + " " + dur.String())
				return nil
			},
			RestartFunc: func(_ context.Context, c string) error { d.record("restart " + c); return nil },
			CaptureFunc: func(_ context.Context, w io.Writer, dur time.Duration) error {
				d.record("capture " + dur.String())
				_, err := w.Write([]byte("pcap"))
				return err
			},
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready")
	}
	return d
}

func TestAgainstFakeDaemon(t *testing.T) {
	d := startFake(t)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "diag.tar.gz")
	for _, tc := range []struct {
		args []string
		code int
		want []string // in the output, in order
	}{
		{[]string{"status"}, 0, []string{"store-1 (gw-0001)", "OK: All good — on WAN1", "[info] New unknown device 02:00:00:00:00:99 since 10:30", "what to do:", "active WAN:  WAN1",
			"head office: connected", "backlog:     12 records", "COMPONENT  STATE", "uplink     running  1"}},
		{[]string{"status", "--json"}, 0, []string{`"site":"store-1"`, `"verdict":`}},
		{[]string{"wan"}, 0, []string{"WAN    IFACE  STATE  RTT     LOSS", "wan1*  eth1   up     12.4ms  0%", "wan2", "48ms",
			"TIME", "wan1  down -> up"}},
		{[]string{"--json", "wan"}, 0, []string{`"active": "wan1"`, `"rtt_ms": 12.4`}},
		{[]string{"pos"}, 0, []string{"TERMINAL  STATE", "pos1      ok     85ms"}},
		{[]string{"pos", "--json"}, 0, []string{`"tls_handshake_last_ms": 85`}},
		{[]string{"devices"}, 0, []string{"MAC", "02:00:00:00:00:99", "NEW,UNKNOWN", "02:00:00:00:00:20", "office-pc"}},
		{[]string{"flows"}, 0, []string{"42 active flows", "backup.example:443", "91.0 MB", "APP", "pay.example", "CLASS", "bulk", "up", "91.0 MB", "120", "bulk", "down"}},
		{[]string{"flows", "--json"}, 0, []string{`"active": 42`, `"qos"`}},
		{[]string{"events"}, 0, []string{"TIME", "wan_state", "carrier lost", "failback"}},
		{[]string{"events", "-n", "5", "--json"}, 0, []string{`"kind": "wan_state"`}},
		{[]string{"logs"}, 0, []string{"gatewayd ready"}},
		{[]string{"runbook"}, 0, []string{"wan_down", "modem"}},
		{[]string{"wan", "test", "wan2"}, 0, []string{"wan2: 3 of 3 targets answer"}},
		{[]string{"failover", "wan2", "15"}, 0, []string{"all traffic on wan2 until"}},
		{[]string{"failover", "auto"}, 0, []string{"automatic again"}},
		{[]string{"failover", "wan7"}, 1, []string{`no WAN named "wan7" (have wan1, wan2)`}},
		{[]string{"failover", "wan2", "-3"}, 2, []string{"minutes", "usage:"}},
		{[]string{"failover", "wan2", "5000"}, 1, []string{"from 1 to 1440"}},
		{[]string{"restart", "wan"}, 0, []string{"restarted wan"}},
		{[]string{"restart", "frob"}, 1, []string{`no component "frob"`}},
		{[]string{"reboot"}, 2, []string{"--yes"}},
		{[]string{"reboot", "--yes"}, 1, []string{"reboot: not supported"}},
		{[]string{"diag", "-o", bundle, "-capture", "1"}, 0, []string{"wrote " + bundle}},
		{[]string{"diag", "-capture", "99"}, 1, []string{"want 0 to 60"}},
		{[]string{"events", "-n", "0"}, 2, []string{"-n N"}},
		{[]string{"frobnicate"}, 2, []string{"unknown command", "usage: gwctl"}},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"-socket", d.sock}, tc.args...), nil, &out, &errb)
		got := out.String() + errb.String()
		if code != tc.code {
			t.Errorf("gwctl %v: exit %d, want %d\n%s", tc.args, code, tc.code, got)
			continue
		}
		rest := got
		for _, w := range tc.want {
			i := strings.Index(rest, w)
			if i < 0 {
				t.Errorf("gwctl %v: %q missing (or out of order) in\n%s", tc.args, w, got)
				break
			}
			rest = rest[i+len(w):]
		}
		if strings.Contains(strings.Join(tc.args, " "), "json") && code == 0 && !json.Valid(out.Bytes()) {
			t.Errorf("gwctl %v: output is not JSON:\n%s", tc.args, got)
		}
	}
	want := "test wan2|force wan2 15m0s|force wan1 0s|restart wan|capture 1s"
	if got := strings.Join(d.calls, "|"); got != want {
		t.Errorf("actions %q, want %q", got, want)
	}
	names := tarNames(t, bundle)
	for _, n := range []string{"README.txt", "status.json", "snapshot.json", "events.json", "logs.txt", "lan.pcap"} {
		if !strings.Contains(names, "branchgw-diag/"+n) {
			t.Errorf("bundle lacks %s: %s", n, names)
		}
	}
}

func tarNames(t *testing.T, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	return strings.Join(names, " ")
}

func TestDaemonNotRunning(t *testing.T) {
	var out, errb bytes.Buffer
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, cmd := range []string{"status", "wan", "pos", "devices", "flows", "events", "logs"} {
		errb.Reset()
		code := run([]string{"-socket", sock, cmd}, nil, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "cannot reach gatewayd at "+sock+": is gatewayd running?") {
			t.Errorf("%s without a daemon: exit %d, %q", cmd, code, errb.String())
		}
	}
}
