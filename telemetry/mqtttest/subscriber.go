package mqtttest

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Message is one message as the subscriber got it.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
	// Duplicate is the DUP flag: the broker may have sent this one before.
	Duplicate bool
	// At is when it arrived.
	At time.Time
}

// Subscriber is a real MQTT client that records every message it receives,
// in arrival order. With a persistent session it also gets what was queued
// for it while it (or the broker) was down.
type Subscriber struct {
	c         mqtt.Client
	reconnect atomic.Bool
	mu        sync.Mutex
	msgs      []Message
	notify    chan struct{}
}

// SubscriberOptions shape the subscriber's session.
type SubscriberOptions struct {
	ClientID string // default "mqtttest-sub"
	// Persistent uses CleanSession false, so nothing is lost while the
	// broker restarts (needs a broker with Persist).
	Persistent bool
	TLS        *tls.Config
	// Dial, when set, opens the connection (plain TCP only), for a broker
	// in a network namespace.
	Dial func(network, addr string) (net.Conn, error)
}

// Subscribe connects to the broker URL and subscribes to filter at QoS 1; it keeps
// reconnecting until t ends.
func Subscribe(t testing.TB, broker, filter string, o SubscriberOptions) *Subscriber {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID = "mqtttest-sub"
	}
	s := &Subscriber{notify: make(chan struct{}, 1)}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(o.ClientID).
		SetCleanSession(!o.Persistent).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(200 * time.Millisecond).
		SetOrderMatters(true).SetTLSConfig(o.TLS).
		SetOnConnectHandler(func(c mqtt.Client) {
			// On a reconnect subscribe again: harmless with a persistent
			// session, needed without one. The first time Subscribe below
			// does it and waits for the SUBACK.
			if s.reconnect.Swap(true) {
				c.Subscribe(filter, 1, nil)
			}
		}).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			s.mu.Lock()
			s.msgs = append(s.msgs, Message{Topic: m.Topic(), Payload: m.Payload(), Retained: m.Retained(), Duplicate: m.Duplicate(), At: time.Now()})
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		})
	if o.Dial != nil {
		opts.SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			return o.Dial("tcp", u.Host)
		})
	}
	s.c = mqtt.NewClient(opts)
	tok := s.c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect to %s: %v", broker, tok.Error())
	}
	// Wait for the SUBACK, so nothing published after this returns is missed.
	st := s.c.Subscribe(filter, 1, nil)
	if !st.WaitTimeout(10*time.Second) || st.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, st.Error())
	}
	t.Cleanup(func() { s.c.Disconnect(100) })
	return s
}

// Messages returns a copy of what arrived so far.
func (s *Subscriber) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor polls cond over the messages (after each arrival, at least every
// 100 ms) until it holds or timeout passes; it reports whether it held.
func (s *Subscriber) WaitFor(timeout time.Duration, cond func([]Message) bool) bool {
	deadline := time.After(timeout)
	for {
		if cond(s.Messages()) {
			return true
		}
		select {
		case <-s.notify:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			return cond(s.Messages())
		}
	}
}

// Publish sends a message at QoS 1 from the subscriber's connection (head
// office sending a command) and waits for the PUBACK.
func (s *Subscriber) Publish(topic string, payload []byte) error {
	t := s.c.Publish(topic, 1, false, payload)
	if !t.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("publish %s: no PUBACK in 10s", topic)
	}
	return t.Error()
}
