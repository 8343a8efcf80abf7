// Package configtest edits the shipped example config for tests one way:
// by field path (config.Edit), failing the test when a path is not in the
// example, so a renamed field cannot leave a test running on a config it
// did not mean.
package configtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/branchgw/branchgw/gateway/config"
)

// Example is the example config with set applied.
func Example(t testing.TB, set map[string]any) []byte {
	t.Helper()
	return Edit(t, config.Example, set)
}

// Edit is src, a config file, with set applied.
func Edit(t testing.TB, src []byte, set map[string]any) []byte {
	t.Helper()
	b, err := config.Edit(src, set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Write writes the example with set applied to dir/gatewayd.yaml and
// returns its path.
func Write(t testing.TB, dir string, set map[string]any) string {
	t.Helper()
	path := filepath.Join(dir, "gatewayd.yaml")
	if err := os.WriteFile(path, Example(t, set), 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}
