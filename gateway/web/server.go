// Package web is the technician's face of the daemon: the status page, the
// JSON API under /api/v1 (which the page and gwctl share), live updates by
// Server-Sent Events and /metrics. It serves on a unix socket for gwctl
// (trusted by file permissions) and, when web.listen is set, on the LAN
// address for the technician's phone, behind a login.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// Server is one listener of the web component: the local socket (for
// gwctl) or the LAN address (the technician's page). They are separate
// components so a LAN address that is not up yet never takes the local
// socket down with it; they share one hub (status, history, metrics).
type Server struct {
	local  bool
	deps   Deps
	hub    *hub
	auth   *auth
	mu     sync.Mutex
	cfg    config.Web
	reload chan struct{}
	ready  chan struct{}
	once   sync.Once
	// streams counts open SSE connections, to bound them.
	streams chan struct{}
}

// maxStreams bounds SSE connections per listener.
const maxStreams = 64

// New builds the socket and LAN servers over one shared hub.
func New(cfg config.Web, deps Deps) (socket, lan *Server) {
	deps.fill()
	h := newHub(deps)
	return newServer(true, cfg, deps, h), newServer(false, cfg, deps, h)
}

// NewSocket serves the API on cfg.Socket.
func NewSocket(cfg config.Web, deps Deps) *Server {
	deps.fill()
	return newServer(true, cfg, deps, newHub(deps))
}

// NewLAN serves the status page and API on cfg.Listen.
func NewLAN(cfg config.Web, deps Deps) *Server {
	deps.fill()
	return newServer(false, cfg, deps, newHub(deps))
}

func newServer(local bool, cfg config.Web, deps Deps, h *hub) *Server {
	s := &Server{local: local, cfg: cfg, deps: deps, hub: h, reload: make(chan struct{}, 1),
		ready: make(chan struct{}), streams: make(chan struct{}, maxStreams)}
	s.auth = newAuth(deps.Now, s.passwordHash)
	return s
}

// passwordHash is the technician password hash in force: the daemon's
// config if it gave one, else the server's own.
func (s *Server) passwordHash() string {
	if s.deps.Config != nil {
		if c := s.deps.Config(); c != nil {
			return c.Web.TechnicianPasswordHash
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.TechnicianPasswordHash
}

// Name implements gateway.Component.
func (s *Server) Name() string {
	if s.local {
		return "api"
	}
	return "web"
}

// Ready is closed once the listener is open (or there is none to open).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Reload takes a new web config; the listener is reopened if it changed.
func (s *Server) Reload(cfg *config.Config) error {
	s.mu.Lock()
	changed := !reflect.DeepEqual(s.cfg, cfg.Web)
	s.cfg = cfg.Web
	s.mu.Unlock()
	if changed {
		select {
		case s.reload <- struct{}{}:
		default:
		}
	}
	return nil
}

// Handler is the server's HTTP handler, for tests and benchmarks that
// serve it on their own listener.
func (s *Server) Handler() http.Handler { return s.handler() }

// Run serves until ctx is done, reopening the listener on a config change.
func (s *Server) Run(ctx context.Context) error {
	s.hub.acquire()
	defer s.hub.release()
	for {
		s.mu.Lock()
		cfg := s.cfg
		s.mu.Unlock()
		ln, err := s.listen(cfg)
		if err != nil {
			return err
		}
		if ln == nil { // no LAN address configured: nothing to serve
			s.once.Do(func() { close(s.ready) })
			select {
			case <-ctx.Done():
				return nil
			case <-s.reload:
				continue
			}
		}
		var redirect net.Listener
		if !s.local && cfg.RedirectListen != "" && tlsOn(cfg) {
			if redirect, err = net.Listen("tcp", cfg.RedirectListen); err != nil {
				ln.Close()
				return fmt.Errorf("web: redirect_listen: %w", err)
			}
		}
		s.once.Do(func() { close(s.ready) })
		// No WriteTimeout: SSE streams live long; each stream write sets
		// its own deadline instead.
		srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
			BaseContext: func(net.Listener) context.Context { return ctx }}
		servers := []*http.Server{srv}
		s.deps.Logger.Info("serving", "component", s.Name(), "addr", ln.Addr().String(), "tls", !s.local && tlsOn(cfg))
		errc := make(chan error, 2)
		go func() { errc <- srv.Serve(ln) }()
		if redirect != nil {
			port := ln.Addr().(*net.TCPAddr).Port
			rsrv := &http.Server{Handler: s.redirect(port), ReadHeaderTimeout: 5 * time.Second,
				ReadTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
			servers = append(servers, rsrv)
			s.deps.Logger.Info("redirecting to HTTPS", "component", s.Name(), "addr", redirect.Addr().String())
			go func() { errc <- rsrv.Serve(redirect) }()
		}
		select {
		case <-ctx.Done():
		case <-s.reload:
		case err = <-errc:
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		for _, srv := range servers {
			_ = srv.Shutdown(sctx)
			_ = srv.Close() // SSE streams do not end by themselves
		}
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
}

// listen opens the unix socket (replacing a stale one) or the LAN address,
// with TLS unless web.tls is off.
func (s *Server) listen(cfg config.Web) (net.Listener, error) {
	if !s.local {
		if cfg.Listen == "" {
			return nil, nil
		}
		tcfg, err := s.tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		if tcfg != nil {
			ln = tls.NewListener(ln, tcfg)
		}
		return ln, nil
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Socket), 0o750); err != nil {
		return nil, fmt.Errorf("web: socket dir: %w", err)
	}
	_ = os.Remove(cfg.Socket) // a socket left by a crash would block the bind
	unix, err := net.Listen("unix", cfg.Socket)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if err := os.Chmod(cfg.Socket, 0o660); err != nil {
		unix.Close()
		return nil, fmt.Errorf("web: %w", err)
	}
	return unix, nil
}

// tlsConfig is the LAN page's TLS: the configured certificate, else the
// box's self-signed one; nil when web.tls is off (or unset, as in a config
// built by hand; a config file defaults to self-signed).
func (s *Server) tlsConfig(cfg config.Web) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	switch {
	case !tlsOn(cfg):
		return nil, nil
	case cfg.TLSCertFile != "":
		if cert, err = tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return nil, fmt.Errorf("web: tls: %w", err)
		}
	default:
		ap, _ := netip.ParseAddrPort(cfg.Listen) // validated
		var made bool
		cert, made, err = selfSigned(s.deps.StateDir, ap.Addr(), cfg.Hostnames, s.deps.Now())
		switch {
		case len(cert.Certificate) == 0:
			return nil, fmt.Errorf("web: self-signed certificate: %w", err)
		case err != nil:
			s.deps.Logger.Error("web: self-signed certificate not saved; a new one comes with the next start", "err", err)
		}
		s.deps.Logger.Info("web: self-signed certificate", "new", made, "sha256", fingerprint(cert))
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// tls reports whether the LAN listener serves HTTPS (for Secure cookies).
func (s *Server) tls() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.local && tlsOn(s.cfg)
}

// tlsOn reports whether a LAN page with cfg is served over HTTPS: with the
// configured certificate, or the box's own.
func tlsOn(cfg config.Web) bool { return cfg.TLSCertFile != "" || cfg.TLS == "self-signed" }

// redirect answers plain HTTP with a redirect to the same path on the
// HTTPS page (httpsPort), for a technician who types the address.
func (s *Server) redirect(httpsPort int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.misdirected(w, r) {
			return
		}
		host := hostName(r.Host)
		switch {
		case httpsPort != 443:
			host = net.JoinHostPort(host, strconv.Itoa(httpsPort))
		case strings.Contains(host, ":"):
			host = "[" + host + "]"
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}
