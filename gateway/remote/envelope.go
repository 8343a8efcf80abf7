// Package remote is head office's hand on a store: signed commands on
// …/cmd/<name> answered on …/cmd/<name>/resp, and config pushed on
// …/config/desired, applied with commit-confirm and reported on
// …/config/reported.
//
// A signed message is an envelope {"body": "<base64 JSON>", "sig": "<base64>"}
// whose ed25519 signature covers the body bytes exactly as sent, so no JSON
// canonicalisation can make a verifier and a signer disagree.
package remote

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Envelope is what travels on the wire.
type Envelope struct {
	Body string `json:"body"` // base64 of the JSON Body
	Sig  string `json:"sig"`  // base64 ed25519 signature over the decoded body
}

// Body is a signed command or config push.
type Body struct {
	ID      string          `json:"id"`
	Site    string          `json:"site"` // "*" addresses every site
	Name    string          `json:"name"` // command name, or "config"
	Expires time.Time       `json:"expires"`
	Args    json.RawMessage `json:"args,omitempty"`
}

// Errors a refused message is matched with; each reaches head office as a
// clear sentence in the response.
var (
	ErrMalformed    = errors.New("malformed message")
	ErrBadSignature = errors.New("signature does not verify with any configured head-office key")
	ErrExpired      = errors.New("expired")
	ErrReplay       = errors.New("already seen (replayed id)")
	ErrWrongSite    = errors.New("addressed to another site")
	ErrWrongName    = errors.New("body names another command than the topic")
)

// MaxLifetime bounds how far ahead a command may expire, so that the replay
// cache, which remembers ids until they expire, stays small.
const MaxLifetime = 24 * time.Hour

// Sign makes the envelope for body with a head-office private key.
func Sign(key ed25519.PrivateKey, body Body) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Envelope{
		Body: base64.StdEncoding.EncodeToString(b),
		Sig:  base64.StdEncoding.EncodeToString(ed25519.Sign(key, b)),
	})
}

// Verifier checks envelopes against the configured keys, the site, the
// clock and the replay cache.
type Verifier struct {
	Keys []ed25519.PublicKey // replaced only through SetKeys once in use
	Site string
	Now  func() time.Time
	Seen *Seen

	mu sync.RWMutex
}

// SetKeys replaces the key set at once: from the next message on, a removed
// key verifies nothing.
func (v *Verifier) SetKeys(keys []ed25519.PublicKey) {
	v.mu.Lock()
	v.Keys = keys
	v.mu.Unlock()
}

func (v *Verifier) keys() []ed25519.PublicKey {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.Keys
}

// ParseKeys decodes the base64 public keys of the config.
func ParseKeys(b64 []string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for i, s := range b64 {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("remote.command_keys[%d]: not a base64 ed25519 public key", i)
		}
		keys = append(keys, ed25519.PublicKey(k))
	}
	return keys, nil
}

// Open verifies a command envelope received for name and returns its body
// and the key that signed it. The id of a good command is remembered, so a
// second delivery is ErrReplay. The body is returned, when it could be
// decoded, even with an error, so the refusal can carry the id.
func (v *Verifier) Open(name string, payload []byte) (Body, ed25519.PublicKey, error) {
	body, signer, err := v.open(name, payload)
	if err != nil {
		return body, nil, err
	}
	now := v.Now()
	if err := v.fresh(body, now, MaxLifetime); err != nil {
		return body, nil, err
	}
	if !v.Seen.Add(body.ID, body.Expires, now) {
		return body, nil, ErrReplay
	}
	return body, signer, nil
}

// MaxConfigLifetime bounds how long a signed config push may be applied:
// long enough for a store that is offline over a holiday weekend, short
// enough that an old push cannot come back months later.
const MaxConfigLifetime = 30 * 24 * time.Hour

// OpenConfig verifies a desired-config envelope. It has no replay check: it
// is retained and delivered again on every reconnect, so the version
// decides (it must be newer than any version the box has run or rolled
// back). It expires like a command. An expired push comes back with its
// body and an error that Is ErrExpired, as the push that is running may
// have expired since, which is no reason to report it refused.
func (v *Verifier) OpenConfig(payload []byte) (Body, error) {
	body, _, err := v.open("config", payload)
	if err != nil {
		return body, err
	}
	return body, v.fresh(body, v.Now(), MaxConfigLifetime)
}

// fresh checks a body's expiry: not past, and not further ahead than limit.
func (v *Verifier) fresh(body Body, now time.Time, limit time.Duration) error {
	switch {
	case body.Expires.IsZero():
		return fmt.Errorf("%w: no expiry", ErrMalformed)
	case !now.Before(body.Expires):
		return fmt.Errorf("%w at %s", ErrExpired, body.Expires.UTC().Format(time.RFC3339))
	case body.Expires.After(now.Add(limit)):
		return fmt.Errorf("%w: expires more than %s ahead", ErrMalformed, limit)
	}
	return nil
}

func (v *Verifier) open(name string, payload []byte) (Body, ed25519.PublicKey, error) {
	var env Envelope
	var body Body
	if err := json.Unmarshal(payload, &env); err != nil || env.Body == "" {
		return body, nil, fmt.Errorf("%w: want {\"body\": …, \"sig\": …}", ErrMalformed)
	}
	raw, err1 := base64.StdEncoding.DecodeString(env.Body)
	sig, err2 := base64.StdEncoding.DecodeString(env.Sig)
	if err1 != nil || err2 != nil {
		return body, nil, fmt.Errorf("%w: body and sig must be base64", ErrMalformed)
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return Body{}, nil, fmt.Errorf("%w: body: %v", ErrMalformed, err)
	}
	signer := v.verified(raw, sig)
	if signer == nil {
		return body, nil, ErrBadSignature
	}
	switch {
	case body.ID == "" || len(body.ID) > 128:
		return body, nil, fmt.Errorf("%w: id must have 1 to 128 characters", ErrMalformed)
	case body.Site != v.Site && body.Site != "*":
		return body, nil, fmt.Errorf("%w (%q)", ErrWrongSite, body.Site)
	case body.Name != name:
		return body, nil, fmt.Errorf("%w (%q, topic says %q)", ErrWrongName, body.Name, name)
	}
	return body, signer, nil
}

// verified returns the key that signed msg, or nil.
func (v *Verifier) verified(msg, sig []byte) ed25519.PublicKey {
	if len(sig) != ed25519.SignatureSize {
		return nil
	}
	for _, k := range v.keys() {
		if ed25519.Verify(k, msg, sig) {
			return k
		}
	}
	return nil
}
