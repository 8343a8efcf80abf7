//go:build linux

package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// PrefixBase starts every lab prefix; Clean refuses anything else.
const PrefixBase = "bgl"

var prefixRE = regexp.MustCompile(`^` + PrefixBase + `[0-9a-f]{4}$`)

// NewPrefix returns a fresh per-run prefix like "bgl3f9a".
func NewPrefix() string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return PrefixBase + hex.EncodeToString(b[:])
}

// ValidPrefix reports whether s is a lab prefix ("bgl" + 4 hex digits).
func ValidPrefix(s string) bool { return prefixRE.MatchString(s) }

// Shape is one direction's bottleneck of an ISP link.
type Shape struct {
	// RateBits is the rate in bit/s; 0 leaves the direction unshaped.
	RateBits uint64
	// QueueBytes is the queue depth; 0 means 200 ms worth of RateBits, so
	// bufferbloat is as real as on a cheap modem.
	QueueBytes uint32
	// Delay is added one way ahead of the queue (netem under the token
	// bucket), for a realistic round trip; needs sch_netem, which the
	// lab's own kernel lacks and `gwlab vm`'s has.
	Delay time.Duration
}

// ISPShape is the download and upload shaping of one ISP link.
type ISPShape struct{ Down, Up Shape }

// Options configure New.
type Options struct {
	// Prefix names every namespace; empty picks NewPrefix().
	Prefix string
	// ISP[i] shapes wan i+1; the zero value uses DefaultShapes.
	ISP [2]ISPShape
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// DefaultShapes are a fibre line (100/20 Mbit/s) and an LTE line (20/5).
var DefaultShapes = [2]ISPShape{
	{Down: Shape{RateBits: 100e6}, Up: Shape{RateBits: 20e6}},
	{Down: Shape{RateBits: 20e6}, Up: Shape{RateBits: 5e6}},
}

// Lab is one built store. Its methods are safe for concurrent use.
type Lab struct {
	// Prefix is this run's name prefix.
	Prefix string
	log    *slog.Logger

	mu     sync.Mutex
	ns     map[Node]netns.NsHandle
	shapes [2]ISPShape
	imp    [2]impairState
	closed bool
}

// New builds the whole store. On any error it removes what it made.
func New(ctx context.Context, opts Options) (*Lab, error) {
	if opts.Prefix == "" {
		opts.Prefix = NewPrefix()
	}
	if !ValidPrefix(opts.Prefix) {
		return nil, fmt.Errorf("netlab: prefix %q: want %s plus 4 hex digits", opts.Prefix, PrefixBase)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	l := &Lab{Prefix: opts.Prefix, log: opts.Log, ns: map[Node]netns.NsHandle{}}
	for i := range opts.ISP {
		l.shapes[i] = opts.ISP[i]
		if l.shapes[i] == (ISPShape{}) {
			l.shapes[i] = DefaultShapes[i]
		}
	}
	if err := l.build(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("netlab %s: build: %w", l.Prefix, err), l.Close())
	}
	l.log.Info("lab up", "prefix", l.Prefix)
	return l, nil
}

// Attach opens an existing lab (made by another process, like `gwlab up`).
func Attach(prefix string, log *slog.Logger) (*Lab, error) {
	if !ValidPrefix(prefix) {
		return nil, fmt.Errorf("netlab: prefix %q: want %s plus 4 hex digits", prefix, PrefixBase)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Lab{Prefix: prefix, log: log, ns: map[Node]netns.NsHandle{}, shapes: DefaultShapes}
	for _, n := range Nodes {
		h, err := netns.GetFromName(l.NSName(n))
		if err != nil {
			l.closeHandles()
			return nil, fmt.Errorf("netlab %s: open %s: %w", prefix, n, err)
		}
		l.ns[n] = h
	}
	if !l.loadState() {
		for i := range WAN {
			if err := l.readShape(i); err != nil {
				l.log.Warn("netlab: cannot read shaping", "wan", WAN[i].Name, "err", err)
			}
		}
	}
	return l, nil
}

// NSName is the namespace name of a node, for `ip netns exec`.
func (l *Lab) NSName(n Node) string { return l.Prefix + "-" + string(n) }

// NS returns the namespace handle of a node (owned by the lab; don't close it).
func (l *Lab) NS(n Node) (netns.NsHandle, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.ns[n]
	if !ok || l.closed {
		return netns.None(), fmt.Errorf("netlab %s: no namespace for %s", l.Prefix, n)
	}
	return h, nil
}

// Do runs fn on a thread inside n's namespace. Sockets fn creates stay in
// that namespace after Do returns.
func (l *Lab) Do(n Node, fn func() error) error {
	h, err := l.NS(n)
	if err != nil {
		return err
	}
	return inNS(h, fn)
}

// Handle returns a netlink handle working in n's namespace; close it after use.
func (l *Lab) Handle(n Node) (*netlink.Handle, error) {
	h, err := l.NS(n)
	if err != nil {
		return nil, err
	}
	// Route and netfilter (conntrack) netlink only: with no family named,
	// netlink also opens an XFRM socket, which fails where xfrm_user is
	// not loaded (gwlab vm). A family not opened here would be asked in
	// the caller's namespace, not n's.
	nh, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("netlab %s: netlink in %s: %w", l.Prefix, n, err)
	}
	return nh, nil
}

// Dial connects from inside n's namespace.
func (l *Lab) Dial(ctx context.Context, n Node, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := l.Do(n, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen listens inside n's namespace.
func (l *Lab) Listen(n Node, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := l.Do(n, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// ListenPacket opens a packet socket inside n's namespace.
func (l *Lab) ListenPacket(n Node, network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := l.Do(n, func() error {
		var err error
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	return pc, err
}

// Close removes every namespace of the lab (and with them every link,
// qdisc, route and nftables table). It is safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.closeHandlesLocked()
	l.mu.Unlock()
	return Clean(l.Prefix, l.log)
}

// Release drops the lab's handles without removing anything (for a process
// that attached to a lab it does not own).
func (l *Lab) Release() { l.closeHandles() }

func (l *Lab) closeHandles() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeHandlesLocked()
}

func (l *Lab) closeHandlesLocked() {
	for n, h := range l.ns {
		h.Close()
		delete(l.ns, n)
	}
}
