package remote

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

// Session is the one MQTT session of the store (telemetry/uplink), which
// commands and config share with telemetry. Messages arrive through
// Deliver: whoever owns the session routes <root>/cmd/+ and
// <root>/config/desired there.
type Session interface {
	// Prefix is the topic root, <prefix>/<site>.
	Prefix() string
	// Publish sends at QoS 1 and waits for the PUBACK; it fails offline.
	Publish(ctx context.Context, topic string, retained bool, payload []byte) error
}

// Options build the remote component.
type Options struct {
	Config   *config.Config
	Session  Session
	Applier  Applier
	Handlers map[string]Handler
	// ConfigPath is the daemon's config file, replaced by confirmed pushes.
	ConfigPath string
	// StateDir keeps the replay cache and the push state.
	StateDir string
	// Audit receives every command outcome and config push result.
	Audit func(kind string, v any)
	Log   *slog.Logger
	Now   func() time.Time
}

// Component subscribes to commands and desired config and answers them.
type Component struct {
	opt   Options
	ver   *Verifier
	cmds  *Commands
	push  *ConfigPush
	inbox chan message
}

type message struct {
	topic   string
	payload []byte
}

// New builds the component; it fails only on unusable command keys.
func New(opt Options) (*Component, error) {
	keys, err := ParseKeys(opt.Config.Remote.CommandKeys)
	if err != nil {
		return nil, err
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Audit == nil {
		opt.Audit = func(string, any) {}
	}
	v := &Verifier{Keys: keys, Site: opt.Config.Site, Now: opt.Now, Seen: LoadSeen(filepath.Join(opt.StateDir, "seen-commands.json"))}
	c := &Component{opt: opt, ver: v, inbox: make(chan message, 64)}
	handlers := map[string]Handler{ConfirmCommand: c.confirm}
	for name, h := range opt.Handlers {
		handlers[name] = h
	}
	c.cmds = &Commands{Verifier: v, Handlers: handlers, Audit: func(a Audit) { opt.Audit("command", a) }}
	c.push = &ConfigPush{
		Verifier: v, Applier: opt.Applier, Path: opt.ConfigPath, StateDir: opt.StateDir,
		Window: opt.Config.Remote.ConfirmWindow.D(),
		Report: c.report,
		Log:    opt.Log,
	}
	return c, nil
}

// Reload puts the config's command keys in force at once: a key a push
// removed verifies nothing from the next message on. (A pushed key change
// is then pending until ConfirmCommand, signed with a new key, arrives.)
func (c *Component) Reload(cfg *config.Config) error {
	keys, err := ParseKeys(cfg.Remote.CommandKeys)
	if err != nil {
		return err
	}
	c.ver.SetKeys(keys)
	return nil
}

func (c *Component) confirm(ctx context.Context, raw json.RawMessage) (any, error) {
	var args ConfirmArgs
	if err := DecodeArgs(raw, &args); err != nil {
		return nil, err
	}
	if err := c.push.ConfirmKeys(args.Version, Signer(ctx)); err != nil {
		return nil, err
	}
	return map[string]any{"confirmed": args.Version}, nil
}

// Filters are the topic filters whose messages belong in Deliver.
func Filters(root string) []string { return []string{root + "/cmd/+", root + "/config/desired"} }

// Deliver queues a message from the session; it never blocks the MQTT
// client's goroutine.
func (c *Component) Deliver(topic string, payload []byte) {
	select {
	case c.inbox <- message{topic, append([]byte(nil), payload...)}:
	default:
		c.opt.Log.Warn("remote: inbox full, message dropped", "topic", topic)
	}
}

// Name implements gateway.Component.
func (c *Component) Name() string { return "remote" }

// Run handles messages one at a time (so two commands never race) and
// drives commit-confirm every second.
func (c *Component) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prefix := c.opt.Session.Prefix()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			c.push.Tick()
		case m := <-c.inbox:
			if m.topic == prefix+"/config/desired" {
				r := c.push.Desired(m.payload)
				c.opt.Audit("config", r)
				continue
			}
			name := strings.TrimPrefix(m.topic, prefix+"/cmd/")
			resp := c.cmds.Handle(ctx, name, m.payload)
			var msgs []any
			if ch, ok := resp.Result.(Chunked); ok {
				for _, part := range Split(resp, ch) {
					msgs = append(msgs, part)
				}
			} else {
				msgs = append(msgs, resp)
			}
			for _, msg := range msgs {
				b, _ := json.Marshal(msg)
				pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := c.opt.Session.Publish(pctx, m.topic+"/resp", false, b)
				cancel()
				if err != nil {
					c.opt.Log.Warn("remote: response not delivered", "command", name, "id", resp.ID, "err", err)
					break
				}
			}
		}
	}
}

func (c *Component) report(r Reported) error {
	b, _ := json.Marshal(r)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.opt.Session.Publish(ctx, c.opt.Session.Prefix()+"/config/reported", true, b)
}

// PendingVersion is the config version awaiting confirmation, or 0.
func (c *Component) PendingVersion() int64 { return c.push.Pending() }
