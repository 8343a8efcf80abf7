//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
)

// netnsDir is where named namespaces live (as `ip netns` keeps them).
const netnsDir = "/run/netns"

// inNS runs fn on an OS thread switched into ns. The thread is given back to
// the Go scheduler only if switching back succeeded; otherwise it stays
// locked and dies with the goroutine, so no other code ever runs in the
// wrong namespace.
func inNS(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: current: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: enter: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it exits with this goroutine.
		return errors.Join(ferr, fmt.Errorf("netns: restore: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// newNamedNS creates the named namespace and returns an open handle,
// leaving the calling thread where it was.
func newNamedNS(name string) (netns.NsHandle, error) {
	var h netns.NsHandle
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return netns.None(), fmt.Errorf("netns: current: %w", err)
	}
	defer orig.Close()
	h, err = netns.NewNamed(name)
	// NewNamed may have switched the thread even when it failed.
	if rerr := netns.Set(orig); rerr != nil {
		if h.IsOpen() {
			h.Close()
		}
		return netns.None(), fmt.Errorf("netns %s: restore: %w", name, rerr)
	}
	runtime.UnlockOSThread()
	if err != nil {
		return netns.None(), fmt.Errorf("netns %s: create: %w", name, err)
	}
	return h, nil
}

// deleteNamedNS removes a named namespace; a missing one is not an error.
func deleteNamedNS(name string) error {
	path := filepath.Join(netnsDir, name)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := netns.DeleteNamed(name); err != nil {
		// A file that is no longer a mount point (half-made namespace) is
		// removed directly.
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return fmt.Errorf("netns %s: delete: %w", name, err)
		}
	}
	return nil
}

// writeSysctl writes a /proc/sys value; called inside inNS, the net.*
// values are the namespace's.
func writeSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", filepath.FromSlash(replaceDots(key)))
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

func replaceDots(key string) string {
	b := []byte(key)
	for i := range b {
		if b[i] == '.' {
			b[i] = '/'
		}
	}
	return string(b)
}
