//go:build linux

package scenario

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
)

// broker is head office's mosquitto in the cloud namespace. Unlike the
// lab's default broker it persists sessions and queued messages, as a
// production broker does: a restart must not drop what it acknowledged.
type broker struct {
	lab  *netlab.Lab
	conf string
	log  string
	url  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startBroker(ctx context.Context, l *netlab.Lab, dir string) (*broker, error) {
	if _, err := exec.LookPath("mosquitto"); err != nil {
		return nil, fmt.Errorf("broker: %w (make deps installs mosquitto)", err)
	}
	addr := net.JoinHostPort(netlab.Server.String(), strconv.Itoa(netlab.MQTTPort))
	b := &broker{lab: l, conf: filepath.Join(dir, "mosquitto.conf"), log: filepath.Join(dir, "mosquitto.log"),
		url: "tcp://" + addr}
	text := fmt.Sprintf("# head-office broker of scenario lab %s\nlistener %d %s\nallow_anonymous true\n"+
		"persistence true\npersistence_location %s/\nautosave_interval 5\nmax_queued_messages 100000\n"+
		"log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n",
		l.Prefix, netlab.MQTTPort, netlab.Server, dir)
	if err := os.WriteFile(b.conf, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	return b, b.start(ctx)
}

// start runs mosquitto and waits until it accepts connections.
func (b *broker) start(ctx context.Context) error {
	logf, err := os.OpenFile(b.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("broker log: %w", err)
	}
	defer logf.Close()
	cmd := b.lab.Exec(netlab.Cloud, "mosquitto", "-c", b.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.mu.Lock()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addr := net.JoinHostPort(netlab.Server.String(), strconv.Itoa(netlab.MQTTPort))
	if err := b.lab.WaitTCP(wctx, netlab.Cloud, addr); err != nil {
		return errors.Join(fmt.Errorf("mosquitto did not start (see %s): %w", b.log, err), b.stop())
	}
	return nil
}

// stop ends mosquitto gracefully (it saves its persistence file) and waits.
func (b *broker) stop() error {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("mosquitto ignored SIGTERM for 5s; killed")
	}
}
