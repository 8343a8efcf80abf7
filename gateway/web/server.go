// Package web serves the local API (JSON under /api/v1) on a unix socket for
// gwctl and, when web.listen is set, on the LAN for the technician.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// Deps are what the server needs from the daemon.
type Deps struct {
	Logger *slog.Logger
	// Snapshot returns the daemon state to serve as JSON.
	Snapshot func() any
	// Restart restarts a component by name (technician action).
	Restart func(ctx context.Context, name string) error
}

// Server is one listener of the web component: the local socket (with
// actions, for gwctl) or the LAN address (the technician's page). They are
// separate components so a LAN address that is not up yet never takes the
// local socket down with it.
type Server struct {
	local  bool
	deps   Deps
	mu     sync.Mutex
	cfg    config.Web
	reload chan struct{}
	ready  chan struct{}
	once   sync.Once
}

// NewSocket serves the API on cfg.Socket.
func NewSocket(cfg config.Web, deps Deps) *Server {
	return &Server{local: true, cfg: cfg, deps: deps, reload: make(chan struct{}, 1), ready: make(chan struct{})}
}

// NewLAN serves the status page and API on cfg.Listen.
func NewLAN(cfg config.Web, deps Deps) *Server {
	return &Server{cfg: cfg, deps: deps, reload: make(chan struct{}, 1), ready: make(chan struct{})}
}

// Name implements gateway.Component.
func (s *Server) Name() string {
	if s.local {
		return "api"
	}
	return "web"
}

// Ready is closed once the listeners are open.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Reload takes a new web config; listeners are reopened if they changed.
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

// Run serves until ctx is done, reopening the listeners on a config change.
func (s *Server) Run(ctx context.Context) error {
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
		// Only the unix socket carries actions until the LAN side has
		// technician login.
		srv := &http.Server{Handler: s.handler(s.local), ReadHeaderTimeout: 5 * time.Second}
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
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
}

// listen opens the unix socket (replacing a stale one) or the LAN address.
func (s *Server) listen(cfg config.Web) (net.Listener, error) {
	if !s.local {
		if cfg.Listen == "" {
			return nil, nil
		}
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
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
