//go:build linux

// Package diskfull makes a small file system and fills it, for the tests
// and the store-day scenario that take a disk away from the telemetry
// store.
package diskfull

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Mount mounts a tmpfs of size ("3m") on dir (made if missing). unmount
// detaches it, so a process still holding a file there does not stop it.
func Mount(dir, size string) (unmount func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		return nil, fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return func() { _ = unix.Unmount(dir, unix.MNT_DETACH) }, nil
}

// Fill writes path until its file system has no space left (ENOSPC) and
// returns a func that removes it again.
func Fill(path string) (remove func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	for buf := make([]byte, 4096); ; {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				os.Remove(path)
				return nil, fmt.Errorf("filling %s: %w", path, err)
			}
			return func() { _ = os.Remove(path) }, nil
		}
	}
}
