//go:build linux

package wan

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// prober sends one probe and reports the round trip, or why it failed.
type prober interface {
	probe(ctx context.Context) (time.Duration, error)
}

// binder makes sockets that leave through one WAN only: SO_BINDTODEVICE
// pins the interface and SO_MARK selects the WAN's route table, so a
// probe never tests the other WAN by accident. enter runs socket creation
// inside the WAN's network namespace (nil: the current one).
type binder struct {
	dev   string
	mark  uint32
	enter func(func() error) error
}

func (b binder) control(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, b.dev); serr != nil {
			serr = fmt.Errorf("SO_BINDTODEVICE %s: %w", b.dev, serr)
			return
		}
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(b.mark)); serr != nil {
			serr = fmt.Errorf("SO_MARK: %w", serr)
		}
	})
	return errors.Join(err, serr)
}

func (b binder) run(fn func() error) error {
	if b.enter == nil {
		return fn()
	}
	return b.enter(fn)
}

func (b binder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := b.run(func() error {
		d := net.Dialer{Control: b.control}
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// tcpProber connects and closes; a refused connection also proves the
// path works (the target answered).
type tcpProber struct {
	b    binder
	addr string
}

func (p tcpProber) probe(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	c, err := p.b.dial(ctx, "tcp4", p.addr)
	rtt := time.Since(start)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return rtt, nil
	}
	if err != nil {
		return 0, err
	}
	c.Close()
	return rtt, nil
}

// httpProber fetches a URL without keep-alive; 2xx and 3xx are up.
type httpProber struct {
	url    string
	client *http.Client
}

func newHTTPProber(b binder, url string) httpProber {
	tr := &http.Transport{DialContext: b.dial, DisableKeepAlives: true, Proxy: nil}
	return httpProber{url: url, client: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (p httpProber) probe(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "branchgw-probe")
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 4096)
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return 0, fmt.Errorf("http status %d", resp.StatusCode)
	}
	return time.Since(start), nil
}

// dnsProber asks a resolver for a name; any answer (even NXDOMAIN) from
// the resolver proves the path.
type dnsProber struct {
	b      binder
	server string
	query  dnsmessage.Name
}

func newDNSProber(b binder, server, query string) (dnsProber, error) {
	if !strings.HasSuffix(query, ".") {
		query += "."
	}
	n, err := dnsmessage.NewName(query)
	if err != nil {
		return dnsProber{}, fmt.Errorf("dns query %q: %w", query, err)
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	return dnsProber{b: b, server: server, query: n}, nil
}

func (p dnsProber) probe(ctx context.Context) (time.Duration, error) {
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q := dnsmessage.Message{Header: dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: p.query, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}}}
	msg, err := q.Pack()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	c, err := p.b.dial(ctx, "udp4", p.server)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	buf := make([]byte, 1500)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return 0, err
		}
		var parser dnsmessage.Parser
		h, err := parser.Start(buf[:n])
		if err != nil || h.ID != id || !h.Response {
			continue // not our answer: keep waiting until the deadline
		}
		if h.RCode != dnsmessage.RCodeSuccess && h.RCode != dnsmessage.RCodeNameError {
			return 0, fmt.Errorf("dns rcode %s", h.RCode)
		}
		return time.Since(start), nil
	}
}

// pinger is one raw ICMP socket per WAN, bound to it, shared by that WAN's
// ICMP targets; a reader matches echo replies to waiters by sequence.
type pinger struct {
	conn net.PacketConn
	id   uint16

	mu      sync.Mutex
	seq     uint16
	waiters map[uint16]chan struct{}
}

func newPinger(b binder) (*pinger, error) {
	var conn net.PacketConn
	err := b.run(func() error {
		lc := net.ListenConfig{Control: b.control}
		var err error
		conn, err = lc.ListenPacket(context.Background(), "ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("icmp socket on %s: %w", b.dev, err)
	}
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	p := &pinger{conn: conn, id: binary.BigEndian.Uint16(idb[:]), waiters: map[uint16]chan struct{}{}}
	go p.read()
	return p, nil
}

func (p *pinger) read() {
	buf := make([]byte, 1500)
	for {
		n, _, err := p.conn.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok || uint16(echo.ID) != p.id {
			continue
		}
		p.mu.Lock()
		if ch, ok := p.waiters[uint16(echo.Seq)]; ok {
			delete(p.waiters, uint16(echo.Seq))
			close(ch)
		}
		p.mu.Unlock()
	}
}

func (p *pinger) close() { p.conn.Close() }

// ping sends one echo request with an 8-byte payload (the smallest that
// every middlebox passes, and cheap on a metered line).
func (p *pinger) ping(ctx context.Context, dst net.IP) (time.Duration, error) {
	p.mu.Lock()
	p.seq++
	seq := p.seq
	ch := make(chan struct{})
	p.waiters[seq] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiters, seq)
		p.mu.Unlock()
	}()
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: int(p.id), Seq: int(seq), Data: []byte("branchgw")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := p.conn.WriteTo(b, &net.IPAddr{IP: dst}); err != nil {
		return 0, err
	}
	select {
	case <-ch:
		return time.Since(start), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("no echo reply: %w", ctx.Err())
	}
}

// lazyPinger opens the WAN's ICMP socket on first use and again after
// reset: an LTE modem may appear after gatewayd starts, and a socket bound
// to an interface that was re-created is bound to the old one.
type lazyPinger struct {
	b  binder
	mu sync.Mutex
	p  *pinger
}

func (l *lazyPinger) get() (*pinger, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p == nil {
		p, err := newPinger(l.b)
		if err != nil {
			return nil, err
		}
		l.p = p
	}
	return l.p, nil
}

// reset closes the socket; the next probe opens a new one.
func (l *lazyPinger) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p != nil {
		l.p.close()
		l.p = nil
	}
}

type icmpProber struct {
	p   *lazyPinger
	dst net.IP
}

func (p icmpProber) probe(ctx context.Context) (time.Duration, error) {
	pg, err := p.p.get()
	if err != nil {
		return 0, err
	}
	return pg.ping(ctx, p.dst)
}
