//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Broker is a real mosquitto running in the cloud namespace with its own
// config file and port.
type Broker struct {
	// URL is what an MQTT client inside the lab connects to.
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Exec starts a program inside n's namespace with `ip netns exec` (which
// also gives it the namespace's /sys view). The caller owns the process.
func (l *Lab) Exec(n Node, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.NSName(n), name}, args...)...)
}

// Dir returns (and makes) the lab's runtime directory RunDir/<prefix>.
func (l *Lab) Dir() (string, error) {
	d := filepath.Join(RunDir, l.Prefix)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("netlab: %w", err)
	}
	return d, nil
}

// StartBroker runs mosquitto on Server:1883 in cloud and waits until it
// accepts connections.
func (l *Lab) StartBroker(ctx context.Context) (*Broker, error) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		return nil, fmt.Errorf("netlab: broker: %w (make deps installs mosquitto)", err)
	}
	dir, err := l.Dir()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(Server.String(), strconv.Itoa(MQTTPort))
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf("# written by netlab for lab %s\nlistener %d %s\nallow_anonymous true\npersistence false\n"+
		"log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n", l.Prefix, MQTTPort, Server)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("netlab: broker config: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "mosquitto.log"))
	if err != nil {
		return nil, fmt.Errorf("netlab: broker log: %w", err)
	}
	defer logf.Close()
	cmd := l.Exec(Cloud, bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: start mosquitto: %w", err)
	}
	b := &Broker{URL: "tcp://" + addr, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(b.done) }()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.WaitTCP(wctx, Cloud, addr); err != nil {
		return nil, errors.Join(fmt.Errorf("netlab: mosquitto did not start (see %s): %w", logf.Name(), err), b.Close())
	}
	return b, nil
}

// Pid is the broker's process id.
func (b *Broker) Pid() int { return b.cmd.Process.Pid }

// Close stops the broker and waits for it.
func (b *Broker) Close() error {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(3 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	return nil
}
