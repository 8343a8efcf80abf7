// Package testenv decides what a test does when the machine lacks something
// it needs (root, a command, a kernel feature): outside CI it skips with the
// reason; under CI=true it fails, because CI installs everything and a skip
// there would hide a missing install step.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips the test outside CI and fails it in CI.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true, but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// NeedRoot stops the test unless it runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root (network namespaces, tc, nftables); run `sudo make test`")
	}
}

// NeedCommand returns the path of a command, or stops the test.
func NeedCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "needs %s (make deps installs it)", name)
	}
	return p
}

// NeedFile stops the test unless path exists; why says what makes it.
func NeedFile(t testing.TB, path, why string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Unavailable(t, "needs %s (%s)", path, why)
	}
}
