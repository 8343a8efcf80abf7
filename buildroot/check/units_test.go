package check

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// units are every systemd unit the firmware ships: systemd/ (installed by
// the gatewayd package) and the board overlays.
func units(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{
		filepath.Join(repoRoot, "systemd", "*.service"),
		filepath.Join(repoRoot, "systemd", "*.timer"),
		filepath.Join(repoRoot, "systemd", "*.path"),
		filepath.Join(tree, "board", "*", "rootfs-overlay", "usr", "lib", "systemd", "system", "*.service"),
		filepath.Join(tree, "board", "*", "rootfs-overlay", "usr", "lib", "systemd", "system", "*.mount"),
	} {
		m, _ := filepath.Glob(pattern)
		out = append(out, m...)
	}
	if len(out) < 5 {
		t.Fatalf("found only %v", out)
	}
	return out
}

// staged copies a unit into dir with its executables replaced by ones that
// exist here (verify checks they do): /usr/bin/gatewayd becomes this test
// binary, /usr/bin/rauc /bin/true.
func staged(t *testing.T, dir, unit string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("/usr/bin/gatewayd", self, "/usr/bin/rauc", "/bin/true").Replace(read(t, unit))
	path := filepath.Join(dir, filepath.Base(unit))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnitsVerify(t *testing.T) {
	sa := testenv.NeedCommand(t, "systemd-analyze")
	dir := t.TempDir()
	for _, u := range units(t) {
		t.Run(filepath.Base(u), func(t *testing.T) {
			out, err := exec.Command(sa, "verify", staged(t, dir, u)).CombinedOutput()
			// Units this machine lacks (rauc.service, a board's devices)
			// are named in After=/Before= only; verify does not load them.
			if err != nil || len(out) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
			}
		})
	}
}

// TestServiceExposure keeps every service at or below 2.5 in
// `systemd-analyze security --offline=yes`, and prints each figure.
func TestServiceExposure(t *testing.T) {
	sa := testenv.NeedCommand(t, "systemd-analyze")
	for _, u := range units(t) {
		if !strings.HasSuffix(u, ".service") {
			continue
		}
		name := filepath.Base(u)
		out, err := exec.Command(sa, "security", "--offline=yes", "--no-pager", u).CombinedOutput()
		m := regexp.MustCompile(`Overall exposure level for ` + regexp.QuoteMeta(name) + `: (\d+\.\d+)`).FindSubmatch(out)
		if m == nil {
			t.Errorf("%s: no exposure in output (%v):\n%s", name, err, out)
			continue
		}
		exposure, _ := strconv.ParseFloat(string(m[1]), 64)
		t.Logf("%s: exposure %.1f", name, exposure)
		if exposure > 2.5 {
			t.Errorf("%s: exposure %.1f, goal at most 2.5:\n%s", name, exposure, out)
		}
	}
}
