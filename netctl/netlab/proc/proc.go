// Package proc starts and stops the lab's child processes (gatewayd,
// mosquitto, servers) one way. Stop asks with SIGTERM and kills after a
// grace period; it may be called any number of times, from any goroutine,
// also after the process died by itself, and never waits longer than the
// grace (plus the kill). Only the process it started is ever signalled.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is one started child process.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // its exit, set before done closes

	stopMu sync.Mutex // one Stop at a time; later ones find it done
}

// Start starts cmd and watches for its exit.
func Start(cmd *exec.Cmd) (*Proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited, for whatever reason.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is how the process ended (nil for exit 0); valid once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig unless the process has exited (its pid may be reused).
func (p *Proc) Signal(sig os.Signal) error {
	if p.Exited() {
		return os.ErrProcessDone
	}
	return p.cmd.Process.Signal(sig)
}

// Kill ends the process at once, as a crash would, and waits for it.
func (p *Proc) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// ErrKilled is returned by Stop when the process ignored SIGTERM.
var ErrKilled = errors.New("ignored SIGTERM; killed")

// Stop ends the process gracefully: SIGTERM, then SIGKILL after grace. It
// returns the exit of a process that had already ended, or ErrKilled.
func (p *Proc) Stop(grace time.Duration) error {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	if p.Exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s (pid %d) %w after %s", p.cmd.Path, p.Pid(), ErrKilled, grace)
	}
}
