package testenv

import (
	"bytes"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab/proc"
)

// Output is a process's combined output, safe to read while it runs.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Start runs cmd for the test: its output is kept, and at cleanup it gets
// SIGTERM, then SIGKILL if it has not stopped within 20 s; when the test
// failed, its output is logged.
func Start(t testing.TB, cmd *exec.Cmd) *Output {
	t.Helper()
	_, out := StartProc(t, cmd)
	return out
}

// StartProc is Start that also hands out the process, for a test that
// kills or signals it.
func StartProc(t testing.TB, cmd *exec.Cmd) (*proc.Proc, *Output) {
	t.Helper()
	out := &Output{}
	cmd.Stdout, cmd.Stderr = out, out
	p, err := proc.Start(cmd)
	if err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		_ = p.Stop(20 * time.Second)
		if t.Failed() {
			t.Logf("%s output:\n%s", cmd.Path, out.String())
		}
	})
	return p, out
}
