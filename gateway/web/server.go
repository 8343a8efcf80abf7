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
	"os"
	"path/filepath"
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
	changed := s.cfg != cfg.Web
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
		s.once.Do(func() { close(s.ready) })
		// No WriteTimeout: SSE streams live long; each stream write sets
		// its own deadline instead.
		srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
			BaseContext: func(net.Listener) context.Context { return ctx }}
		s.deps.Logger.Info("serving", "component", s.Name(), "addr", ln.Addr().String())
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case <-ctx.Done():
		case <-s.reload:
		case err = <-errc:
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
		_ = srv.Close() // SSE streams do not end by themselves
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
}

// listen opens the unix socket (replacing a stale one) or the LAN address,
// with TLS when a certificate is configured.
func (s *Server) listen(cfg config.Web) (net.Listener, error) {
	if !s.local {
		if cfg.Listen == "" {
			return nil, nil
		}
		var tcfg *tls.Config
		if cfg.TLSCertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
			if err != nil {
				return nil, fmt.Errorf("web: tls: %w", err)
			}
			tcfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
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

// tls reports whether the LAN listener serves HTTPS (for Secure cookies).
func (s *Server) tls() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.local && s.cfg.TLSCertFile != ""
}
