//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/branchgw/branchgw/netctl/netlab/vm"
	"github.com/branchgw/branchgw/netctl/qos/qosbench"
)

// qosResultLine starts the line a run in the VM prints its result on, as
// JSON, for the host to read off the console.
const qosResultLine = "gwlab-qos-result: "

// cmdBenchQoS measures POS latency under load on the lab (see qosbench):
// idle, loaded without QoS, loaded with QoS and while reconfiguring, on
// this machine's kernel (the fallback leaf qdisc where fq_codel and cake
// are missing), then again in `gwlab vm` with Debian's kernel (fq_codel)
// and a netem round trip on the lines, and prints both side by side with
// the goals.
func cmdBenchQoS(ctx context.Context, args []string, stdout io.Writer) error {
	var v vmFlags
	var phase, warmup, rtt, vmRTT time.Duration
	var host bool
	var inVM, jsonOut string
	fs, _, err := flags("bench qos", args, func(fs *flag.FlagSet) {
		v.register(fs)
		fs.DurationVar(&phase, "phase", 10*time.Second, "measured length of each phase")
		fs.DurationVar(&warmup, "warmup", 3*time.Second, "load before a loaded phase is measured")
		fs.DurationVar(&rtt, "rtt", 0, "netem round trip on the lab's lines for the host run (needs sch_netem)")
		fs.DurationVar(&vmRTT, "vm-rtt", 30*time.Millisecond, "netem round trip on the lines in the VM")
		fs.BoolVar(&host, "host", true, "run on this machine's kernel")
		fs.StringVar(&inVM, "vm", "auto", "run in `gwlab vm` too: on, off, or auto (when the kernel cache exists)")
		fs.StringVar(&jsonOut, "json", "", "write the results as JSON to this file")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("bench qos: unexpected %q", fs.Args())
	}
	switch inVM {
	case "on", "off", "auto":
	default:
		return usagef("-vm %q: want on, off or auto", inVM)
	}
	if phase < time.Second || warmup < 0 {
		return usagef("-phase %v -warmup %v: want a phase of at least 1s", phase, warmup)
	}
	if inVM == "auto" {
		inVM = "on"
		if err := v.available(); err != nil {
			inVM = "off"
			fmt.Fprintf(stdout, "gwlab bench qos: not running in the VM: %v\n", err)
		}
	}
	if !host && inVM == "off" {
		return usagef("bench qos: -host=false -vm off leaves nothing to run")
	}
	var runs []qosbench.LabResult
	if host {
		fmt.Fprintf(stdout, "gwlab bench qos: this kernel, phases of %v after %v of load\n", phase, warmup)
		res, err := qosbench.RunLab(ctx, qosbench.LabOptions{Log: quiet(), RTT: rtt, Warmup: warmup, Phase: phase, Reconfigure: true})
		if err != nil {
			return err
		}
		printQoSRun(stdout, "", res)
		runs = append(runs, res)
		if vm.IsGuest() { // the run inside `gwlab vm`: hand the result to the host
			b, _ := json.Marshal(res)
			fmt.Fprintf(stdout, "%s%s\n", qosResultLine, b)
		}
	}
	if inVM == "on" {
		fmt.Fprintf(stdout, "gwlab bench qos: in a VM, %s (TCG, %d CPUs), netem round trip %v\n", v.describe(), v.cpus, vmRTT)
		res, err := benchQoSInVM(ctx, &v, stdout, []string{"bench", "qos", "-vm", "off",
			"-rtt", vmRTT.String(), "-phase", phase.String(), "-warmup", warmup.String()})
		if err != nil {
			return err
		}
		runs = append(runs, res)
	}
	if len(runs) > 1 {
		printQoSComparison(stdout, runs)
	}
	if jsonOut != "" {
		b, err := json.MarshalIndent(runs, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(jsonOut, b, 0o644)
	}
	return nil
}

// benchQoSInVM runs gwlab args in the VM, echoing its console, and returns
// the result it printed.
func benchQoSInVM(ctx context.Context, v *vmFlags, stdout io.Writer, args []string) (qosbench.LabResult, error) {
	var res qosbench.LabResult
	c := &resultCatcher{out: prefixLines{stdout, "vm| "}}
	if err := v.run(ctx, args, c); err != nil {
		return res, err
	}
	line := c.result()
	if line == "" {
		return res, errors.New("bench qos: the VM printed no result")
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return res, fmt.Errorf("bench qos: the VM's result: %w", err)
	}
	return res, nil
}

// resultCatcher passes console lines on, keeping the result line aside.
type resultCatcher struct {
	out  io.Writer
	mu   sync.Mutex
	line string
}

func (c *resultCatcher) Write(b []byte) (int, error) {
	if i := bytes.Index(b, []byte(qosResultLine)); i >= 0 {
		c.mu.Lock()
		c.line = strings.TrimSpace(string(b[i+len(qosResultLine):]))
		c.mu.Unlock()
		return len(b), nil
	}
	return c.out.Write(b)
}

func (c *resultCatcher) result() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.line
}

// quiet keeps the lab's and QoS's info lines out of the figures.
func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func printQoSRun(w io.Writer, indent string, r qosbench.LabResult) {
	fmt.Fprintf(w, "%skernel %s, leaf qdisc %s, netem round trip %v; line %.0f/%.0f Mbit/s down/up, shaped to %.1f/%.1f\n",
		indent, r.Kernel, r.Leaf, r.RTT, float64(r.LineDown)/1e6, float64(r.LineUp)/1e6, float64(r.ShapedDown)/1e6, float64(r.ShapedUp)/1e6)
	for _, l := range strings.Split(strings.TrimRight(r.Result.Table(), "\n"), "\n") {
		fmt.Fprintf(w, "%s%s\n", indent, l)
	}
	for _, g := range qosGoals(r) {
		fmt.Fprintf(w, "%s%s\n", indent, g)
	}
}

// qosGoals are the goals, met or missed, for one run.
func qosGoals(r qosbench.LabResult) []string {
	idle, noQoS, withQoS, reconf := r.Phase(qosbench.Idle), r.Phase(qosbench.LoadedNoQoS), r.Phase(qosbench.LoadedQoS), r.Phase(qosbench.Reconfig)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	limit := idle.P99 + 10*time.Millisecond
	sh := r.Shares(withQoS)
	return []string{
		fmt.Sprintf("goal: POS p99 with QoS %s <= idle p99 + 10ms (%s): %s; without QoS it was %s",
			msf(withQoS.P99), msf(limit), verdict(withQoS.P99 <= limit), msf(noQoS.P99)),
		fmt.Sprintf("goal: >= 90%% of the shaped rate used (shaper counters): download %.0f%%, upload %.0f%%: %s; bulk goodput alone %.0f%% / %.0f%%",
			100*sh.ShaperDown, 100*sh.ShaperUp, verdict(sh.ShaperDown >= 0.9 && sh.ShaperUp >= 0.9),
			100*sh.GoodDown, 100*sh.GoodUp),
		fmt.Sprintf("goal: no POS transaction lost with QoS: %d lost steady, %d while reconfiguring %d times: %s (the modem's buffer dropped %d and %d packets; without QoS %d)",
			withQoS.Lost, reconf.Lost, reconf.Reconfigs, verdict(withQoS.Lost == 0 && reconf.Lost == 0),
			withQoS.ModemDrops, reconf.ModemDrops, noQoS.ModemDrops),
	}
}

// printQoSComparison puts the runs' headline figures side by side.
func printQoSComparison(w io.Writer, runs []qosbench.LabResult) {
	fmt.Fprintf(w, "\nPOS round trip p50 / p99, side by side\n%-28s", "")
	for _, r := range runs {
		fmt.Fprintf(w, " %-40s", fmt.Sprintf("%s, %s, +%v", r.Kernel, r.Leaf, r.RTT))
	}
	fmt.Fprintln(w)
	for _, name := range []string{qosbench.Idle, qosbench.LoadedNoQoS, qosbench.LoadedQoS, qosbench.Reconfig} {
		fmt.Fprintf(w, "%-28s", name)
		for _, r := range runs {
			p := r.Phase(name)
			fmt.Fprintf(w, " %-40s", fmt.Sprintf("%s / %s", msf(p.P50), msf(p.P99)))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%-28s", "shaped rate used, down / up")
	for _, r := range runs {
		sh := r.Shares(r.Phase(qosbench.LoadedQoS))
		fmt.Fprintf(w, " %-40s", fmt.Sprintf("%.0f%% / %.0f%% (bulk goodput %.0f%% / %.0f%%)",
			100*sh.ShaperDown, 100*sh.ShaperUp, 100*sh.GoodDown, 100*sh.GoodUp))
	}
	fmt.Fprintln(w)
}

// msf prints a latency in milliseconds with two decimals: idle lab RTTs
// are fractions of one.
func msf(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }
