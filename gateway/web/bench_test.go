package web

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkPageWeight reports what a first visit downloads: the HTML,
// script, style and icon, raw and gzip-compressed (goal ≤ 150 KB).
func BenchmarkPageWeight(b *testing.B) {
	var raw, gz int
	for range b.N {
		raw, gz = 0, 0
		for _, a := range pageAssets {
			raw += len(a.body)
			var buf bytes.Buffer
			w := gzip.NewWriter(&buf)
			w.Write(a.body)
			w.Close()
			gz += buf.Len()
		}
	}
	b.ReportMetric(float64(raw), "page-bytes")
	b.ReportMetric(float64(gz), "page-gzip-bytes")
	b.ReportMetric(0, "ns/op")
}

// bigSnapshot is the fixture grown to a busy store: 250 devices, 100 top
// flows, 100 apps (the inspector's caps).
func bigSnapshot(tb testing.TB) *fakeGW {
	f := newFakeGW(tb)
	in := f.snap["parts"].(map[string]any)["inspect"].(map[string]any)
	var devs, flows, apps []any
	for i := range 250 {
		devs = append(devs, map[string]any{"mac": fmt.Sprintf("02:00:00:00:%02x:%02x", i/256, i%256),
			"ips": []string{fmt.Sprintf("198.18.10.%d", i%250+1)}, "vendor": "Vendor", "hostname": fmt.Sprintf("host-%d", i),
			"first_seen": "2026-11-01T08:00:00Z", "last_seen": "2026-11-23T10:42:00Z", "bytes": i * 1000})
	}
	for i := range 100 {
		flows = append(flows, map[string]any{"proto": "tcp", "client": "198.18.10.20", "client_port": 40000 + i,
			"server": "203.0.113.50", "server_port": 443, "bytes_up": 1000 * i, "bytes_down": 2000 * i, "name": fmt.Sprintf("app%d.example", i)})
		apps = append(apps, map[string]any{"name": fmt.Sprintf("app%d.example", i), "bytes": 1000 * i, "flows": i})
	}
	in["devices"], in["top_flows"], in["apps"] = devs, flows, apps
	return f
}

// BenchmarkStatusBuild is the hub's work per tick: read the daemon
// snapshot, judge it, encode the status once for every client.
func BenchmarkStatusBuild(b *testing.B) {
	for _, tc := range []struct {
		name string
		f    *fakeGW
	}{{"fixture", newFakeGW(b)}, {"busy-store", bigSnapshot(b)}} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHub(tc.f.deps())
			// The daemon hands a Go value; marshalling it is part of the cost.
			var v any
			json.Unmarshal(tc.f.Snapshot().(json.RawMessage), &v)
			h.deps.Snapshot = func() any { return v }
			b.ReportAllocs()
			var n int
			for b.Loop() {
				n = len(h.refresh().json)
			}
			b.ReportMetric(float64(n), "status-bytes")
		})
	}
}

// BenchmarkStatusAPI is one GET /api/v1/status on the LAN side with a
// session, in-process (no network): the handler's own cost.
func BenchmarkStatusAPI(b *testing.B) {
	f := bigSnapshot(b)
	s := NewLAN(configWeb(), f.deps())
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(b, ts)
	c.login()
	h := s.Handler()
	req := httptest.NewRequest("GET", "/api/v1/status", nil)
	for _, ck := range c.hc.Jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	u, _ := req.URL.Parse(ts.URL)
	for _, ck := range c.hc.Jar.Cookies(u) {
		req.AddCookie(ck)
	}
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkSSEFanout is one tick delivered to 20 open streams: the time
// from a new status to the 20th client holding it.
func BenchmarkSSEFanout(b *testing.B) {
	const clients = 20
	f := bigSnapshot(b)
	s := NewLAN(configWeb(), f.deps())
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	c := newClient(b, ts)
	c.login()
	got := make(chan struct{}, clients*4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range clients {
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/v1/stream", nil)
		resp, err := c.hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "data: ") {
					got <- struct{}{}
				}
			}
		}()
	}
	for range clients { // each stream's first event
		<-got
	}
	var size int
	for b.Loop() {
		size = len(s.hub.refresh().json)
		for range clients {
			<-got
		}
	}
	b.ReportMetric(float64(size), "event-bytes")
	b.ReportMetric(float64(clients), "clients")
}
