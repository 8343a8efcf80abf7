// Package fleet is head office's side of the MQTT contract: it watches every
// site under a topic prefix (online/offline from the retained status, the
// latest status record, the config report), sends signed commands and waits
// for their responses, and pushes configs. `gwctl fleet` is its front end.
package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/branchgw/branchgw/gateway/remote"
)

// Site is what head office knows of one store.
type Site struct {
	Site      string    `json:"site"`
	Online    bool      `json:"online"`
	Gateway   string    `json:"gateway,omitempty"`
	Version   string    `json:"version,omitempty"`
	Boot      string    `json:"boot,omitempty"`
	ActiveWAN string    `json:"active_wan,omitempty"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	// From the latest record on …/telemetry/status.
	Backlog       int64  `json:"backlog_records"`
	POSHealth     string `json:"pos_health,omitempty"`
	ConfigVersion int64  `json:"config_version"`
	// From …/config/reported.
	ConfigState string `json:"config_state,omitempty"`

	shown statusMark // the status record shown
}

// statusMark places a status record: its dedupe key (the gateway is the
// site's) and when it was appended.
type statusMark struct {
	epoch string
	seq   uint64
	ts    int64 // unix milliseconds
}

// after reports whether m is newer than o: by seq within one store database
// (one epoch), by append time across databases.
func (m statusMark) after(o statusMark) bool {
	if m.epoch == o.epoch {
		return m.seq > o.seq
	}
	return m.ts >= o.ts
}

// Options connect head office to the broker.
type Options struct {
	Broker   string // tcp://, ssl://, mqtts://
	Prefix   string // default branchgw
	ClientID string
	Username string
	Password string
	TLS      *tls.Config
	// Dial, when set, opens the connection to the broker (a lab namespace,
	// a proxy); the default dials the broker URL's host directly.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Fleet is a live view of every site.
type Fleet struct {
	c      mqtt.Client
	prefix string

	mu      sync.Mutex
	sites   map[string]*Site
	waiters map[string]chan []byte // response topic + id -> waiter
	changed chan struct{}
}

// StatusRecord is what a gateway appends to its status stream periodically;
// the fleet view shows the latest one.
type StatusRecord struct {
	ActiveWAN     string `json:"active_wan"`
	Backlog       int64  `json:"backlog_records"`
	POSHealth     string `json:"pos_health"`
	ConfigVersion int64  `json:"config_version"`
}

// Connect subscribes to every site's status, status records, config reports
// and command responses.
func Connect(ctx context.Context, o Options) (*Fleet, error) {
	if o.Prefix == "" {
		o.Prefix = "branchgw"
	}
	if o.ClientID == "" {
		o.ClientID = "branchgw-headoffice-" + randomID()
	}
	f := &Fleet{prefix: o.Prefix, sites: map[string]*Site{}, waiters: map[string]chan []byte{}, changed: make(chan struct{}, 1)}
	opts := mqtt.NewClientOptions().AddBroker(o.Broker).SetClientID(o.ClientID).
		SetUsername(o.Username).SetPassword(o.Password).SetTLSConfig(o.TLS).
		SetCleanSession(true).SetAutoReconnect(true).SetOrderMatters(false).
		SetOnConnectHandler(func(c mqtt.Client) {
			for _, filter := range []string{"/+/status", "/+/telemetry/status", "/+/config/reported", "/+/cmd/+/resp"} {
				c.Subscribe(o.Prefix+filter, 1, f.onMessage)
			}
		})
	if o.Dial != nil {
		opts.SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return o.Dial(ctx, "tcp", u.Host)
		})
	}
	f.c = mqtt.NewClient(opts)
	tok := f.c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("fleet: connecting to %s: %w", o.Broker, err)
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return f, nil
}

// Close disconnects.
func (f *Fleet) Close() { f.c.Disconnect(250) }

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// onMessage sorts one message into the site table or to a waiting command.
func (f *Fleet) onMessage(_ mqtt.Client, m mqtt.Message) {
	rest, ok := strings.CutPrefix(m.Topic(), f.prefix+"/")
	if !ok {
		return
	}
	site, kind, ok := strings.Cut(rest, "/")
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.site(site)
	switch {
	case kind == "status":
		var st struct {
			State, Gateway, Boot, Version string
			ActiveWAN                     string `json:"active_wan"`
		}
		if json.Unmarshal(m.Payload(), &st) != nil {
			return
		}
		s.Online, s.Gateway, s.Boot, s.Version = st.State == "online", st.Gateway, st.Boot, st.Version
		if st.ActiveWAN != "" {
			s.ActiveWAN = st.ActiveWAN
		}
	case kind == "telemetry/status":
		var b struct {
			Epoch   string `json:"epoch"`
			Records []struct {
				Seq  uint64       `json:"seq"`
				TS   int64        `json:"ts"`
				Data StatusRecord `json:"data"`
			} `json:"records"`
		}
		if json.Unmarshal(m.Payload(), &b) != nil || len(b.Records) == 0 {
			return
		}
		last := b.Records[len(b.Records)-1]
		mark := statusMark{b.Epoch, last.Seq, last.TS}
		if !mark.after(s.shown) {
			return // a duplicate, or the backlog of an outage: older than what the site shows
		}
		s.shown = mark
		r := last.Data
		s.Backlog, s.POSHealth, s.ConfigVersion = r.Backlog, r.POSHealth, r.ConfigVersion
		if r.ActiveWAN != "" {
			s.ActiveWAN = r.ActiveWAN
		}
	case kind == "config/reported":
		var r remote.Reported
		if json.Unmarshal(m.Payload(), &r) != nil {
			return
		}
		s.ConfigState = fmt.Sprintf("v%d %s", r.Version, r.State)
		s.ConfigVersion = r.Running
		f.deliver(m.Topic(), "config", m.Payload())
	case strings.HasPrefix(kind, "cmd/") && strings.HasSuffix(kind, "/resp"):
		var r remote.Response
		if json.Unmarshal(m.Payload(), &r) == nil {
			f.deliver(m.Topic(), r.ID, m.Payload())
		}
		return
	default:
		return
	}
	s.LastSeen = time.Now()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *Fleet) site(name string) *Site {
	s, ok := f.sites[name]
	if !ok {
		s = &Site{Site: name}
		f.sites[name] = s
	}
	return s
}

func (f *Fleet) deliver(topic, id string, payload []byte) {
	if ch, ok := f.waiters[topic+"#"+id]; ok {
		select {
		case ch <- append([]byte(nil), payload...):
		default:
		}
	}
}

// Sites returns every known site, sorted by name.
func (f *Fleet) Sites() []Site {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Site, 0, len(f.sites))
	for _, s := range f.sites {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Site) int { return strings.Compare(a.Site, b.Site) })
	return out
}

// Changed signals (coalesced) that the site table changed.
func (f *Fleet) Changed() <-chan struct{} { return f.changed }

func (f *Fleet) wait(topic, id string) (chan []byte, func()) {
	ch := make(chan []byte, 64) // room for a chunked answer
	f.mu.Lock()
	f.waiters[topic+"#"+id] = ch
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.waiters, topic+"#"+id)
		f.mu.Unlock()
	}
}

// command signs and publishes a command for site and returns its id and the
// channel its answers (those carrying that id) arrive on; done stops
// listening.
func (f *Fleet) command(key ed25519.PrivateKey, site, name string, args json.RawMessage, ttl time.Duration) (string, <-chan []byte, func(), error) {
	body := remote.Body{ID: randomID(), Site: site, Name: name, Expires: time.Now().Add(ttl).UTC(), Args: args}
	payload, err := remote.Sign(key, body)
	if err != nil {
		return "", nil, nil, err
	}
	topic := fmt.Sprintf("%s/%s/cmd/%s", f.prefix, site, name)
	ch, done := f.wait(topic+"/resp", body.ID)
	if tok := f.c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		done()
		return "", nil, nil, fmt.Errorf("fleet: publish %s: %v", topic, tok.Error())
	}
	return body.ID, ch, done, nil
}

// ErrNoResponse is returned when a site did not answer in time.
var ErrNoResponse = errors.New("no response (site offline or command lost)")

// Send signs a command for site, publishes it and waits for the response.
func (f *Fleet) Send(ctx context.Context, key ed25519.PrivateKey, site, name string, args json.RawMessage, ttl time.Duration) (remote.Response, error) {
	_, ch, done, err := f.command(key, site, name, args, ttl)
	if err != nil {
		return remote.Response{}, err
	}
	defer done()
	select {
	case b := <-ch:
		var r remote.Response
		err := json.Unmarshal(b, &r)
		return r, err
	case <-ctx.Done():
		return remote.Response{}, ErrNoResponse
	}
}

// Fetch sends a command whose answer is a file in chunks (diag) and returns
// the file's bytes, checked against the sender's SHA-256 and bound to this
// command's id. The sender's name for the file is not returned: where a file
// lands is head office's choice, never the network's.
func (f *Fleet) Fetch(ctx context.Context, key ed25519.PrivateKey, site, name string, args json.RawMessage, ttl time.Duration) ([]byte, error) {
	id, ch, done, err := f.command(key, site, name, args, ttl)
	if err != nil {
		return nil, err
	}
	defer done()
	asm := remote.Assembler{ID: id}
	for {
		select {
		case b := <-ch:
			var c remote.Chunk
			if err := json.Unmarshal(b, &c); err != nil || c.Parts == 0 {
				var r remote.Response
				if json.Unmarshal(b, &r) == nil && r.Error != "" {
					return nil, errors.New(r.Error)
				}
				return nil, fmt.Errorf("fleet: %s answered without a file", name)
			}
			data, whole, err := asm.Add(c)
			if err != nil {
				return nil, fmt.Errorf("fleet: %s: %w", name, err)
			}
			if whole {
				return data, nil
			}
		case <-ctx.Done():
			return nil, ErrNoResponse
		}
	}
}

// Signing holds head office's keys and policy for a config push.
type Signing struct {
	// Key signs the push: one of the keys the sites trust now.
	Key ed25519.PrivateKey
	// Confirm signs the remote.ConfirmCommand a push that changes
	// remote.command_keys waits for: a key the push adds. Without it such a
	// push ends pending, for a later confirm within the site's window.
	Confirm ed25519.PrivateKey
	// TTL is how long after signing a site may still apply the push
	// (default DefaultPushTTL, at most remote.MaxConfigLifetime).
	TTL time.Duration
}

// DefaultPushTTL lets a store that is offline for a long weekend still take
// a push when it comes back.
const DefaultPushTTL = 7 * 24 * time.Hour

// PushConfig publishes a signed, retained desired config to each site and
// waits for each final report (applied, rejected or rolled back; pending
// when a key change waits for a confirm no key was given for). yamlFor
// gives the YAML for one site (the file with that site's id).
func (f *Fleet) PushConfig(ctx context.Context, s Signing, sites []string, yamlFor func(site string) (string, error)) map[string]remote.Reported {
	if s.TTL <= 0 {
		s.TTL = DefaultPushTTL
	}
	results := map[string]remote.Reported{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, site := range sites {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.pushOne(ctx, s, site, yamlFor)
			mu.Lock()
			results[site] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

func (f *Fleet) pushOne(ctx context.Context, s Signing, site string, yamlFor func(string) (string, error)) remote.Reported {
	fail := func(msg string) remote.Reported {
		return remote.Reported{State: "not-delivered", Errors: []string{msg}}
	}
	y, err := yamlFor(site)
	if err != nil {
		return fail(err.Error())
	}
	args, _ := json.Marshal(remote.DesiredArgs{Config: y})
	payload, err := remote.Sign(s.Key, remote.Body{ID: randomID(), Site: site, Name: "config", Args: args, Expires: time.Now().Add(s.TTL).UTC()})
	if err != nil {
		return fail(err.Error())
	}
	reported := fmt.Sprintf("%s/%s/config/reported", f.prefix, site)
	ch, done := f.wait(reported, "config")
	defer done()
	if tok := f.c.Publish(fmt.Sprintf("%s/%s/config/desired", f.prefix, site), 1, true, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fail(fmt.Sprintf("publish: %v", tok.Error()))
	}
	sent := time.Now().Add(-time.Second)
	confirmed := false
	for {
		select {
		case b := <-ch:
			var r remote.Reported
			if json.Unmarshal(b, &r) != nil || r.At.Before(sent) {
				continue // an older retained report
			}
			switch {
			case r.State != remote.StatePending:
				return r
			case !r.KeyConfirm || confirmed:
				continue // the broker confirms it, or the confirm is on its way
			case s.Confirm == nil:
				return r
			}
			confirmed = true
			cargs, _ := json.Marshal(remote.ConfirmArgs{Version: r.Version})
			resp, err := f.Send(ctx, s.Confirm, site, remote.ConfirmCommand, cargs, time.Minute)
			if err == nil && !resp.OK {
				err = errors.New(resp.Error)
			}
			if err != nil {
				r.Errors = append(r.Errors, remote.ConfirmCommand+": "+err.Error())
				return r
			}
		case <-ctx.Done():
			return fail("no final report in time (site offline?)")
		}
	}
}
