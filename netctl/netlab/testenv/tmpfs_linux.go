//go:build linux

package testenv

import (
	"testing"

	"github.com/branchgw/branchgw/netctl/netlab/diskfull"
)

// Tmpfs mounts a tmpfs of size ("3m") on a new temporary directory, for
// tests that fill a disk, and unmounts it when the test ends.
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	NeedRoot(t)
	dir := t.TempDir()
	unmount, err := diskfull.Mount(dir, size)
	if err != nil {
		Unavailable(t, "%v", err)
	}
	t.Cleanup(unmount)
	return dir
}

// Fill writes path until its file system is full and returns a func that
// removes it again; any error but ENOSPC fails the test.
func Fill(t testing.TB, path string) (remove func()) {
	t.Helper()
	remove, err := diskfull.Fill(path)
	if err != nil {
		t.Fatal(err)
	}
	return remove
}
