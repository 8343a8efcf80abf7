package proc

import (
	"bufio"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// start runs script in sh and, when it says "ready", waits for that.
func start(t *testing.T, script string) *Proc {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	if strings.Contains(script, "ready") {
		if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
			t.Fatalf("script said %q, %v", line, err)
		}
	}
	return p
}

// The demo used to hang for ever on Ctrl-C when gatewayd had died before:
// its exit had been taken by the crash message, and the stop waited for it
// again. Stop after an exit, twice, and from two goroutines returns at once.
func TestStopAfterItDied(t *testing.T) {
	p := start(t, "exit 3")
	<-p.Done()
	for range 2 {
		if err := p.Stop(time.Hour); err == nil || p.Err() == nil {
			t.Errorf("stop of a process that exited 3: %v", err)
		}
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { p.Stop(time.Hour) })
	}
	wg.Wait() // a hang here is the old bug
}

func TestStopGraceful(t *testing.T) {
	p := start(t, "trap 'exit 0' TERM; echo ready; while :; do sleep 0.01; done")
	if err := p.Stop(time.Minute); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
}

func TestStopKillsWhatIgnoresTERM(t *testing.T) {
	p := start(t, "trap '' TERM; echo ready; while :; do sleep 0.01; done")
	if err := p.Stop(100 * time.Millisecond); !errors.Is(err, ErrKilled) {
		t.Errorf("stop of a process that ignores SIGTERM: %v", err)
	}
	if !p.Exited() {
		t.Error("still running after Stop")
	}
}
