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
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
	"github.com/branchgw/branchgw/netctl/netlab/proc"
)

// broker is head office's mosquitto in the cloud namespace. Unlike the
// lab's default broker it persists sessions and queued messages, as a
// production broker does: a restart must not drop what it acknowledged.
type broker struct {
	lab  *netlab.Lab
	conf string
	log  string
	url  string

	mu sync.Mutex
	p  *proc.Proc // nil while stopped
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
	p, err := proc.Start(cmd)
	if err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	b.mu.Lock()
	b.p = p
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
	p := b.p
	b.p = nil
	b.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := p.Stop(5 * time.Second); errors.Is(err, proc.ErrKilled) {
		return err
	}
	return nil
}
