package web

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// sseReader reads "status" events off a stream.
type sseReader struct {
	t    testing.TB
	body io.ReadCloser
	sc   *bufio.Scanner
}

func openStream(t testing.TB, c *client) *sseReader {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/api/v1/stream", nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &sseReader{t: t, body: resp.Body, sc: sc}
}

// next returns the next status event's status.
func (r *sseReader) next() *Status {
	r.t.Helper()
	event := ""
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "status":
			var st Status
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &st); err != nil {
				r.t.Fatalf("status event: %v", err)
			}
			return &st
		}
	}
	r.t.Fatalf("stream ended: %v", r.sc.Err())
	return nil
}

// TestSSE: a page gets the status at once and a change without asking.
func TestSSE(t *testing.T) {
	f, s, ts := newLAN(t)
	s.hub.tick = 20 * time.Millisecond
	s.hub.acquire() // the tick loop, as Run starts it
	defer s.hub.release()
	c := newClient(t, ts)
	c.login()
	r := openStream(t, c)
	if st := r.next(); st.Verdict != "All good — on WAN1" {
		t.Fatalf("first event: %q", st.Verdict)
	}
	f.setWAN("wan1", "down", "carrier lost", "wan2")
	// Events come every tick; the change must show within a few of them.
	for i := 0; ; i++ {
		st := r.next()
		if st.Verdict == "WAN1 down since 10:42 (carrier lost) — on WAN2 backup" && st.Level == "bad" {
			break
		}
		if i == 50 {
			t.Fatalf("50 events later the verdict is still %q", st.Verdict)
		}
	}
	// A second page gets the same current state.
	if st := openStream(t, c).next(); st.ActiveWAN != "wan2" {
		t.Errorf("second stream: active %q", st.ActiveWAN)
	}
}

// TestSSELogout: a stream ends when its session does.
func TestSSELogout(t *testing.T) {
	_, s, ts := newLAN(t)
	s.hub.tick = 20 * time.Millisecond
	s.hub.acquire()
	defer s.hub.release()
	c := newClient(t, ts)
	c.login()
	r := openStream(t, c)
	r.next()
	c.req("POST", "/api/v1/logout", "{}", csrfHeader, c.csrf)
	for r.sc.Scan() {
		if r.sc.Text() == "event: logout" {
			return
		}
	}
	t.Fatal("stream ended without a logout event")
}

func TestMetrics(t *testing.T) {
	_, s, ts := newLAN(t)
	c := newClient(t, ts)
	// A scraper uses basic auth with the technician password.
	code, _, _ := c.req("GET", "/metrics", "", "Authorization", "Basic "+b64("prometheus:wrong"))
	if code != 401 {
		t.Errorf("wrong basic auth: %d", code)
	}
	code, _, body := c.req("GET", "/metrics", "", "Authorization", "Basic "+b64("prometheus:"+testPassword))
	if code != 200 {
		t.Fatalf("metrics: %d %s", code, body)
	}
	for _, w := range []string{
		`branchgw_info{gateway_id="gw-0001",site="store-1",version="v0.9.0-test"} 1`,
		`branchgw_wan_up{wan="wan1"} 1`, `branchgw_wan_active{wan="wan2"} 0`,
		`branchgw_wan_state{state="up",wan="wan1"} 1`, `branchgw_wan_rtt_seconds{wan="wan1"} 0.0124`,
		`branchgw_wan_loss_ratio{wan="wan2"} 0.015`, `branchgw_qos_class_drops_total{class="bulk",direction="up"} 120`, `branchgw_qos_active 1`,
		`branchgw_flows_active 42`, `branchgw_devices 3`, `branchgw_devices_new 1`, `branchgw_capture_drops_total 0`,
		`branchgw_store_backlog_records 12`, `branchgw_store_evicted_records_total 0`, `branchgw_uplink_connected 1`,
		`branchgw_store_events_dropped_total 7`, `branchgw_store_events_queued 2`,
		`branchgw_pos_degraded{terminal="pos1"} 0`, `branchgw_component_restarts_total{component="uplink"} 1`,
		`branchgw_alarms{severity="info"} 1`, "go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(body, w+"\n") && !strings.Contains(body, w+" ") {
			t.Errorf("metrics lack %s", w)
		}
	}
	_ = s
}

func b64(s string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	u, p, _ := strings.Cut(s, ":")
	req.SetBasicAuth(u, p)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestDiagnostics(t *testing.T) {
	f, _, ts := newLAN(t)
	c := newClient(t, ts)
	c.login()
	code, hdr, body := c.req("POST", "/api/v1/diagnostics", `{"capture_seconds":2}`, csrfHeader, c.csrf)
	if code != 200 || hdr.Get("Content-Type") != "application/gzip" ||
		!strings.Contains(hdr.Get("Content-Disposition"), `filename="branchgw-store-1-`) {
		t.Fatalf("diagnostics: %d %v", code, hdr)
	}
	files := untar(t, []byte(body))
	for _, n := range []string{"README.txt", "status.json", "snapshot.json", "history.json", "config.yaml", "events.json", "logs.txt", "lan.pcap"} {
		if _, ok := files[n]; !ok {
			t.Errorf("bundle lacks %s (has %v)", n, keys(files))
		}
	}
	cfg := files["config.yaml"]
	if strings.Contains(cfg, "mqtt-secret-password") || strings.Contains(cfg, testHash) || !strings.Contains(cfg, "<redacted>") {
		t.Errorf("config not redacted:\n%s", cfg)
	}
	if !strings.Contains(cfg, "site: store-1") {
		t.Errorf("config lacks the site:\n%s", cfg)
	}
	if !strings.HasPrefix(files["lan.pcap"], "\xd4\xc3\xb2\xa1") || !strings.Contains(files["README.txt"], "lan.pcap: 2 s") {
		t.Errorf("capture: %q / %s", files["lan.pcap"], files["README.txt"])
	}
	if !strings.Contains(files["status.json"], `"verdict"`) || !strings.Contains(files["events.json"], "diagnostics bundle") {
		t.Errorf("status or audit missing")
	}
	if got := f.Calls(); len(got) != 1 || got[0] != "capture 2s" {
		t.Errorf("calls %v", got)
	}
	// Without capture support the bundle still comes, and says why.
	f2 := newFakeGW(t)
	d := f2.deps()
	d.Actions = ActionFuncs{}
	s2 := NewSocket(config.Web{}, d)
	c2 := newClient(t, httptestServer(t, s2))
	code, _, body = c2.req("POST", "/api/v1/diagnostics", `{"capture_seconds":30}`)
	if files := untar(t, []byte(body)); code != 200 || !strings.Contains(files["README.txt"], "no LAN capture: not supported") {
		t.Errorf("unsupported capture: %d %s", code, files["README.txt"])
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func untar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("bundle is not gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out[strings.TrimPrefix(h.Name, "branchgw-diag/")] = string(body)
	}
}

// TestHTTPS serves the LAN side with a certificate: HSTS, Secure cookie.
func TestHTTPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testCert(t, dir)
	addr := freeAddr(t)
	runLAN(t, config.Web{Listen: addr, TechnicianPasswordHash: testHash, TLSCertFile: certFile, TLSKeyFile: keyFile}, newFakeGW(t).deps())
	var err error
	pool := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pemBytes)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var resp *http.Response
	for range 100 { // the listener opens just after Ready
		if resp, err = hc.Get("https://" + addr + "/healthz"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("healthz over TLS: %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = hc.Post("https://"+addr+"/api/v1/login", "application/json", strings.NewReader(`{"password":"`+testPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ck := resp.Header.Get("Set-Cookie"); !strings.Contains(ck, "Secure") {
		t.Errorf("cookie over HTTPS lacks Secure: %q", ck)
	}
	// Plain HTTP to the HTTPS port gets nothing useful.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/api/v1/status"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP served the API")
		}
	}
}

// testCert makes a certificate for 127.0.0.1 in dir, the way the box makes
// its own, and returns its files.
func testCert(t *testing.T, dir string) (string, string) {
	if _, _, err := selfSigned(dir, netip.MustParseAddr("127.0.0.1"), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "web-tls.crt"), filepath.Join(dir, "web-tls.key")
}

// runLAN runs a LAN server with cfg until the test ends.
func runLAN(t *testing.T, cfg config.Web, d Deps) {
	s := NewLAN(cfg, d)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	<-s.Ready()
}

// servedCert connects to addr over TLS and returns the certificate served.
func servedCert(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	var err error
	for range 100 { // the listener opens just after Ready
		var c *tls.Conn
		if c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}); err == nil {
			defer c.Close()
			return c.ConnectionState().PeerCertificates[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no TLS on %s: %v", addr, err)
	return nil
}

// TestHTTPSByDefault (issue 18, 10): a config file's default serves the page
// over HTTPS with a certificate the box makes once and keeps, so the
// password never crosses the LAN in clear and a browser's exception holds
// across restarts; plain HTTP on redirect_listen points there.
func TestHTTPSByDefault(t *testing.T) {
	if d := config.Defaults(); d.Web.TLS != "self-signed" {
		t.Fatalf("default web.tls %q, want self-signed", d.Web.TLS)
	}
	f := newFakeGW(t)
	d := f.deps()
	d.StateDir = t.TempDir()
	addr, raddr := freeAddr(t), freeAddr(t)
	cfg := config.Web{Listen: addr, RedirectListen: raddr, TLS: "self-signed", TechnicianPasswordHash: testHash}
	runLAN(t, cfg, d)
	first := servedCert(t, addr)
	if len(first.IPAddresses) != 1 || !first.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("certificate names %v, want the page's address", first.IPAddresses)
	}
	onDisk, err := tls.LoadX509KeyPair(filepath.Join(d.StateDir, "web-tls.crt"), filepath.Join(d.StateDir, "web-tls.key"))
	if err != nil || !bytes.Equal(onDisk.Leaf.Raw, first.Raw) {
		t.Errorf("certificate on disk is not the one served: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(d.StateDir, "web-tls.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}

	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get("http://" + raddr + "/api/v1/status?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://" + addr + "/api/v1/status?x=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %d to %q, want 308 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	req, _ := http.NewRequest("GET", "http://"+raddr+"/", nil)
	req.Host = "evil.example"
	if resp, err := noFollow.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("redirect for a rebound name: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// A second start (another server, as after a reboot) serves the same
	// certificate; a new address gets a new one.
	addr2 := freeAddr(t)
	runLAN(t, config.Web{Listen: addr2, TLS: "self-signed", TechnicianPasswordHash: testHash}, d)
	if again := servedCert(t, addr2); !bytes.Equal(again.Raw, first.Raw) {
		t.Error("a restart made a new certificate: every browser exception breaks")
	}
	d.StateDir = filepath.Join(t.TempDir(), "not-a-dir")
	os.WriteFile(d.StateDir, []byte("a failed data partition"), 0o600)
	addr3 := freeAddr(t)
	runLAN(t, config.Web{Listen: addr3, TLS: "self-signed", TechnicianPasswordHash: testHash, Hostnames: []string{"gateway.store.lan"}}, d)
	if c := servedCert(t, addr3); bytes.Equal(c.Raw, first.Raw) || len(c.DNSNames) != 1 || c.DNSNames[0] != "gateway.store.lan" {
		t.Errorf("with no state dir: DNS names %v, same as before %v", c.DNSNames, bytes.Equal(c.Raw, first.Raw))
	}
}
