//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/branchgw/branchgw/netctl/kernelreq"
	"github.com/branchgw/branchgw/netctl/netlab/vm"
)

// vmModules are loaded in the VM: gatewayd's (kernelreq, with fq_codel and
// cake) and the lab's own: veth pairs, the LAN bridge, ISP shaping with netem.
var vmModules = append(kernelreq.Modules(), "veth", "bridge", "sch_tbf", "sch_netem", "nft_numgen", "nft_reject_inet", "nft_fib_inet")

// vmFlags are the VM's size and kernel, shared by `gwlab vm` and
// `gwlab bench qos`.
type vmFlags struct {
	kernel    string
	binary    string
	mem, cpus int
	timeout   time.Duration
}

func (v *vmFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&v.kernel, "kernel", defaultKernelDir(), "Debian kernel cache (make vm-kernel fills it)")
	fs.StringVar(&v.binary, "gwlab", "", "the gwlab binary to run in the VM (default: this one)")
	fs.IntVar(&v.mem, "mem", 1024, "VM memory in MiB")
	fs.IntVar(&v.cpus, "cpus", 2, "VM CPUs")
	fs.DurationVar(&v.timeout, "timeout", 30*time.Minute, "give up on the VM after this long")
}

// defaultKernelDir is $BRANCHGW_VM_KERNEL, else the Makefile's cache.
func defaultKernelDir() string {
	if d := os.Getenv("BRANCHGW_VM_KERNEL"); d != "" {
		return d
	}
	return filepath.Join(".tools", "vm-kernel")
}

// available says why the VM cannot run, or nil.
func (v *vmFlags) available() error {
	if _, err := os.Stat(filepath.Join(v.kernel, "vmlinuz")); err != nil {
		return fmt.Errorf("no kernel in %s: `make vm-kernel` fetches Debian's", v.kernel)
	}
	return nil
}

// describe names the kernel for the output.
func (v *vmFlags) describe() string {
	pkg, err := os.ReadFile(filepath.Join(v.kernel, "kernel-package"))
	if err != nil {
		return v.kernel
	}
	return strings.TrimSpace(string(pkg))
}

// run boots the VM with gwlab args as its command; the console goes to
// console line by line.
func (v *vmFlags) run(ctx context.Context, args []string, console io.Writer) error {
	if err := v.available(); err != nil {
		return err
	}
	bin := v.binary
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		bin = self
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	code, err := vm.Run(ctx, vm.Options{
		KernelDir: v.kernel, Binary: bin, Args: args, Modules: vmModules,
		MemoryMiB: v.mem, CPUs: v.cpus, Console: console,
	})
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("vm: `gwlab %s` exited with %d", strings.Join(args, " "), code)
	}
	return nil
}

// cmdVM runs a gwlab command inside a QEMU VM booting Debian's stock
// kernel, which has what this machine's lacks (fq_codel, cake, netem): the
// lab, its namespaces and traffic all live in the VM.
func cmdVM(ctx context.Context, args []string, stdout io.Writer) error {
	var v vmFlags
	fs, _, err := flags("vm", args, func(fs *flag.FlagSet) { v.register(fs) })
	if err != nil {
		return err
	}
	if fs.NArg() == 0 || fs.Arg(0) == "vm" {
		return usagef("vm: want a gwlab command to run in the VM, e.g. `gwlab vm -- bench qos`")
	}
	fmt.Fprintf(stdout, "gwlab vm: %s under qemu-system-x86_64 (TCG, %d CPUs, %d MiB): gwlab %s\n",
		v.describe(), v.cpus, v.mem, strings.Join(fs.Args(), " "))
	return v.run(ctx, fs.Args(), prefixLines{stdout, "vm| "})
}

// prefixLines writes each line it is given (vm.Run writes whole lines)
// behind a prefix.
type prefixLines struct {
	w      io.Writer
	prefix string
}

func (p prefixLines) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}
