//go:build linux

package netlab

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// labState is what a lab remembers across processes (`gwlab impair` runs
// in one process, `gwlab status` in the next): the impairments and rates
// it set, kept in RunDir/<prefix>/impair.json.
type labState struct {
	Impair [2]impairState
	Shapes [2]ISPShape
}

func (l *Lab) statePath() string { return filepath.Join(RunDir, l.Prefix, "impair.json") }

// saveState records the impairments; failing to is logged, not fatal: the
// kernel state is what counts, the file only informs later processes.
func (l *Lab) saveState() {
	l.mu.Lock()
	st := labState{Impair: l.imp, Shapes: l.shapes}
	l.mu.Unlock()
	b, _ := json.Marshal(st)
	if _, err := l.Dir(); err == nil {
		tmp := l.statePath() + ".tmp"
		if err = os.WriteFile(tmp, b, 0o644); err == nil {
			err = os.Rename(tmp, l.statePath())
		}
		if err == nil {
			return
		}
	}
	l.log.Warn("netlab: cannot record impairments", "path", l.statePath())
}

// loadState reads what an earlier process recorded; a missing or bad file
// leaves the defaults.
func (l *Lab) loadState() bool {
	b, err := os.ReadFile(l.statePath())
	if err != nil {
		return false
	}
	var st labState
	if json.Unmarshal(b, &st) != nil {
		return false
	}
	l.mu.Lock()
	l.imp, l.shapes = st.Impair, st.Shapes
	l.mu.Unlock()
	return true
}
