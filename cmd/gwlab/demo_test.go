//go:build linux

package main

import (
	"bufio"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/netlab/proc"
	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// TestDemoStopsAfterGatewaydDied is what a new user tried: gatewayd dies
// under `gwlab demo` (kill -9), then Ctrl-C. The old demo printed
// "stopping...", waited 15 s for an exit it had already taken, and then
// for ever, leaving the lab and its mosquitto up.
func TestDemoStopsAfterGatewaydDied(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "mosquitto")
	dir := t.TempDir()
	bins := map[string]string{}
	for _, name := range []string{"gwlab", "gatewayd"} {
		bins[name] = filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-o", bins[name], "../"+name).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", name, err, out)
		}
	}
	prefix := netlab.NewPrefix()
	t.Cleanup(func() {
		if left, err := netlab.Leftovers(prefix); err != nil || len(left) > 0 {
			t.Errorf("left behind: %v %v", left, err)
			netlab.Clean(prefix, slog.New(slog.DiscardHandler))
		}
	})
	cmd := exec.Command(bins["gwlab"], "demo", "-prefix", prefix, "-gatewayd", bins["gatewayd"], "-listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	demo, err := proc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(demo.Kill)
	lines := make(chan string, 1000)
	go func() { // drains the demo's output to the end, so it never blocks on it
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	var said []string
	waitFor := func(text string) {
		t.Helper()
		timeout := time.After(2 * time.Minute) // a hang, not a timing goal
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("demo ended before %q:\n%s", text, strings.Join(said, "\n"))
				}
				said = append(said, l)
				if strings.Contains(l, text) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q from the demo:\n%s", text, strings.Join(said, "\n"))
			}
		}
	}
	waitFor("status page:")

	// gatewayd is the only process in the gw namespace.
	pids, err := exec.Command("ip", "netns", "pids", prefix+"-gw").Output()
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(pids))
	if len(fields) != 1 {
		t.Fatalf("processes in %s-gw: %q, want gatewayd alone", prefix, pids)
	}
	pid, _ := strconv.Atoi(fields[0])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil { // a child of the demo this test started
		t.Fatal(err)
	}
	waitFor("gatewayd exited")

	start := time.Now()
	if err := demo.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-demo.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("the demo did not exit within 20 s of Ctrl-C")
	}
	t.Logf("demo exited %s after Ctrl-C (gatewayd had died): %v", time.Since(start).Round(time.Millisecond), demo.Err())
	if left, err := netlab.Leftovers(prefix); err != nil || len(left) > 0 {
		t.Errorf("left behind after the demo: %v %v", left, err)
	}
}
