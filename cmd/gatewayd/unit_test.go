package main

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

const unitFile = "../../systemd/gatewayd.service"

// unitWithBinary is the shipped unit with ExecStart pointing at the test
// binary, because verify checks that the command exists.
func unitWithBinary(t *testing.T) string {
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gatewayd.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(b), "/usr/bin/gatewayd", gatewayd)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnitVerifies(t *testing.T) {
	sa := testenv.NeedCommand(t, "systemd-analyze")
	out, err := exec.Command(sa, "verify", unitWithBinary(t)).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestUnitExposure keeps `systemd-analyze security` at or below 2.5.
func TestUnitExposure(t *testing.T) {
	sa := testenv.NeedCommand(t, "systemd-analyze")
	out, err := exec.Command(sa, "security", "--offline=yes", "--no-pager", unitFile).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for gatewayd.service: (\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure in output (%v):\n%s", err, out)
	}
	exposure, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security exposure: %.1f", exposure)
	if exposure > 2.5 {
		t.Errorf("exposure %.1f, goal at most 2.5:\n%s", exposure, out)
	}
}
