package check

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/branchgw/branchgw/netctl/kernelreq"
	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// fragment reads a kernel config fragment into symbol (no CONFIG_) -> value.
func fragment(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	set := regexp.MustCompile(`^CONFIG_(\w+)=(.+)$`)
	unset := regexp.MustCompile(`^# CONFIG_(\w+) is not set$`)
	sc := bufio.NewScanner(strings.NewReader(read(t, path)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch m, u := set.FindStringSubmatch(line), unset.FindStringSubmatch(line); {
		case m != nil:
			if _, dup := out[m[1]]; dup {
				t.Errorf("%s:%d: CONFIG_%s set twice", path, n, m[1])
			}
			out[m[1]] = m[2]
		case u != nil:
			out[u[1]] = "n"
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			t.Errorf("%s:%d: not a config line: %q", path, n, line)
		}
	}
	return out
}

// TestFragmentHasKernelreq: the common fragment enables every feature
// the code lists in netctl/kernelreq; a bool (no module) must be =y.
func TestFragmentHasKernelreq(t *testing.T) {
	frag := fragment(t, filepath.Join(tree, "board", "common", "linux.fragment"))
	for _, f := range kernelreq.All() {
		v := frag[f.Config]
		switch {
		case v == "y":
		case v == "m" && f.Module != "":
		case v == "m":
			t.Errorf("%s (%s): CONFIG_%s=m, but it must be built in (=y)", f.Name, f.Why, f.Config)
		default:
			t.Errorf("%s (%s): CONFIG_%s is missing from board/common/linux.fragment", f.Name, f.Why, f.Config)
		}
	}
}

// TestFragmentSymbolsAreReal compares the fragments with a real kernel's
// config (Debian's arm64, fetched for the image smoke test): a misspelled
// symbol there is dropped by the kernel's olddefconfig without a word.
func TestFragmentSymbolsAreReal(t *testing.T) {
	cache := os.Getenv("BRANCHGW_SMOKE_CACHE")
	if cache == "" {
		cache = filepath.Join(repoRoot, ".tools", "image-smoke")
	}
	kconfig := filepath.Join(cache, "kernel-config")
	testenv.NeedFile(t, kconfig, "`make smoke-fetch` puts Debian's arm64 kernel config there")
	known := map[string]bool{}
	sym := regexp.MustCompile(`^(?:# )?CONFIG_(\w+)(?:=| is not set)`)
	for _, line := range strings.Split(read(t, kconfig), "\n") {
		if m := sym.FindStringSubmatch(line); m != nil {
			known[m[1]] = true
		}
	}
	// Symbols of other architectures, which an arm64 config cannot list.
	otherArch := map[string]bool{"ITCO_WDT": true, "SP5100_TCO": true, "I6300ESB_WDT": true}
	frags, _ := filepath.Glob(filepath.Join(tree, "board", "*", "linux.fragment"))
	for _, p := range frags {
		for s := range fragment(t, p) {
			if !known[s] && !otherArch[s] {
				t.Errorf("%s: CONFIG_%s is not a symbol of Debian's %s kernel", p, s, filepath.Base(cache))
			}
		}
	}
}
