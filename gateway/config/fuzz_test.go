package config

import (
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Budgets of one config load, whatever the input: a push from head office
// or a file on the box must never stall the daemon or swell its memory.
const (
	fuzzMaxCPU   = time.Second
	fuzzMaxAlloc = 64 << 20
)

// threadCPU is the CPU time of the calling OS thread. Unlike wall-clock time
// it does not grow while the machine is busy with something else, so the
// budget holds on a loaded CI box.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// FuzzLoad parses arbitrary bytes as a config. It must answer (a config or
// errors) within fuzzMaxCPU of CPU time and fuzzMaxAlloc of allocation, for
// any input up to 1 MiB; the seeds include the attacks of attack_test.go.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		string(Example), minimal, aliasBomb(), "",
		minimal + "---\nsite: s2\n",
		"site: &a s1\nwan: [*a, *a]\n",
		"a: &x [*x, *x]\n",
		strings.Repeat("- [", 10000),
		"[" + strings.Repeat("a,", 64<<10-1), // yaml.v3's worst case we found: ~30 MiB
		"[" + strings.Repeat("{},", 42<<10),
		strings.Repeat("{}, ", 1<<18), // 1 MiB
		"version: 9223372036854775807\n" + minimal,
		minimal + "mqtt:\n  password_file: /dev/zero\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<20 {
			return
		}
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cpu := threadCPU()
		c, err := Parse(in, dir)
		cpu = threadCPU() - cpu
		runtime.ReadMemStats(&after)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v: want exactly one", c != nil, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > fuzzMaxAlloc {
			t.Errorf("%d input bytes allocated %d MiB (budget %d MiB)", len(in), alloc>>20, fuzzMaxAlloc>>20)
		}
		if cpu > fuzzMaxCPU {
			t.Errorf("%d input bytes took %s of CPU (budget %s)", len(in), cpu, fuzzMaxCPU)
		}
	})
}
