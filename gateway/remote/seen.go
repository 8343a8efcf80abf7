package remote

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Seen remembers command ids until they expire, so a replayed command is
// refused even across a daemon restart (the file survives it).
type Seen struct {
	mu   sync.Mutex
	path string // "" keeps it in memory only
	ids  map[string]time.Time
}

// LoadSeen reads the cache file; a missing or unreadable file starts empty
// (an expired id is refused anyway, so the loss window is bounded).
func LoadSeen(path string) *Seen {
	s := &Seen{path: path, ids: map[string]time.Time{}}
	if path == "" {
		return s
	}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &s.ids)
	}
	return s
}

// Add records id and reports whether it is new.
func (s *Seen) Add(id string, expires, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, exp := range s.ids {
		if !now.Before(exp) {
			delete(s.ids, k)
		}
	}
	if _, dup := s.ids[id]; dup {
		return false
	}
	s.ids[id] = expires
	_ = s.save() // a failed save only weakens replay protection across restarts
	return true
}

// save writes the file atomically (temp file and rename).
func (s *Seen) save() error {
	if s.path == "" {
		return nil
	}
	b, err := json.Marshal(s.ids)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return err
	}
	if err := writeFileAtomic(s.path, b, 0o600); err != nil {
		return fmt.Errorf("seen ids: %w", err)
	}
	return nil
}
