// Package passwd hashes and checks the technician password. It uses PBKDF2
// from the standard library so the appliance needs no extra dependency; the
// hash is a self-describing string that lives in the config:
//
//	pbkdf2-sha256$<iterations>$<salt, base64>$<key, base64>
package passwd

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	scheme = "pbkdf2-sha256"
	// DefaultIterations follows OWASP's 2023 advice for PBKDF2-HMAC-SHA256.
	DefaultIterations = 600_000
	minIterations     = 10_000
	// maxIterations bounds one check: about 10 s on the box's ARM core. A
	// hash with 2^40 held the single check slot, and with it every login,
	// for ever (issue 18, 7).
	maxIterations = 10_000_000
	keyLen        = 32
)

var b64 = base64.RawStdEncoding

// Hash is a parsed password hash.
type Hash struct {
	Iterations int
	Salt, Key  []byte
}

// New hashes password with a fresh random salt.
func New(password string, iterations int) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, iterations, keyLen)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s$%d$%s$%s", scheme, iterations, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Parse checks the form of a hash string.
func Parse(s string) (Hash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != scheme {
		return Hash{}, errors.New(`not a password hash (want "pbkdf2-sha256$…", made by gwctl hash-password)`)
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < minIterations || n > maxIterations {
		return Hash{}, fmt.Errorf("password hash: iterations %q: want a number from %d to %d", parts[1], minIterations, maxIterations)
	}
	salt, err1 := b64.DecodeString(parts[2])
	key, err2 := b64.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) != keyLen {
		return Hash{}, errors.New("password hash: salt or key is not valid base64 of the right length")
	}
	return Hash{Iterations: n, Salt: salt, Key: key}, nil
}

// Verify reports whether password matches the hash, in constant time.
func Verify(hash, password string) bool {
	h, err := Parse(hash)
	if err != nil {
		return false
	}
	key, err := pbkdf2.Key(sha256.New, password, h.Salt, h.Iterations, keyLen)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(key, h.Key) == 1
}
