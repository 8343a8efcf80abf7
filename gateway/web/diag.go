package web

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/branchgw/branchgw/gateway/config"
)

const (
	// maxCapture bounds the bundle's LAN capture, in time and in bytes, so
	// a busy LAN cannot fill the box's memory.
	maxCapture      = 60
	defaultCapture  = 30
	maxCaptureBytes = 16 << 20
)

// secretKey matches config keys whose values must never leave the box.
var secretKey = regexp.MustCompile(`(?i)(password|secret|token|private|passphrase)`)

// RedactConfig renders cfg as YAML with every secret replaced by
// "<redacted>"; paths to secret files (…_file) are kept, their contents are
// not in the config anyway.
func RedactConfig(cfg *config.Config) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(cfg); err != nil {
		return nil, fmt.Errorf("encoding the config: %w", err)
	}
	redact(&n)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("encoding the config: %w", err)
	}
	return b.Bytes(), nil
}

func redact(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if secretKey.MatchString(k.Value) && !strings.HasSuffix(k.Value, "_file") &&
				v.Kind == yaml.ScalarNode && v.Value != "" {
				v.Value, v.Tag, v.Style = "<redacted>", "!!str", 0
			}
		}
	}
	for _, c := range n.Content {
		redact(c)
	}
}

// capBuffer is a bytes.Buffer that refuses to grow past its cap.
type capBuffer struct {
	bytes.Buffer
	cap int
}

var errCaptureFull = errors.New("capture reached its size cap")

func (c *capBuffer) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.cap {
		return 0, errCaptureFull
	}
	return c.Buffer.Write(p)
}

// diagnostics builds the bundle a technician sends to support: the state,
// the redacted config, recent logs and events, and a short LAN capture.
func (s *Server) diagnostics(w http.ResponseWriter, r *http.Request) {
	req := struct {
		CaptureSeconds *int `json:"capture_seconds"`
	}{}
	if err := readJSON(r, &req); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	secs := defaultCapture
	if req.CaptureSeconds != nil {
		secs = *req.CaptureSeconds
	}
	if secs < 0 || secs > maxCapture {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("capture_seconds=%d: want 0 to %d", secs, maxCapture))
		return
	}
	select {
	case s.hub.diag <- struct{}{}:
		defer func() { <-s.hub.diag }()
	default:
		apiError(w, http.StatusTooManyRequests, "a diagnostics bundle is already being made; wait for it")
		return
	}
	s.audit(r, "action", "diagnostics bundle (capture %d s)", secs)
	name, b, err := s.bundle(r.Context(), secs)
	if err != nil {
		apiError(w, http.StatusInternalServerError, "making the bundle: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

type bundleFile struct {
	name string
	body []byte
}

func tarGzip(files []bundleFile, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	dir := "branchgw-diag/"
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: dir + f.name, Mode: 0o600, Size: int64(len(f.body)),
			ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// Bundle makes the diagnostics bundle (as the page's button does) for
// another channel, head office's diag command: redacted config, state,
// history, events, logs and, with captureSecs > 0, a LAN capture. Only one
// bundle is made at a time.
func (s *Server) Bundle(ctx context.Context, captureSecs int) (name string, data []byte, err error) {
	if captureSecs < 0 || captureSecs > maxCapture {
		return "", nil, fmt.Errorf("capture_seconds=%d: want 0 to %d", captureSecs, maxCapture)
	}
	select {
	case s.hub.diag <- struct{}{}:
		defer func() { <-s.hub.diag }()
	default:
		return "", nil, errors.New("a diagnostics bundle is already being made; wait for it")
	}
	return s.bundle(ctx, captureSecs)
}

func (s *Server) bundle(ctx context.Context, secs int) (string, []byte, error) {
	now := s.deps.Now()
	var files []bundleFile
	add := func(name string, b []byte) { files = append(files, bundleFile{name, b}) }
	addJSON := func(name string, v any) {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			b = []byte("error: " + err.Error())
		}
		add(name, append(b, '\n'))
	}
	f := s.hub.current(0)
	site := "gateway"
	if f.st != nil {
		addJSON("status.json", f.st)
		site = f.st.Site
	} else {
		add("status.txt", []byte(fmt.Sprintf("status unavailable: %v\n", f.err)))
	}
	addJSON("snapshot.json", s.deps.Snapshot())
	addJSON("history.json", s.hub.history())
	if s.deps.Config != nil {
		if b, err := RedactConfig(s.deps.Config()); err == nil {
			add("config.yaml", b)
		} else {
			add("config.txt", []byte(err.Error()+"\n"))
		}
	}
	if s.deps.Events != nil {
		addJSON("events.json", s.deps.Events(1000))
	}
	if s.deps.Logs != nil {
		var lb bytes.Buffer
		for _, l := range s.deps.Logs(1000) {
			lb.WriteString(l.Text)
			lb.WriteByte('\n')
		}
		add("logs.txt", lb.Bytes())
	}
	note := "no LAN capture was asked for"
	if secs > 0 {
		ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+5*time.Second)
		buf := &capBuffer{cap: maxCaptureBytes}
		err := s.deps.Actions.Capture(ctx, buf, time.Duration(secs)*time.Second)
		cancel()
		switch {
		case err == nil || errors.Is(err, errCaptureFull):
			add("lan.pcap", buf.Bytes())
			note = fmt.Sprintf("lan.pcap: %d s of LAN traffic, %d bytes", secs, buf.Len())
			if err != nil {
				note += " (stopped at the size cap)"
			}
		default:
			note = "no LAN capture: " + err.Error()
		}
	}
	readme := fmt.Sprintf("branchgw diagnostics bundle\nsite: %s\nmade: %s\n%s\n\n"+
		"status.json    the status page's state with alarms and verdict\n"+
		"snapshot.json  every component's raw state\nhistory.json   WAN RTT/loss, last hour\n"+
		"config.yaml    the config in force, secrets redacted\nevents.json    recent events (alarms, actions)\n"+
		"logs.txt       recent daemon log lines\n", site, now.UTC().Format(time.RFC3339), note)
	files = append([]bundleFile{{"README.txt", []byte(readme)}}, files...)
	b, err := tarGzip(files, now)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("branchgw-%s-%s.tar.gz", safeName(site), now.UTC().Format("20060102-150405")), b, nil
}
