package remote

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/branchgw/branchgw/gateway/config"
)

var (
	t0            = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	hoPub, hoPriv = keyFromSeed(1)
	_, otherPriv  = keyFromSeed(2)
)

func keyFromSeed(b byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytesOf(b, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

func bytesOf(b byte, n int) []byte {
	s := make([]byte, n)
	for i := range s {
		s[i] = b
	}
	return s
}

func sign(t *testing.T, key ed25519.PrivateKey, b Body) []byte {
	p, err := Sign(key, b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func verifier(now *time.Time) *Verifier {
	return &Verifier{Keys: []ed25519.PublicKey{hoPub}, Site: "store-0042", Now: func() time.Time { return *now }, Seen: LoadSeen("")}
}

func TestOpenRefusals(t *testing.T) {
	good := Body{ID: "c1", Site: "store-0042", Name: "ping", Expires: t0.Add(time.Minute)}
	with := func(f func(*Body)) Body { b := good; f(&b); return b }
	tamper := func(p []byte) []byte {
		var env Envelope
		json.Unmarshal(p, &env)
		raw, _ := base64.StdEncoding.DecodeString(env.Body)
		raw = []byte(strings.Replace(string(raw), `"ping"`, `"reboot"`, 1))
		env.Body = base64.StdEncoding.EncodeToString(raw)
		out, _ := json.Marshal(env)
		return out
	}
	for _, tc := range []struct {
		name    string
		topic   string
		payload func(t *testing.T) []byte
		want    error
	}{
		{"good", "ping", func(t *testing.T) []byte { return sign(t, hoPriv, good) }, nil},
		{"expired", "ping", func(t *testing.T) []byte {
			return sign(t, hoPriv, with(func(b *Body) { b.Expires = t0.Add(-time.Second) }))
		}, ErrExpired},
		{"expires too far ahead", "ping", func(t *testing.T) []byte {
			return sign(t, hoPriv, with(func(b *Body) { b.Expires = t0.Add(48 * time.Hour) }))
		}, ErrMalformed},
		{"unknown key", "ping", func(t *testing.T) []byte { return sign(t, otherPriv, good) }, ErrBadSignature},
		{"unsigned", "ping", func(t *testing.T) []byte {
			raw, _ := json.Marshal(good)
			p, _ := json.Marshal(Envelope{Body: base64.StdEncoding.EncodeToString(raw)})
			return p
		}, ErrBadSignature},
		{"tampered body", "reboot", func(t *testing.T) []byte { return tamper(sign(t, hoPriv, good)) }, ErrBadSignature},
		{"other site", "ping", func(t *testing.T) []byte {
			return sign(t, hoPriv, with(func(b *Body) { b.Site = "store-0043" }))
		}, ErrWrongSite},
		{"every site", "ping", func(t *testing.T) []byte {
			return sign(t, hoPriv, with(func(b *Body) { b.Site = "*"; b.ID = "c2" }))
		}, nil},
		{"topic mismatch", "reboot", func(t *testing.T) []byte { return sign(t, hoPriv, with(func(b *Body) { b.ID = "c3" })) }, ErrWrongName},
		{"no id", "ping", func(t *testing.T) []byte { return sign(t, hoPriv, with(func(b *Body) { b.ID = "" })) }, ErrMalformed},
		{"not JSON", "ping", func(t *testing.T) []byte { return []byte("{nope") }, ErrMalformed},
		{"not base64", "ping", func(t *testing.T) []byte { return []byte(`{"body":"!!","sig":"!!"}`) }, ErrMalformed},
		{"empty", "ping", func(t *testing.T) []byte { return nil }, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			_, err := verifier(&now).Open(tc.topic, tc.payload(t))
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReplayRefusedAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seen.json")
	now := t0
	v := verifier(&now)
	v.Seen = LoadSeen(path)
	p := sign(t, hoPriv, Body{ID: "c1", Site: "store-0042", Name: "ping", Expires: t0.Add(time.Hour)})
	if _, err := v.Open("ping", p); err != nil {
		t.Fatal(err)
	}
	v.Seen = LoadSeen(path) // the daemon restarted
	if _, err := v.Open("ping", p); !errors.Is(err, ErrReplay) {
		t.Errorf("replay after restart: %v", err)
	}
}

func TestCommands(t *testing.T) {
	now := t0
	var audits []Audit
	c := &Commands{
		Verifier: verifier(&now),
		Audit:    func(a Audit) { audits = append(audits, a) },
		Handlers: map[string]Handler{
			"ping": func(context.Context, json.RawMessage) (any, error) { return "pong", nil },
			"failover": func(_ context.Context, args json.RawMessage) (any, error) {
				var a struct {
					WAN     string `json:"wan"`
					Minutes int    `json:"minutes"`
				}
				if err := DecodeArgs(args, &a); err != nil {
					return nil, err
				}
				return a, nil
			},
			"crash": func(context.Context, json.RawMessage) (any, error) { panic("oops") },
		},
	}
	cmd := func(id, name, args string) []byte {
		b := Body{ID: id, Site: "store-0042", Name: name, Expires: t0.Add(time.Minute)}
		if args != "" {
			b.Args = json.RawMessage(args)
		}
		return sign(t, hoPriv, b)
	}
	for _, tc := range []struct {
		name, topic string
		payload     []byte
		ok          bool
		want        string
	}{
		{"ping", "ping", cmd("1", "ping", ""), true, `"result":"pong"`},
		{"args", "failover", cmd("2", "failover", `{"wan":"wan2","minutes":5}`), true, `"result":{"wan":"wan2","minutes":5}`},
		{"unknown arg", "failover", cmd("3", "failover", `{"wan":"wan2","hours":5}`), false, `bad arguments: json: unknown field \"hours\"`},
		{"unknown command", "selfdestruct", cmd("4", "selfdestruct", ""), false, `refused: unknown command \"selfdestruct\"`},
		{"panic", "crash", cmd("5", "crash", ""), false, `command crashed: oops`},
		{"replay", "ping", cmd("1", "ping", ""), false, `refused: already seen (replayed id)`},
		{"garbage", "ping", []byte("\x00\xff"), false, `refused: malformed message`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := c.Handle(context.Background(), tc.topic, tc.payload)
			b, _ := json.Marshal(resp)
			if resp.OK != tc.ok || !strings.Contains(string(b), tc.want) {
				t.Errorf("response %s; want ok=%v with %s", b, tc.ok, tc.want)
			}
		})
	}
	if len(audits) != 7 || audits[3].Outcome != "refused" || audits[0].Outcome != "done" || audits[4].Outcome != "failed" {
		t.Errorf("audit trail: %+v", audits)
	}
}

// fakeApplier records what config is in force.
type fakeApplier struct {
	running *config.Config
	applied []int64
}

func (f *fakeApplier) Running() *config.Config { return f.running }
func (f *fakeApplier) Apply(c *config.Config) error {
	f.running = c
	f.applied = append(f.applied, c.Version)
	return nil
}

func TestConfigPush(t *testing.T) {
	base, err := config.Parse(config.Example, ".")
	if err != nil {
		t.Fatal(err)
	}
	yamlWith := func(edits ...string) string {
		s := string(config.Example)
		for i := 0; i+1 < len(edits); i += 2 {
			if !strings.Contains(s, edits[i]) {
				t.Fatalf("%q not in example", edits[i])
			}
			s = strings.Replace(s, edits[i], edits[i+1], 1)
		}
		return s
	}
	push := func(id, yaml string) []byte {
		args, _ := json.Marshal(DesiredArgs{Config: yaml})
		return sign(t, hoPriv, Body{ID: id, Site: "store-0042", Name: "config", Args: args})
	}
	setup := func(t *testing.T) (*ConfigPush, *fakeApplier, *time.Time, *[]Reported, *bool) {
		dir := t.TempDir()
		path := filepath.Join(dir, "gatewayd.yaml")
		os.WriteFile(path, config.Example, 0o640)
		now := t0
		online := true
		var reports []Reported
		ap := &fakeApplier{running: base}
		p := &ConfigPush{
			Verifier: verifier(&now), Applier: ap, Path: path, StateDir: dir, Window: 2 * time.Minute,
			Report: func(r Reported) error {
				if !online {
					return errors.New("offline")
				}
				reports = append(reports, r)
				return nil
			},
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
		return p, ap, &now, &reports, &online
	}
	fileVersion := func(t *testing.T, p *ConfigPush) int64 {
		c, err := config.Load(p.Path)
		if err != nil {
			t.Fatal(err)
		}
		return c.Version
	}

	t.Run("non-network change applies at once", func(t *testing.T) {
		p, ap, _, _, _ := setup(t)
		r := p.Desired(push("a", yamlWith("version: 1", "version: 2", "level: info", "level: debug")))
		if r.State != StateApplied || ap.running.Log.Level != "debug" || fileVersion(t, p) != 2 {
			t.Errorf("report %+v, running %q, file v%d", r, ap.running.Log.Level, fileVersion(t, p))
		}
	})
	t.Run("invalid config rejected, nothing changes", func(t *testing.T) {
		p, ap, _, _, _ := setup(t)
		r := p.Desired(push("b", yamlWith("version: 1", "version: 2", "target: 198.51.100.1", "target: 1.2.3")))
		want := `wan[0].probes[0].target: "1.2.3": not an IP address (line `
		if r.State != StateRejected || len(r.Errors) != 1 || !strings.HasPrefix(r.Errors[0], want) || len(ap.applied) != 0 || fileVersion(t, p) != 1 {
			t.Errorf("report %+v, applied %v", r, ap.applied)
		}
	})
	t.Run("bad signature rejected", func(t *testing.T) {
		p, ap, _, _, _ := setup(t)
		args, _ := json.Marshal(DesiredArgs{Config: yamlWith("version: 1", "version: 2")})
		r := p.Desired(sign(t, otherPriv, Body{ID: "x", Site: "store-0042", Name: "config", Args: args}))
		if r.State != StateRejected || !strings.Contains(r.Errors[0], "signature") || len(ap.applied) != 0 {
			t.Errorf("report %+v", r)
		}
	})
	t.Run("older version rejected", func(t *testing.T) {
		p, _, _, _, _ := setup(t)
		r := p.Desired(push("c", yamlWith("version: 1", "version: 0")))
		if r.State != StateRejected || r.Errors[0] != "version: 0 is not newer than the running 1" {
			t.Errorf("report %+v", r)
		}
	})
	t.Run("network change confirmed by the broker", func(t *testing.T) {
		p, ap, now, reports, _ := setup(t)
		r := p.Desired(push("d", yamlWith("version: 1", "version: 3", "rate_up: 20mbit", "rate_up: 30mbit")))
		if r.State != StatePending || ap.running.Version != 3 || fileVersion(t, p) != 1 {
			t.Fatalf("report %+v, running v%d, file v%d", r, ap.running.Version, fileVersion(t, p))
		}
		p.Tick() // an ack before the change settled does not count
		if p.Pending() != 3 {
			t.Fatal("confirmed before the change had settled")
		}
		*now = now.Add(30 * time.Second)
		p.Tick()
		last := (*reports)[len(*reports)-1]
		if last.State != StateApplied || fileVersion(t, p) != 3 || p.Pending() != 0 {
			t.Errorf("after ack: %+v, file v%d", last, fileVersion(t, p))
		}
	})
	t.Run("network change rolled back without the broker", func(t *testing.T) {
		p, ap, now, reports, online := setup(t)
		payload := push("e", yamlWith("version: 1", "version: 4", "interface: wan1", "interface: wanX"))
		p.Desired(payload)
		*online = false // the new config cut the link
		*now = now.Add(119 * time.Second)
		p.Tick()
		if ap.running.Version != 4 {
			t.Fatal("rolled back before the window ended")
		}
		*now = now.Add(time.Second)
		p.Tick()
		*online = true // the old config brought the link back
		p.Tick()
		last := (*reports)[len(*reports)-1]
		if last.State != StateRolledBack || ap.running.Version != 1 || fileVersion(t, p) != 1 {
			t.Errorf("after window: %+v, running v%d, file v%d", last, ap.running.Version, fileVersion(t, p))
		}
		// The retained push arrives again on reconnect: not applied again.
		n := len(ap.applied)
		if r := p.Desired(payload); r.State != StateRolledBack || len(ap.applied) != n {
			t.Errorf("redelivered: %+v, applied %v", r, ap.applied)
		}
	})
	t.Run("unsent report retried", func(t *testing.T) {
		p, _, _, _, _ := setup(t)
		fail := true
		var sent []Reported
		p.Report = func(r Reported) error {
			if fail {
				return errors.New("offline")
			}
			sent = append(sent, r)
			return nil
		}
		p.Desired(push("f", yamlWith("version: 1", "version: 5")))
		fail = false
		p.Tick()
		p.Tick()
		if len(sent) != 1 || sent[0].Version != 5 {
			t.Errorf("sent %+v", sent)
		}
	})
}

func TestChunksRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, ChunkSize, ChunkSize + 1, 5*ChunkSize + 17} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7)
		}
		chunks := Split(Response{ID: "d1", Name: "diag"}, Chunked{Name: "diag.tar.gz", Data: data})
		var a Assembler
		var got []byte
		done := false
		// Out of order, as QoS 1 may deliver them.
		for i := len(chunks) - 1; i >= 0; i-- {
			b, _ := json.Marshal(chunks[i])
			if len(b) > 128<<10 {
				t.Fatalf("chunk of %d bytes on the wire, over the 128 KB limit", len(b))
			}
			var c Chunk
			json.Unmarshal(b, &c)
			var err error
			if got, done, err = a.Add(c); err != nil {
				t.Fatal(err)
			}
		}
		if !done || string(got) != string(data) {
			t.Errorf("size %d: done %v, %d bytes back", size, done, len(got))
		}
	}
	chunks := Split(Response{ID: "d2"}, Chunked{Data: make([]byte, 2*ChunkSize)})
	chunks[1].Data = []byte("tampered")
	var a Assembler
	a.Add(chunks[0])
	if _, _, err := a.Add(chunks[1]); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("tampered chunk: %v", err)
	}
}
