//go:build linux

package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab"
)

// daemon runs gatewayd in the gw namespace the way systemd does
// (systemd/gatewayd.service: Restart=on-failure, RestartSec): a process
// that dies is started again after restartDelay, until stop.
type daemon struct {
	lab          *netlab.Lab
	bin, cfg     string
	logPath      string
	sock         string
	store        string
	restartDelay time.Duration
	log          *slog.Logger
	api          *http.Client

	mu       sync.Mutex
	cmd      *exec.Cmd
	starts   int
	kills    int
	crashes  int // exits nobody asked for
	stopping bool
	exited   chan struct{} // closed when the supervising loop ends
	downAt   []window      // from an exit to the next start

	// Resource samples.
	cpuDone  time.Duration // CPU of processes that have exited
	cpuLast  time.Duration // CPU of the current process at the last sample
	rssPeak  int64
	diskPeak int64
}

func newDaemon(l *netlab.Lab, bin, cfg, dir, sock, store string, restartDelay time.Duration, log *slog.Logger) *daemon {
	d := &daemon{lab: l, bin: bin, cfg: cfg, logPath: dir + "/gatewayd.log", sock: sock, store: store,
		restartDelay: restartDelay, log: log, exited: make(chan struct{})}
	d.api = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dd net.Dialer
			return dd.DialContext(ctx, "unix", sock)
		},
		DisableKeepAlives: true,
	}}
	return d
}

// run starts gatewayd and keeps it running until stop.
func (d *daemon) run() error {
	exit, err := d.startOnce()
	if err != nil {
		close(d.exited)
		return err
	}
	go func() {
		defer close(d.exited)
		for {
			werr := <-exit
			d.mu.Lock()
			stopping := d.stopping
			d.cpuDone += d.cpuLast
			d.cpuLast = 0
			d.downAt = append(d.downAt, window{Start: time.Now()})
			d.mu.Unlock()
			if stopping {
				return
			}
			d.log.Warn("gatewayd exited; restarting as systemd would", "exit", werr, "after", d.restartDelay)
			time.Sleep(d.restartDelay)
			d.mu.Lock()
			stopping = d.stopping
			d.mu.Unlock()
			if stopping {
				return
			}
			if exit, err = d.startOnce(); err != nil {
				d.log.Error("gatewayd restart failed", "err", err)
				return
			}
		}
	}()
	return nil
}

func (d *daemon) startOnce() (chan error, error) {
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := d.lab.Exec(netlab.GW, d.bin, "-config", d.cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start gatewayd: %w", err)
	}
	exit := make(chan error, 1)
	d.mu.Lock()
	d.cmd = cmd
	d.starts++
	if n := len(d.downAt); n > 0 && d.downAt[n-1].End.IsZero() {
		d.downAt[n-1].End = time.Now()
	}
	d.mu.Unlock()
	go func() {
		err := cmd.Wait()
		d.mu.Lock()
		if !d.stopping && d.cmd == cmd && !killedByUs(err, d.kills) {
			d.crashes++
		}
		d.mu.Unlock()
		exit <- err
	}()
	return exit, nil
}

// killedByUs tells a SIGKILL we sent from a crash.
func killedByUs(err error, kills int) bool {
	ee, ok := err.(*exec.ExitError)
	if !ok || kills == 0 {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// kill9 kills the running gatewayd with SIGKILL (it gets no chance to
// clean up), as a power cut or an OOM kill would.
func (d *daemon) kill9() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return fmt.Errorf("gatewayd is not running")
	}
	d.kills++
	return d.cmd.Process.Kill()
}

// stop ends gatewayd with SIGTERM and waits for it.
func (d *daemon) stop() {
	d.mu.Lock()
	d.stopping = true
	cmd := d.cmd
	d.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		d.log.Warn("gatewayd ignored SIGTERM for 20s, killing it")
		if cmd != nil && cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
		<-d.exited
	}
}

func (d *daemon) pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// sample reads gatewayd's RSS and CPU from /proc and the store's size on
// disk (database, WAL and shared-memory files).
func (d *daemon) sample() {
	var disk int64
	for _, suf := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(d.store + suf); err == nil {
			disk += fi.Size()
		}
	}
	pid := d.pid()
	rss, cpu, ok := procStats(pid)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.diskPeak = max(d.diskPeak, disk)
	if ok && d.cmd != nil && d.cmd.Process != nil && d.cmd.Process.Pid == pid {
		d.rssPeak = max(d.rssPeak, rss)
		d.cpuLast = cpu
	}
}

// procStats reads a process's resident set (bytes) and CPU time.
func procStats(pid int) (rss int64, cpu time.Duration, ok bool) {
	if pid <= 0 {
		return 0, 0, false
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				rss = kb << 10
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The command name may hold spaces: fields count from the last ')'.
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, 0, false
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return rss, time.Duration(ut+st) * time.Second / ticks, true
}

func (d *daemon) resources() Resources {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Resources{Starts: d.starts, Kills: d.kills, Crashes: d.crashes, RSSPeak: d.rssPeak,
		CPU: d.cpuDone + d.cpuLast, DiskPeak: d.diskPeak, Down: append([]window(nil), d.downAt...)}
}

// apiSnapshot is the part of gatewayd's /api/v1/snapshot the scenario reads.
type apiSnapshot struct {
	BootID string `json:"boot_id"`
	Ready  bool   `json:"ready"`
	Parts  struct {
		WAN *struct {
			Active      string    `json:"active"`
			ActiveSince time.Time `json:"active_since"`
			Failovers   int       `json:"failovers"`
			HoldDown    int64     `json:"hold_down"`
			WANs        []struct {
				Name  string    `json:"name"`
				State string    `json:"state"`
				Since time.Time `json:"since"`
			} `json:"wans"`
		} `json:"wan"`
		Store *struct {
			Streams []struct {
				Name    string `json:"name"`
				LastSeq uint64 `json:"last_seq"`
			} `json:"streams"`
			Bytes          int64 `json:"bytes"`
			EvictedRecords int64 `json:"evicted_records"`
		} `json:"store"`
	} `json:"parts"`
}

func (d *daemon) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://gatewayd"+path, nil)
	if err != nil {
		return nil, err
	}
	return d.api.Do(req)
}

// snapshot reads the daemon's state over its socket.
func (d *daemon) snapshot(ctx context.Context) (*apiSnapshot, error) {
	resp, err := d.get(ctx, "/api/v1/snapshot")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("snapshot: %s", resp.Status)
	}
	var s apiSnapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &s, nil
}

// healthz checks the status page's health endpoint over the socket.
func (d *daemon) healthz(ctx context.Context) error {
	resp, err := d.get(ctx, "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %s", resp.Status)
	}
	return nil
}
