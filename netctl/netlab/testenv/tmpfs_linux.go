//go:build linux

package testenv

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Tmpfs mounts a tmpfs of size ("3m") on a new temporary directory, for
// tests that fill a disk, and unmounts it when the test ends.
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	NeedRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		Unavailable(t, "mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// Fill writes path until its file system is full (ENOSPC; any other error
// fails the test) and returns a func that removes it again.
func Fill(t testing.TB, path string) (remove func()) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for buf := make([]byte, 4096); ; {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatalf("filling %s: %v", path, err)
			}
			return func() { _ = os.Remove(path) }
		}
	}
}
