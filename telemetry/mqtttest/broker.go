// Package mqtttest starts a real mosquitto for tests and collects what a
// real subscriber receives. Tests of any package may use it.
package mqtttest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// TLS makes the broker listen with TLS.
type TLS struct {
	CAFile, CertFile, KeyFile string
	// RequireClientCert turns on mutual TLS.
	RequireClientCert bool
}

// Options shape the broker.
type Options struct {
	// Persist keeps sessions and queued messages across a Stop and Start.
	Persist bool
	// TLS, when set, makes the listener TLS-only.
	TLS *TLS
	// PasswordFile, when set, turns anonymous access off (mosquitto_passwd format).
	PasswordFile string
	// Extra lines appended to mosquitto.conf.
	Extra string
	// NetNS runs the broker in that network namespace (ip netns exec);
	// then Host must be an address there and Dial must reach it.
	NetNS string
	// Host is the listener address; default 127.0.0.1.
	Host string
	// Dial is how Start checks that the broker listens; default net.Dial.
	Dial func(network, addr string) (net.Conn, error)
}

// Broker is one mosquitto process on 127.0.0.1 (restartable on the same port).
type Broker struct {
	t    testing.TB
	bin  string
	dir  string
	conf string
	port int
	tls  bool
	o    Options

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been reaped
	log    *syncWriter
}

// Start runs mosquitto with a config in t.TempDir() on a free port and
// kills it in t.Cleanup.
func Start(t testing.TB, o Options) *Broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto" // Debian installs it outside a normal user's PATH
		if _, err := os.Stat(bin); err != nil {
			testenv.Unavailable(t, "needs mosquitto (make deps installs it)")
		}
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Dial == nil {
		o.Dial = func(network, addr string) (net.Conn, error) {
			return net.DialTimeout(network, addr, 200*time.Millisecond)
		}
	}
	b := &Broker{t: t, bin: bin, dir: t.TempDir(), tls: o.TLS != nil, o: o}
	t.Cleanup(b.Kill)
	for attempt := 0; ; attempt++ {
		b.port = freePort(t)
		b.writeConf(o)
		err := b.start()
		if err == nil {
			return b
		}
		if attempt == 3 {
			t.Fatalf("mosquitto: %v", err)
		}
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (b *Broker) writeConf(o Options) {
	var c bytes.Buffer
	fmt.Fprintf(&c, "listener %d %s\n", b.port, b.o.Host)
	if o.PasswordFile != "" {
		fmt.Fprintf(&c, "allow_anonymous false\npassword_file %s\n", o.PasswordFile)
	} else {
		c.WriteString("allow_anonymous true\n")
	}
	if os.Geteuid() == 0 {
		// Stay root: the test's temp dirs are 0700 root, out of reach of
		// the mosquitto user it would otherwise drop to.
		c.WriteString("user root\n")
	}
	if o.Persist {
		fmt.Fprintf(&c, "persistence true\npersistence_location %s/\nautosave_interval 1\n", b.dir)
	} else {
		c.WriteString("persistence false\n")
	}
	// Offline persistent subscribers must not lose what queued up during an
	// outage test, and batches of a backlog are many.
	c.WriteString("max_queued_messages 1000000\nmax_queued_bytes 0\n")
	if o.TLS != nil {
		fmt.Fprintf(&c, "cafile %s\ncertfile %s\nkeyfile %s\n", o.TLS.CAFile, o.TLS.CertFile, o.TLS.KeyFile)
		fmt.Fprintf(&c, "require_certificate %t\n", o.TLS.RequireClientCert)
	}
	c.WriteString(o.Extra)
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, c.Bytes(), 0o644); err != nil {
		b.t.Fatalf("mosquitto config: %v", err)
	}
}

// start launches the process and waits until it accepts connections.
func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return fmt.Errorf("already running")
	}
	cmd := exec.Command(b.bin, "-c", b.conf)
	if b.o.NetNS != "" {
		// ip netns exec execs mosquitto in place: the pid stays the broker's.
		cmd = exec.Command("ip", "netns", "exec", b.o.NetNS, b.bin, "-c", b.conf)
	}
	log := &syncWriter{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", b.bin, err)
	}
	exited := make(chan struct{})
	var werr error
	go func() { werr = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// "running" is logged once the listeners are bound: a port taken
		// by someone else (other tests run in parallel) fails the bind and
		// mosquitto exits, whereas a successful dial alone could reach them.
		if strings.Contains(log.String(), " running") {
			c, err := b.o.Dial("tcp", b.Addr())
			if err == nil {
				c.Close()
				b.cmd, b.exited, b.log = cmd, exited, log
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("mosquitto exited (%v): %s", werr, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("mosquitto not listening on %s after 10s: %s", b.Addr(), log.String())
		}
	}
}

// syncWriter lets the process's two output pipes share one buffer.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Addr is host:port of the listener.
func (b *Broker) Addr() string { return net.JoinHostPort(b.o.Host, strconv.Itoa(b.port)) }

// URL is the broker URL for a client: tcp:// or ssl://.
func (b *Broker) URL() string {
	if b.tls {
		return "ssl://" + b.Addr()
	}
	return "tcp://" + b.Addr()
}

// Stop ends the broker gracefully (SIGTERM: it saves its persistence file)
// and waits for it to exit.
func (b *Broker) Stop() { b.signal(syscall.SIGTERM) }

// Kill ends the broker at once (SIGKILL), as a crash or power cut would.
func (b *Broker) Kill() { b.signal(syscall.SIGKILL) }

func (b *Broker) signal(sig syscall.Signal) {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Restart starts the broker again on the same port with the same config.
func (b *Broker) Restart() {
	b.t.Helper()
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment
		if err = b.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("mosquitto restart: %v", err)
}

// Log is what the running (or last) mosquitto printed, for failure messages.
func (b *Broker) Log() string {
	b.mu.Lock()
	l := b.log
	b.mu.Unlock()
	if l == nil {
		return ""
	}
	return l.String()
}
