//go:build linux

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
	"github.com/branchgw/branchgw/netctl/qos"
	"github.com/branchgw/branchgw/netctl/qos/qosbench"
)

// TestBenchQoSInVM runs `gwlab bench qos` in `gwlab vm`, as `make bench`
// does, with short phases: Debian's kernel boots, the lab and QoS run in
// it with fq_codel leaves and a netem round trip, and the result comes
// back to the host. It asserts what the VM is for (the real leaf qdisc,
// the delay on the lines) and ratios between phases, never a time: QoS
// must cut the loaded p99 at least threefold and lose no POS transaction,
// also while reconfiguring.
func TestBenchQoSInVM(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "qemu-system-x86_64")
	kernel := defaultKernelDir()
	if !filepath.IsAbs(kernel) {
		kernel = filepath.Join("..", "..", kernel) // the Makefile's cache, from this package's directory
	}
	testenv.NeedFile(t, filepath.Join(kernel, "vmlinuz"), "`make vm-kernel` fetches Debian's kernel")
	dir := t.TempDir()
	bin := filepath.Join(dir, "gwlab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	result := filepath.Join(dir, "qos.json")
	const rtt = "30ms"
	cmd := exec.Command(bin, "bench", "qos", "-host=false", "-vm", "on", "-kernel", kernel,
		"-vm-rtt", rtt, "-phase", "4s", "-warmup", "2s", "-json", result,
		"-timeout", "5m") // it takes under a minute; a stuck guest fails here, not at go test's timeout
	out, err := cmd.CombinedOutput()
	t.Logf("gwlab bench qos in the VM:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(result)
	if err != nil {
		t.Fatal(err)
	}
	var runs []qosbench.LabResult
	if err := json.Unmarshal(b, &runs); err != nil || len(runs) != 1 {
		t.Fatalf("result %s: %v, %d runs", b, err, len(runs))
	}
	r := runs[0]
	if r.Leaf != qos.LeafFqCodel {
		t.Errorf("leaf qdisc in the VM: %q, want %s (Debian's kernel has it)", r.Leaf, qos.LeafFqCodel)
	}
	if r.RTT.String() != rtt {
		t.Errorf("netem round trip %v, want %s", r.RTT, rtt)
	}
	idle, noQoS, withQoS, reconf := r.Phase(qosbench.Idle), r.Phase(qosbench.LoadedNoQoS), r.Phase(qosbench.LoadedQoS), r.Phase(qosbench.Reconfig)
	// The idle round trip includes the netem delay: the lines are slow.
	if idle.P50 < r.RTT*9/10 {
		t.Errorf("idle p50 %v is below the %v netem round trip", idle.P50, r.RTT)
	}
	if withQoS.Sent == 0 || 3*withQoS.P99 > noQoS.P99 {
		t.Errorf("loaded p99 without QoS %v, with QoS %v: want QoS at least 3x better", noQoS.P99, withQoS.P99)
	}
	if withQoS.Lost > 0 || reconf.Lost > 0 || reconf.Reconfigs < 5 {
		t.Errorf("POS lost with QoS: %d, while reconfiguring %d times: %d", withQoS.Lost, reconf.Reconfigs, reconf.Lost)
	}
}
