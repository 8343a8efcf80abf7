//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Services are the cloud's test servers, running as goroutines of this
// process on sockets made inside the cloud namespace.
type Services struct {
	lab *Lab

	mu      sync.Mutex
	closers []io.Closer
	conns   map[net.Conn]bool // accepted, closed by Close too
	broker  *Broker
	wg      sync.WaitGroup
}

// ServiceOptions choose the servers to start.
type ServiceOptions struct {
	// Mosquitto starts a real broker on Server:1883 (needs mosquitto).
	Mosquitto bool
}

// StartServices starts TCP/UDP echo (port 7), a TCP echo on 443 for connect
// probes, HTTP (80) and DNS (53) on every cloud address, and optionally
// mosquitto. Close stops them.
func (l *Lab) StartServices(ctx context.Context, o ServiceOptions) (*Services, error) {
	s := &Services{lab: l, conns: map[net.Conn]bool{}}
	steps := []func() error{
		func() error { return s.tcpEcho(EchoPort) },
		func() error { return s.tcpEcho(TLSPort) },
		s.udpEcho,
		s.http,
		s.dns,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, errors.Join(err, s.Close())
		}
	}
	if o.Mosquitto {
		b, err := l.StartBroker(ctx)
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		s.broker = b
	}
	return s, nil
}

// Broker returns the mosquitto broker, or nil when none was asked for.
func (s *Services) Broker() *Broker { return s.broker }

// Close stops every server and waits for their goroutines.
func (s *Services) Close() error {
	s.mu.Lock()
	cl := s.closers
	s.closers = nil
	for c := range s.conns {
		cl = append(cl, c)
	}
	b := s.broker
	s.broker = nil
	s.mu.Unlock()
	var errs []error
	for _, c := range cl {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if b != nil {
		errs = append(errs, b.Close())
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

func (s *Services) add(c io.Closer) {
	s.mu.Lock()
	s.closers = append(s.closers, c)
	s.mu.Unlock()
}

func (s *Services) tcpEcho(port int) error {
	ln, err := s.lab.Listen(Cloud, "tcp4", ":"+strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("cloud: tcp echo %d: %w", port, err)
	}
	s.add(ln)
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			go func() {
				_, _ = io.Copy(c, c)
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
		}
	})
	return nil
}

// udpEcho binds one socket per cloud address: a wildcard socket would
// answer from the route's preferred source, which NAT on the way back
// would not recognise.
func (s *Services) udpEcho() error {
	return s.udpEach(EchoPort, func(b []byte) ([]byte, error) { return b, nil })
}

// udpEach serves port on every cloud address with answer.
func (s *Services) udpEach(port int, answer func([]byte) ([]byte, error)) error {
	for _, ip := range CloudAddrs {
		pc, err := s.lab.ListenPacket(Cloud, "udp4", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("cloud: udp %s:%d: %w", ip, port, err)
		}
		s.add(pc)
		s.wg.Go(func() {
			buf := make([]byte, 65536)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				if resp, err := answer(buf[:n]); err == nil {
					_, _ = pc.WriteTo(resp, from)
				}
			}
		})
	}
	return nil
}

// HTTPHandler serves /health (200 "ok"), /bytes/N (N bytes, for downloads)
// and /pos (a tiny payment answer).
func HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /pos", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"result":"approved"}`+"\n")
	})
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
		if err != nil || n < 0 || n > 1<<30 {
			http.Error(w, "n: want 0 to 1073741824", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		_, _ = io.CopyN(w, zeros{}, n)
	})
	return mux
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

func (s *Services) http() error {
	ln, err := s.lab.Listen(Cloud, "tcp4", ":"+strconv.Itoa(HTTPPort))
	if err != nil {
		return fmt.Errorf("cloud: http: %w", err)
	}
	srv := &http.Server{Handler: HTTPHandler(), ReadHeaderTimeout: 5 * time.Second}
	s.add(srv)
	s.wg.Go(func() { _ = srv.Serve(ln) })
	return nil
}

func (s *Services) dns() error { return s.udpEach(DNSPort, DNSAnswer) }

// DNSAnswer answers one DNS query from DNSNames: A records for known names,
// NXDOMAIN for the rest. A packet that is not a query gets an error and no
// answer.
func DNSAnswer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	if h.Response {
		return nil, errors.New("dns: not a query")
	}
	q, err := p.Question()
	if err != nil {
		return nil, fmt.Errorf("dns: question: %w", err)
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
	ip, known := DNSNames[name]
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if known && q.Type == dnsmessage.TypeA && q.Class == dnsmessage.ClassINET {
		rr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		if err := b.AResource(rr, dnsmessage.AResource{A: ip.As4()}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// WaitTCP waits until addr accepts a TCP connection from node n.
func (l *Lab) WaitTCP(ctx context.Context, n Node, addr string) error {
	for {
		dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		c, err := l.Dial(dctx, n, "tcp4", addr)
		cancel()
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("netlab: %s from %s: %w (last: %v)", addr, n, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
