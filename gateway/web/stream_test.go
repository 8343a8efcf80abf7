package web

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
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
	certFile, keyFile := selfSigned(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := newFakeGW(t)
	s := NewLAN(config.Web{Listen: addr, TechnicianPasswordHash: testHash, TLSCertFile: certFile, TLSKeyFile: keyFile}, f.deps())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	<-s.Ready()
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

func selfSigned(t *testing.T, dir string) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "branchgw test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	cf, kf := filepath.Join(dir, "web.pem"), filepath.Join(dir, "web.key")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cf, kf
}
