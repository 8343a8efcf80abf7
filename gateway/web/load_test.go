//go:build linux

package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// loadAddrEnv makes the test binary the load server of BenchmarkLoad.
const loadAddrEnv = "BRANCHGW_WEB_LOAD_ADDR"

// TestMain runs the tests, or, when BenchmarkLoad starts the binary again
// with loadAddrEnv set, serves the busy-store fixture there in its own
// process (so the benchmark can measure the server's CPU apart from its
// clients') until stdin closes. The server is no test: it was one that
// passed whenever the variable was unset.
func TestMain(m *testing.M) {
	if addr := os.Getenv(loadAddrEnv); addr != "" {
		serveLoad(addr)
		return
	}
	os.Exit(m.Run())
}

// exitTB is the testing.TB of the load server process, which runs outside
// any test: the fixture only ever fails with it.
type exitTB struct{ testing.TB }

func (exitTB) Helper()           {}
func (exitTB) Fatal(args ...any) { fmt.Fprintln(os.Stderr, args...); os.Exit(1) }
func (exitTB) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func serveLoad(addr string) {
	f := bigSnapshot(exitTB{})
	s := NewLAN(config.Web{Listen: addr, TechnicianPasswordHash: testHash}, f.deps())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// A WAN's RTT changes every second, so every tick is news.
		for i := 0; ctx.Err() == nil; i++ {
			f.mu.Lock()
			f.wans()[0].(map[string]any)["rtt"] = 12e6 + float64(i%10)*1e6
			f.mu.Unlock()
			time.Sleep(time.Second)
		}
	}()
	go func() { io.Copy(io.Discard, os.Stdin); cancel() }()
	go func() { <-s.Ready(); fmt.Println("ready") }()
	s.Run(ctx)
}

// procCPU returns a process's user+system CPU time and its RSS.
func procCPU(pid int) (time.Duration, int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, rss * int64(os.Getpagesize())
}

// BenchmarkLoad: 50 API clients polling /api/v1/status and 20 SSE pages
// against the LAN server in its own process for BRANCHGW_LOAD_SECONDS
// (default 10; make bench uses 60). Reports API latency percentiles and
// the server's CPU (share of one core) and RSS. Run with -benchtime 1x.
func BenchmarkLoad(b *testing.B) {
	secs := 10
	if v, err := strconv.Atoi(os.Getenv("BRANCHGW_LOAD_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	addr := freeAddr(b)
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), loadAddrEnv+"="+addr)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	if l, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || l != "ready\n" {
		b.Fatalf("helper: %q %v", l, err)
	}
	base := "http://" + addr
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{MaxIdleConnsPerHost: 100}
	hc := &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second}
	var resp *http.Response
	var err error
	for range 200 {
		if resp, err = hc.Post(base+"/api/v1/login", "application/json", strings.NewReader(`{"password":"`+testPassword+`"}`)); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("login: %v", err)
	}
	resp.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs)*time.Second)
	defer cancel()
	var events atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/stream", nil)
			resp, err := (&http.Client{Jar: jar, Transport: tr}).Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "data: ") {
					events.Add(1)
				}
			}
		}()
	}
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Int64
	cpu0, _ := procCPU(cmd.Process.Pid)
	start := time.Now()
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/status", nil)
				resp, err := hc.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, rss := procCPU(cmd.Process.Pid)
	if len(lat) == 0 {
		b.Fatal("no API answers")
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(pct(0.50), "api-p50-ms")
	b.ReportMetric(pct(0.99), "api-p99-ms")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "api-req/s")
	b.ReportMetric(float64(failed.Load()), "api-errors")
	b.ReportMetric(float64(events.Load())/elapsed.Seconds(), "sse-events/s")
	b.ReportMetric(100*float64(cpu1-cpu0)/float64(elapsed), "server-cpu-%")
	b.ReportMetric(float64(rss)/(1<<20), "server-rss-MiB")
	b.ReportMetric(float64(secs), "seconds")
	b.ReportMetric(0, "ns/op")
}
