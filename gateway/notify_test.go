package gateway

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// notifySocket is a real unixgram socket standing in for systemd's.
type notifySocket struct {
	t       *testing.T
	conn    *net.UnixConn
	pending []string // read but not yet consumed by waitFor
}

func newNotifySocket(t *testing.T, watchdog time.Duration) *notifySocket {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", strconv.FormatInt(watchdog.Microseconds(), 10))
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	return &notifySocket{t: t, conn: conn}
}

// read returns the datagrams that arrive within d.
func (n *notifySocket) read(d time.Duration) []string {
	var out []string
	buf := make([]byte, 4096)
	deadline := time.Now().Add(d)
	for {
		n.conn.SetReadDeadline(deadline)
		k, err := n.conn.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, string(buf[:k]))
	}
}

// waitFor reads until a datagram starting with prefix arrives.
func (n *notifySocket) waitFor(prefix string) string {
	n.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		n.pending = append(n.pending, n.read(20*time.Millisecond)...)
		for i, m := range n.pending {
			if strings.HasPrefix(m, prefix) {
				n.pending = n.pending[i+1:]
				return m
			}
		}
		n.pending = nil
	}
	n.t.Fatalf("no %q datagram", prefix)
	return ""
}

func count(msgs []string, want string) int {
	c := 0
	for _, m := range msgs {
		if m == want {
			c++
		}
	}
	return c
}

func testConfig(t *testing.T) *config.Config {
	c, err := config.Parse(config.Example, ".")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSdNotifyReadyStatusWatchdog(t *testing.T) {
	sock := newNotifySocket(t, 100*time.Millisecond)
	g, err := New(testConfig(t), Options{Logger: quietLog(), Parts: []Part{{Component: &fakeComp{name: "c"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.notify.WatchdogInterval(); got != 50*time.Millisecond {
		t.Fatalf("watchdog interval = %v, want half of WATCHDOG_USEC", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- g.Run(ctx) }()

	sock.waitFor("READY=1")
	if st := sock.waitFor("STATUS="); st != "STATUS=store-0042: 1/1 components running" {
		t.Errorf("status = %q", st)
	}
	sock.waitFor("WATCHDOG=1")

	// Wedge the supervisor loop: the pings must stop.
	release := make(chan struct{})
	wedged := make(chan struct{})
	go g.Supervisor().Do(context.Background(), func() { close(wedged); <-release })
	<-wedged
	sock.read(60 * time.Millisecond) // drain a ping already in flight
	sock.pending = nil
	if msgs := sock.read(400 * time.Millisecond); count(msgs, "WATCHDOG=1") != 0 {
		t.Errorf("WATCHDOG=1 sent while the loop was wedged: %q", msgs)
	}
	close(release)
	sock.waitFor("WATCHDOG=1")

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sock.waitFor("STOPPING=1")
}

func TestNoWatchdogWithoutWatchdogUSec(t *testing.T) {
	sock := newNotifySocket(t, 0)
	os.Unsetenv("WATCHDOG_USEC")
	g, err := New(testConfig(t), Options{Logger: quietLog(), Tick: 10 * time.Millisecond, Parts: []Part{{Component: &fakeComp{name: "c"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	sock.waitFor("READY=1")
	if msgs := sock.read(200 * time.Millisecond); count(msgs, "WATCHDOG=1") != 0 {
		t.Errorf("watchdog pings without WATCHDOG_USEC: %q", msgs)
	}
}

func TestStatusLineNamesFailingComponent(t *testing.T) {
	sock := newNotifySocket(t, 0)
	bad := &fakeComp{name: "wan", behave: func(context.Context, int) error { return context.DeadlineExceeded }}
	cfg := testConfig(t)
	g, err := New(cfg, Options{Logger: quietLog(), Tick: 10 * time.Millisecond,
		Parts: []Part{{Component: bad}, {Component: &fakeComp{name: "web"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	want := "STATUS=store-0042: 1/2 components running; wan failing (context deadline exceeded)"
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if st := sock.waitFor("STATUS="); st == want {
			return
		}
	}
	t.Errorf("no status %q", want)
}
