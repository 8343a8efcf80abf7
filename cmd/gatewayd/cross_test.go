package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

// TestCrossBinariesUnderQEMU runs the ARM builds of `make cross` under
// qemu-user: they start, link SQLite, and validate the example config.
func TestCrossBinariesUnderQEMU(t *testing.T) {
	example, _ := filepath.Abs("../../gateway/config/example.yaml")
	for _, tc := range []struct {
		arch, qemu, sysroot, goarch string
	}{
		{"arm64", "qemu-aarch64", "/usr/aarch64-linux-gnu", "linux/arm64"},
		{"armv7", "qemu-arm", "/usr/arm-linux-gnueabihf", "linux/armv7"},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			bin, _ := filepath.Abs("../../bin/gatewayd-linux-" + tc.arch)
			testenv.NeedFile(t, bin, "make cross builds it")
			qemu := testenv.NeedCommand(t, tc.qemu)
			testenv.NeedFile(t, tc.sysroot, "the Debian cross libc, installed by make deps")
			out, err := exec.Command(qemu, "-L", tc.sysroot, bin, "-version").CombinedOutput()
			if err != nil {
				t.Fatalf("-version: %v\n%s", err, out)
			}
			if s := string(out); !strings.Contains(s, ", "+tc.goarch+")\n") || !strings.Contains(s, "\nsqlite 3.") {
				t.Errorf("-version printed %q", s)
			}
			out, err = exec.Command(qemu, "-L", tc.sysroot, bin, "-check-config", "-config", example).CombinedOutput()
			if err != nil || string(out) != example+": OK (site store-0042, 2 WANs, 3 zones)\n" {
				t.Errorf("-check-config: %v: %q", err, out)
			}
			out, err = exec.Command("file", "-b", bin).Output()
			if err == nil && !strings.Contains(string(out), "stripped") {
				t.Errorf("not stripped: %s", out)
			}
		})
	}
}
