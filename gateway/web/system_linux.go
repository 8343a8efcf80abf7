//go:build linux

package web

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// sysSampler reads the box's CPU, memory, disk and load from /proc and
// statfs. CPU use is the busy share between two samples.
type sysSampler struct {
	paths     []string
	mu        sync.Mutex
	busy, tot uint64
	pageSize  uint64
}

func newSysSampler(paths []string) *sysSampler {
	return &sysSampler{paths: paths, pageSize: uint64(os.Getpagesize())}
}

func (s *sysSampler) sample() System {
	var out System
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := bytes.Cut(b, []byte("\n"))
		f := strings.Fields(string(line))
		var busy, tot uint64
		for i, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			tot += n
			if i != 3 && i != 4 { // idle and iowait
				busy += n
			}
		}
		s.mu.Lock()
		if tot > s.tot && s.tot != 0 {
			out.CPUPercent = 100 * float64(busy-s.busy) / float64(tot-s.tot)
		}
		s.busy, s.tot = busy, tot
		s.mu.Unlock()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		var avail uint64
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "MemTotal":
				out.MemTotal = n * 1024
			case "MemAvailable":
				avail = n * 1024
			}
		}
		f.Close()
		if out.MemTotal >= avail {
			out.MemUsed = out.MemTotal - avail
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			out.Load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			out.ProcessRSS = n * s.pageSize
		}
	}
	// The fullest of the watched filesystems is the one that matters.
	for _, p := range s.paths {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) != nil || st.Blocks == 0 {
			continue
		}
		total := st.Blocks * uint64(st.Bsize)
		used := total - st.Bavail*uint64(st.Bsize)
		if out.DiskTotal == 0 || float64(used)/float64(total) > float64(out.DiskUsed)/float64(out.DiskTotal) {
			out.DiskTotal, out.DiskUsed, out.DiskPath = total, used, p
		}
	}
	return out
}
