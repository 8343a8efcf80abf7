// Package uplink sends the telemetry store to head office's MQTT broker:
// one persistent session (fixed client id, CleanSession false), birth and
// last will on …/status, batches of records at QoS 1 sized and bounded in
// flight by the rate the line delivers (pacer.go), deletion from the store
// only after the broker's PUBACK, and a rate-capped replay of the backlog
// after an outage that never holds up live alarms.
package uplink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/telemetry/store"
)

// Identity names this gateway in topics, batches and the birth message.
type Identity struct {
	Site      string
	GatewayID string
	// BootID is this run of the daemon; with (gateway, stream, seq) it is
	// head office's dedupe key.
	BootID  string
	Version string
}

// Event is a change of the session's state, for the hub's event stream.
type Event struct {
	Kind    string // "connected", "disconnected"
	Message string
	Time    time.Time
}

// Deps are the uplink's collaborators.
type Deps struct {
	Store    *store.Store
	Identity Identity
	// ActiveWAN names the WAN in use for the birth message (optional).
	ActiveWAN func() string
	// OnEvent receives session events (optional).
	OnEvent func(Event)
	// Now and Rand (in [0,1), for jitter) default to the real ones.
	Now  func() time.Time
	Rand func() float64
	// MinReconnectDelay is the first backoff step (default 1s).
	MinReconnectDelay time.Duration
	// Linger is how long live bulk records wait to fill a batch
	// (default 500ms); alarms and status never wait.
	Linger time.Duration
	// Dial, when set, opens the TCP connection to the broker (to bind it
	// to a WAN, or reach a broker in a test's network namespace); TLS is
	// still done by the uplink.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Uplink is the MQTT session. Build it with New, run it with Run.
type Uplink struct {
	log       *slog.Logger
	deps      Deps
	broker    string
	opts      *mqtt.ClientOptions // template; each connection gets a fresh client
	prefix    string              // <topic_prefix>/<site>
	batchRecs int
	batchByte int
	replay    time.Duration // between backlog batches; 0 = uncapped
	window    int
	backoff   backoff

	// acked holds what the broker acknowledged but the store could not
	// delete yet.
	acked undeleted
	// publishFn publishes a batch: publishBatch, or a test's fault.
	publishFn func(c mqtt.Client, topic string, payload []byte) mqtt.Token

	handlers sync.Map // topic filter → mqtt.MessageHandler
	client   atomic.Pointer[mqtt.Client]
	wake     chan struct{} // Wake: a line came back, retry now

	connected      atomic.Bool
	connectedSince atomic.Int64
	lastAck        atomic.Int64
	inflight       atomic.Int64
	reconnects     atomic.Int64
	sentBatches    atomic.Int64
	sentRecords    atomic.Int64
	ackedBatches   atomic.Int64
	ackedRecords   atomic.Int64
	replaying      atomic.Bool
	lastErr        atomic.Pointer[string]
	snap           atomic.Pointer[Snapshot]
}

// New checks the MQTT and telemetry sections and prepares the session.
// An empty mqtt.broker makes an uplink that only reports itself disabled.
func New(mc config.MQTT, tc config.Telemetry, log *slog.Logger, d Deps) (*Uplink, error) {
	if d.Store == nil {
		return nil, errors.New("uplink: no store")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Rand == nil {
		d.Rand = rand.Float64
	}
	if d.MinReconnectDelay <= 0 {
		d.MinReconnectDelay = time.Second
	}
	if d.Linger <= 0 {
		d.Linger = 500 * time.Millisecond
	}
	if d.Identity.GatewayID == "" {
		d.Identity.GatewayID = d.Identity.Site
	}
	u := &Uplink{
		log: log, deps: d, broker: mc.Broker,
		prefix:    mc.TopicPrefix + "/" + d.Identity.Site,
		batchRecs: max(tc.BatchRecords, 1),
		batchByte: max(int(tc.BatchBytes), 1024),
		window:    max(mc.Inflight, 1),
		backoff:   backoff{base: d.MinReconnectDelay, max: max(mc.MaxReconnectDelay.D(), d.MinReconnectDelay), rand: d.Rand},
		publishFn: publishBatch,
		wake:      make(chan struct{}, 1),
	}
	if tc.ReplayPerSecond > 0 {
		u.replay = time.Second / time.Duration(tc.ReplayPerSecond)
	}
	if mc.Broker != "" {
		opts, err := u.clientOptions(mc)
		if err != nil {
			return nil, err
		}
		u.opts = opts
	}
	u.publish()
	return u, nil
}

func (u *Uplink) clientOptions(mc config.MQTT) (*mqtt.ClientOptions, error) {
	bu, err := url.Parse(mc.Broker)
	if err != nil || bu.Host == "" {
		return nil, fmt.Errorf("uplink: mqtt.broker %q: not a broker URL", mc.Broker)
	}
	if mc.ClientID == "" {
		return nil, errors.New("uplink: mqtt.client_id is empty: a persistent session needs a fixed id")
	}
	o := mqtt.NewClientOptions().AddBroker(mc.Broker).SetClientID(mc.ClientID).
		// Persistent session: the broker keeps our subscriptions and what it
		// queued for us (commands) while we are away.
		SetCleanSession(false).SetProtocolVersion(4). // MQTT 3.1.1, no 3.1 fallback
		// Reconnecting is ours (capped backoff with jitter, a fresh client
		// each time: see session.go for why paho's resend is not used).
		SetAutoReconnect(false).SetConnectRetry(false).
		SetKeepAlive(mc.KeepAlive.D()).SetPingTimeout(10*time.Second).
		SetConnectTimeout(10*time.Second).SetWriteTimeout(10*time.Second).
		SetOrderMatters(false).
		SetBinaryWill(u.prefix+"/status", u.statusPayload("offline"), 1, true)
	if mc.Username != "" {
		o.SetUsername(mc.Username)
	}
	if mc.Password != "" {
		o.SetPassword(mc.Password)
	} else if mc.PasswordFile != "" {
		b, err := os.ReadFile(mc.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("uplink: mqtt.password_file: %w", err)
		}
		o.SetPassword(strings.TrimRight(string(b), "\r\n"))
	}
	var tc *tls.Config
	if tlsSchemes[bu.Scheme] {
		tc, err = tlsConfig(mc.TLS, bu)
		if err != nil {
			return nil, fmt.Errorf("uplink: %w", err)
		}
		o.SetTLSConfig(tc)
	}
	if dial := u.deps.Dial; dial != nil {
		o.SetCustomOpenConnectionFn(func(bu *url.URL, co mqtt.ClientOptions) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), co.ConnectTimeout)
			defer cancel()
			c, err := dial(ctx, "tcp", bu.Host)
			if err != nil || tc == nil {
				return c, err
			}
			tlsConn := tls.Client(c, tc)
			if err := tlsConn.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tlsConn, nil
		})
	}
	return o, nil
}

// Handle routes messages on filter (a full topic filter, for example
// Prefix()+"/cmd/+") to h on every connection. Call it before Run.
func (u *Uplink) Handle(filter string, h func(topic string, payload []byte)) {
	u.handlers.Store(filter, mqtt.MessageHandler(func(_ mqtt.Client, m mqtt.Message) { h(m.Topic(), m.Payload()) }))
}

// Name is the component's name for the supervisor and the status page.
func (u *Uplink) Name() string { return "uplink" }

// Prefix is the gateway's topic root, <prefix>/<site>.
func (u *Uplink) Prefix() string { return u.prefix }

// ErrNotConnected is returned by Publish while the session is down.
var ErrNotConnected = errors.New("uplink: not connected to the broker")

// Publish sends one message at QoS 1 on the live session and waits for its
// PUBACK (gateway/remote's responses; telemetry goes through the store).
func (u *Uplink) Publish(ctx context.Context, topic string, retained bool, payload []byte) error {
	c := u.client.Load()
	if c == nil || !u.connected.Load() {
		return ErrNotConnected
	}
	t := (*c).Publish(topic, 1, retained, payload)
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("uplink: publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stableSession is how long a session must stay up, after its birth
// message was acknowledged, before the backoff starts over. A session that
// the broker, the disk or a batch ends at once is a failure like a refused
// connect: starting over on every connect made a reconnect storm (issue
// 26: a connection a second while a broker closed it on every batch).
const stableSession = 10 * time.Second

// Run keeps the session up until ctx is done, reconnecting with capped,
// jittered backoff. It returns nil when ctx ends.
func (u *Uplink) Run(ctx context.Context) error {
	if u.opts == nil {
		u.log.Info("uplink: no mqtt.broker configured; telemetry stays in the local store")
		<-ctx.Done()
		return nil
	}
	go u.refresh(ctx)
	for attempt := 0; ; {
		select {
		case <-u.wake: // the session about to start is the retry it asked for
		default:
		}
		upFor, err := u.session(ctx)
		if ctx.Err() != nil {
			u.publish()
			return nil
		}
		if upFor >= stableSession {
			attempt = 0 // it held: the next failure starts the backoff over
		}
		if err != nil {
			msg := err.Error()
			u.lastErr.Store(&msg)
			u.log.Warn("uplink: broker session ended", "broker", u.broker, "err", err)
		}
		d := u.backoff.delay(attempt)
		attempt++
		u.reconnects.Add(1)
		u.publish()
		select {
		case <-time.After(d):
		case <-u.wake:
			attempt = 0 // a new line: its failures start the backoff over
		case <-ctx.Done():
			return nil
		}
	}
}

// Wake cuts the backoff short: the daemon calls it when a WAN comes up or
// becomes active, so the first connection after an outage does not wait
// out a backoff grown during it (up to mqtt.max_reconnect_delay: 47 s of
// the store day's delivery delay after both lines came back).
func (u *Uplink) Wake() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// refresh republishes the snapshot each second, so backlog size and oldest
// record age stay current while nothing else happens.
func (u *Uplink) refresh(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			u.publish()
		case <-ctx.Done():
			return
		}
	}
}

func (u *Uplink) event(kind, msg string) {
	if u.deps.OnEvent != nil {
		u.deps.OnEvent(Event{Kind: kind, Message: msg, Time: u.deps.Now()})
	}
}
