//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RunDir holds each lab's runtime files (server configs, pid files) under
// RunDir/<prefix>; Clean removes it with the namespaces.
const RunDir = "/run/netlab"

// labNSRE matches the namespaces a lab makes, whatever its prefix.
var labNSRE = regexp.MustCompile(`^(` + PrefixBase + `[0-9a-f]{4})-[a-z0-9]+$`)

// Leftover is something a lab left behind.
type Leftover struct {
	Namespace string
	Pids      []int
}

// Leftovers lists what remains of the lab with this prefix; an empty
// prefix lists every lab's leftovers.
func Leftovers(prefix string) ([]Leftover, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	var out []Leftover
	for _, e := range entries {
		m := labNSRE.FindStringSubmatch(e.Name())
		if m == nil || (prefix != "" && m[1] != prefix) {
			continue
		}
		out = append(out, Leftover{Namespace: e.Name(), Pids: pidsIn(filepath.Join(netnsDir, e.Name()))})
	}
	return out, nil
}

// Prefixes lists the prefixes of labs that exist now.
func Prefixes() ([]string, error) {
	left, err := Leftovers("")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, lo := range left {
		p := labNSRE.FindStringSubmatch(lo.Namespace)[1]
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Clean removes a lab's namespaces, the processes running in them and its
// runtime directory, whoever made them. Use it after a crash; Lab.Close
// calls it too. An empty prefix cleans every lab.
func Clean(prefix string, log *slog.Logger) error {
	if prefix != "" && !ValidPrefix(prefix) {
		return fmt.Errorf("netlab: clean: prefix %q: want %s plus 4 hex digits", prefix, PrefixBase)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	left, err := Leftovers(prefix)
	if err != nil {
		return err
	}
	var errs []error
	var pids []int
	for _, lo := range left {
		pids = append(pids, lo.Pids...)
	}
	killAll(pids, log)
	for _, lo := range left {
		if err := deleteNamedNS(lo.Namespace); err != nil {
			errs = append(errs, err)
		}
	}
	dirs := []string{filepath.Join(RunDir, prefix)}
	if prefix == "" {
		dirs, _ = filepath.Glob(filepath.Join(RunDir, PrefixBase+"*"))
	}
	for _, d := range dirs {
		unmountUnder(d) // a crashed scenario's store tmpfs
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(left) > 0 {
		log.Info("lab cleaned", "prefix", prefix, "namespaces", len(left), "processes", len(pids))
	}
	return errors.Join(errs...)
}

// unmountUnder detaches every mount below dir.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		// id parent major:minor root mountpoint ...
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			_ = unix.Unmount(f[4], unix.MNT_DETACH)
		}
	}
}

// killAll ends the given processes: SIGTERM, then SIGKILL after 2 s.
func killAll(pids []int, log *slog.Logger) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			log.Warn("netlab: process ignored SIGTERM, killing", "pid", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// pidsIn lists the processes whose network namespace is the one bound at
// nsPath (same nsfs inode).
func pidsIn(nsPath string) []int {
	var want syscall.Stat_t
	if err := syscall.Stat(nsPath, &want); err != nil {
		return nil
	}
	procs, _ := os.ReadDir("/proc")
	var out []int
	self := os.Getpid()
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", e.Name(), "ns/net"), &st) != nil {
			continue
		}
		if st.Ino == want.Ino && st.Dev == want.Dev {
			out = append(out, pid)
		}
	}
	return out
}
