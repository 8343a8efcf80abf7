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
			_, _, err := verifier(&now).Open(tc.topic, tc.payload(t))
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
	if _, _, err := v.Open("ping", p); err != nil {
		t.Fatal(err)
	}
	v.Seen = LoadSeen(path) // the daemon restarted
	if _, _, err := v.Open("ping", p); !errors.Is(err, ErrReplay) {
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

// exampleWith is the example config with edits (pairs of old, new).
func exampleWith(t *testing.T, edits ...string) string {
	t.Helper()
	s := string(config.Example)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("%q not in example", edits[i])
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	return s
}

// signedPush is a desired-config message signed by head office, valid for
// a week from t0.
func signedPush(t *testing.T, id, yaml string) []byte {
	args, _ := json.Marshal(DesiredArgs{Config: yaml})
	return sign(t, hoPriv, Body{ID: id, Site: "store-0042", Name: "config", Args: args, Expires: t0.Add(7 * 24 * time.Hour)})
}

// pushFixture is a ConfigPush on the example config (v1) with a fake
// applier, a settable clock and a broker that can go away.
type pushFixture struct {
	*ConfigPush
	ap      *fakeApplier
	now     *time.Time
	reports *[]Reported
	online  *bool
}

func newPushFixture(t *testing.T) pushFixture {
	base, err := config.Parse(config.Example, ".")
	if err != nil {
		t.Fatal(err)
	}
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
	return pushFixture{p, ap, &now, &reports, &online}
}

func TestConfigPush(t *testing.T) {
	yamlWith := func(edits ...string) string { return exampleWith(t, edits...) }
	push := func(id, yaml string) []byte { return signedPush(t, id, yaml) }
	setup := func(t *testing.T) (*ConfigPush, *fakeApplier, *time.Time, *[]Reported, *bool) {
		f := newPushFixture(t)
		return f.ConfigPush, f.ap, f.now, f.reports, f.online
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
		r := p.Desired(sign(t, otherPriv, Body{ID: "x", Site: "store-0042", Name: "config", Args: args, Expires: t0.Add(time.Hour)}))
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
		a := Assembler{ID: "d1"}
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
	a := Assembler{ID: "d2"}
	a.Add(chunks[0])
	if _, _, err := a.Add(chunks[1]); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("tampered chunk: %v", err)
	}
}

// A store answers a diag command; what it sends must not steer head
// office's memory or splice another transfer in.
func TestAttackChunkBounds(t *testing.T) {
	good := Split(Response{ID: "d3"}, Chunked{Data: []byte("bundle")})[0]
	for _, tc := range []struct {
		name string
		edit func(c *Chunk)
		want string
	}{
		{"another command's chunk", func(c *Chunk) { c.ID = "d4" }, `chunk of command "d4", not of "d3"`},
		{"a billion parts", func(c *Chunk) { c.Parts, c.Size = 1e9, 1e9*ChunkSize }, "not a transfer of at most 64 MiB"},
		{"parts disagree with size", func(c *Chunk) { c.Parts = 1000 }, "chunk claims 6 bytes in 1000 parts"},
		{"negative size", func(c *Chunk) { c.Size = -1 }, "chunk claims -1 bytes"},
		{"oversized part", func(c *Chunk) { c.Data = make([]byte, ChunkSize+1); c.Size = len(c.Data) }, "not a transfer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			a := Assembler{ID: "d3"}
			if _, _, err := a.Add(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	a := Assembler{ID: "d3"}
	if b, done, err := a.Add(good); err != nil || !done || string(b) != "bundle" {
		t.Errorf("good chunk: %q %v %v", b, done, err)
	}
}

// rollBack pushes yaml as a network change and lets the window pass with
// the broker away, so it rolls back.
func (f pushFixture) rollBack(t *testing.T, id, yaml string) {
	t.Helper()
	if r := f.Desired(signedPush(t, id, yaml)); r.State != StatePending {
		t.Fatalf("push %s: %+v", id, r)
	}
	*f.online = false
	*f.now = f.now.Add(f.Window)
	f.Tick()
	*f.online = true
	f.Tick()
	if last := (*f.reports)[len(*f.reports)-1]; last.State != StateRolledBack {
		t.Fatalf("push %s not rolled back: %+v", id, last)
	}
}

// Two old signed pushes, both rolled back, used to be applied again in
// turn (only the latest rollback was remembered, and pushes never expired):
// each ran for a whole window every time.
func TestAttackConfigReplay(t *testing.T) {
	t.Run("alternating rolled-back pushes", func(t *testing.T) {
		f := newPushFixture(t)
		v2 := exampleWith(t, "version: 1", "version: 2", "interface: wan1", "interface: wanX")
		v3 := exampleWith(t, "version: 1", "version: 3", "interface: wan1", "interface: wanY")
		f.rollBack(t, "a", v2)
		f.rollBack(t, "b", v3)
		n := len(f.ap.applied)
		r := f.Desired(signedPush(t, "a", v2))
		if r.State != StateRejected || len(f.ap.applied) != n ||
			!strings.Contains(strings.Join(r.Errors, ""), "version: 2 is not newer than 3, which this box has already run or rolled back") {
			t.Errorf("replayed v2: %+v, applied %v", r, f.ap.applied)
		}
		if r := f.Desired(signedPush(t, "b", v3)); r.State != StateRolledBack || len(f.ap.applied) != n {
			t.Errorf("redelivered v3: %+v, applied %v", r, f.ap.applied)
		}
		// The state survives a restart of the daemon.
		g := newPushFixture(t)
		g.StateDir, g.Path = f.StateDir, f.Path
		if r := g.Desired(signedPush(t, "a", v2)); r.State != StateRejected {
			t.Errorf("after restart, replayed v2: %+v", r)
		}
	})
	t.Run("expired push", func(t *testing.T) {
		f := newPushFixture(t)
		args, _ := json.Marshal(DesiredArgs{Config: exampleWith(t, "version: 1", "version: 2")})
		old := sign(t, hoPriv, Body{ID: "e", Site: "store-0042", Name: "config", Args: args, Expires: t0.Add(-time.Second)})
		r := f.Desired(old)
		if r.State != StateRejected || !strings.Contains(r.Errors[0], "refused: expired at") || len(f.ap.applied) != 0 {
			t.Errorf("expired push: %+v", r)
		}
		never := sign(t, hoPriv, Body{ID: "n", Site: "store-0042", Name: "config", Args: args})
		if r := f.Desired(never); r.State != StateRejected || !strings.Contains(r.Errors[0], "no expiry") {
			t.Errorf("push without expiry: %+v", r)
		}
		far := sign(t, hoPriv, Body{ID: "f", Site: "store-0042", Name: "config", Args: args, Expires: t0.Add(31 * 24 * time.Hour)})
		if r := f.Desired(far); r.State != StateRejected || !strings.Contains(r.Errors[0], "expires more than 720h0m0s ahead") {
			t.Errorf("push valid for a month: %+v", r)
		}
		// The push that runs may expire later: redelivered after a
		// reconnect it is still reported applied, not refused.
		if r := f.Desired(signedPush(t, "g", exampleWith(t, "version: 1", "version: 2"))); r.State != StateApplied {
			t.Fatalf("push: %+v", r)
		}
		*f.now = f.now.Add(8 * 24 * time.Hour)
		if r := f.Desired(signedPush(t, "g", exampleWith(t, "version: 1", "version: 2"))); r.State != StateApplied {
			t.Errorf("running push, expired since: %+v", r)
		}
	})
}

// A push that changes the command keys must be confirmed by a key it adds;
// without that confirm it rolls back. A push may not remove every key.
func TestAttackKeyRotationConfirm(t *testing.T) {
	const exampleKey = "7Qb1yO2X7+ysnhN8HKsZsjrFI6PRLcgMVMVY5MQ4mgY="
	newPub, _ := keyFromSeed(3)
	newKey := base64.StdEncoding.EncodeToString(newPub)
	examplePub, _ := ParseKeys([]string{exampleKey})
	rotate := exampleWith(t, "version: 1", "version: 2", exampleKey, newKey)

	t.Run("confirmed by the new key", func(t *testing.T) {
		f := newPushFixture(t)
		r := f.Desired(signedPush(t, "k", rotate))
		if r.State != StatePending || !r.KeyConfirm || !strings.Contains(r.Reason, `config-confirm {"version": 2} signed with a new key`) {
			t.Fatalf("push: %+v", r)
		}
		*f.now = f.now.Add(time.Minute) // the broker alone does not confirm a key change
		f.Tick()
		if f.Pending() != 2 {
			t.Fatal("a key change was confirmed without the new key")
		}
		if err := f.ConfirmKeys(2, examplePub[0]); err == nil || !strings.Contains(err.Error(), "with a key it adds") {
			t.Errorf("confirm with the old key: %v", err)
		}
		if err := f.ConfirmKeys(3, newPub); err == nil || !strings.Contains(err.Error(), "version 3 is not waiting") {
			t.Errorf("confirm of another version: %v", err)
		}
		if err := f.ConfirmKeys(2, newPub); err != nil {
			t.Fatal(err)
		}
		if last := (*f.reports)[len(*f.reports)-1]; f.Pending() != 0 || last.State != StateApplied || last.Version != 2 {
			t.Errorf("after confirm: pending %d, %+v", f.Pending(), last)
		}
	})
	t.Run("rolled back without the new key", func(t *testing.T) {
		f := newPushFixture(t)
		f.Desired(signedPush(t, "k", rotate))
		*f.now = f.now.Add(f.Window)
		f.Tick()
		last := (*f.reports)[len(*f.reports)-1]
		if last.State != StateRolledBack || f.ap.running.Version != 1 || !strings.Contains(last.Reason, "no config-confirm signed with a new command key") {
			t.Errorf("after the window: running v%d, %+v", f.ap.running.Version, last)
		}
	})
	t.Run("every key removed", func(t *testing.T) {
		f := newPushFixture(t)
		none := exampleWith(t, "version: 1", "version: 2", "  command_keys:\n    - "+exampleKey+"\n", "")
		r := f.Desired(signedPush(t, "z", none))
		if r.State != StateRejected || !strings.Contains(r.Errors[0], "must keep at least one key") || len(f.ap.applied) != 0 {
			t.Errorf("push without keys: %+v", r)
		}
	})
	for _, tc := range []struct {
		name          string
		before, after []string
		want          []string
	}{
		{"unchanged", []string{"a", "b"}, []string{"b", "a"}, nil},
		{"added", []string{"a"}, []string{"a", "b"}, []string{"b"}},
		{"replaced", []string{"a"}, []string{"b"}, []string{"b"}},
		{"removed", []string{"a", "b"}, []string{"b"}, []string{"b"}},
	} {
		t.Run("keys to confirm, "+tc.name, func(t *testing.T) {
			enc := func(names []string) []string {
				var out []string
				for _, n := range names {
					pub, _ := keyFromSeed(byte(n[0]))
					out = append(out, base64.StdEncoding.EncodeToString(pub))
				}
				return out
			}
			a, b := &config.Config{}, &config.Config{}
			a.Remote.CommandKeys, b.Remote.CommandKeys = enc(tc.before), enc(tc.after)
			got := keysToConfirm(a, b)
			want, _ := ParseKeys(enc(tc.want))
			if len(got) != len(want) || (want == nil) != (got == nil) {
				t.Fatalf("got %d keys, want %d", len(got), len(want))
			}
			for i := range want {
				if !got[i].Equal(want[i]) {
					t.Errorf("key %d differs", i)
				}
			}
		})
	}
}

// nullSession is a session that is never asked anything in these tests.
type nullSession struct{}

func (nullSession) Prefix() string                                      { return "branchgw/store-0042" }
func (nullSession) Publish(context.Context, string, bool, []byte) error { return nil }

// The keys were read once at start: after a reload that replaced the key,
// the revoked key still signed commands and the new one was refused.
func TestAttackRevokedKeyStillWorks(t *testing.T) {
	const exampleKey = "7Qb1yO2X7+ysnhN8HKsZsjrFI6PRLcgMVMVY5MQ4mgY="
	cfg, err := config.Parse([]byte(exampleWith(t, exampleKey, base64.StdEncoding.EncodeToString(hoPub))), ".")
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	c, err := New(Options{Config: cfg, Session: nullSession{}, StateDir: t.TempDir(),
		Handlers: map[string]Handler{"ping": func(context.Context, json.RawMessage) (any, error) { return "pong", nil }},
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ping := func(id string, key ed25519.PrivateKey) Response {
		return c.cmds.Handle(context.Background(), "ping", sign(t, key, Body{ID: id, Site: "store-0042", Name: "ping", Expires: t0.Add(time.Minute)}))
	}
	if r := ping("a", hoPriv); !r.OK {
		t.Fatalf("ping with the configured key: %+v", r)
	}
	newPub, newPriv := keyFromSeed(4)
	next, err := config.Parse([]byte(exampleWith(t, exampleKey, base64.StdEncoding.EncodeToString(newPub))), ".")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(next); err != nil {
		t.Fatal(err)
	}
	if r := ping("b", hoPriv); r.OK || !strings.Contains(r.Error, "signature does not verify") {
		t.Errorf("ping with the revoked key after the reload: %+v", r)
	}
	if r := ping("c", newPriv); !r.OK {
		t.Errorf("ping with the new key after the reload: %+v", r)
	}
}
