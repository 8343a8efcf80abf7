package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Options describe a VM that runs one command of a binary as its init.
type Options struct {
	// KernelDir holds vmlinuz and modules/<version> (fetch-kernel.sh).
	KernelDir string
	// Binary becomes /init; Args are the arguments it runs with in the
	// guest (see Guest). A dynamically linked Binary brings its libraries.
	Binary string
	Args   []string
	// Modules are loaded before the command, with their dependencies.
	Modules []string
	// Files are extra files for the archive: name in the guest -> host path.
	Files map[string]string
	// MemoryMiB and CPUs size the VM (default 1024 and 2).
	MemoryMiB, CPUs int
	// Console receives the serial console, line by line.
	Console io.Writer
	// WorkDir holds the initramfs (default a temporary directory).
	WorkDir string
}

// HostLibDirs are where a binary built here finds its libraries.
var HostLibDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"}

// Run builds the initramfs, boots the kernel under qemu-system-x86_64
// (TCG: this machine has no KVM) and returns the guest command's exit
// code. The VM has no network card: the lab lives inside it, in network
// namespaces, and nothing leaves the guest but its console.
func Run(ctx context.Context, o Options) (int, error) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return -1, fmt.Errorf("vm: %w (Debian package qemu-system-x86)", err)
	}
	kernel := filepath.Join(o.KernelDir, "vmlinuz")
	if _, err := os.Stat(kernel); err != nil {
		return -1, fmt.Errorf("vm: no kernel in %s (make vm-kernel fetches Debian's): %w", o.KernelDir, err)
	}
	dir := o.WorkDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "branchgw-vm-"); err != nil {
			return -1, err
		}
		defer os.RemoveAll(dir)
	}
	initrd := filepath.Join(dir, "initramfs.cpio")
	if err := buildGuest(initrd, o); err != nil {
		return -1, err
	}
	mem, cpus := o.MemoryMiB, o.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = 2
	}
	cmd := exec.CommandContext(ctx, qemu,
		"-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max",
		"-smp", strconv.Itoa(cpus), "-m", strconv.Itoa(mem),
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-nic", "none", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd,
		// A soft lockup panics, and a panic ends qemu (-no-reboot): a
		// guest stuck in the kernel fails at once with its console,
		// instead of spinning until the caller's timeout.
		"-append", "console=ttyS0 rdinit=/init panic=-1 softlockup_panic=1 quiet")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("vm: start qemu: %w", err)
	}
	code := -1
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			if v, ok := strings.CutPrefix(line, exitMarker); ok {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					code = n
				}
				continue
			}
			if o.Console != nil {
				fmt.Fprintln(o.Console, line)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	werr := cmd.Wait()
	pw.Close()
	<-scanned
	if code < 0 {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("vm: %w", ctx.Err())
		}
		return -1, fmt.Errorf("vm: the guest printed no exit code (qemu: %v)", werr)
	}
	return code, nil
}

// ModuleTree is the module tree of a kernel cache: modules/ itself (as
// fetch-kernel.sh leaves it) or its only version directory.
func ModuleTree(kernelDir string) string {
	dir := filepath.Join(kernelDir, "modules")
	if _, err := os.Stat(filepath.Join(dir, "kernel")); err == nil {
		return dir
	}
	if vs, _ := filepath.Glob(filepath.Join(dir, "*", "kernel")); len(vs) == 1 {
		return filepath.Dir(vs[0])
	}
	return dir
}

// buildGuest writes the initramfs: Binary as /init with its libraries,
// the modules and the GuestConfig.
func buildGuest(path string, o Options) error {
	fs := NewInitramfs()
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "etc", "root"} {
		fs.Dir(d)
	}
	if err := fs.CopyFile("init", o.Binary, 0o755); err != nil {
		return err
	}
	if err := fs.AddLibraries(o.Binary, HostLibDirs...); err != nil {
		return err
	}
	for name, src := range o.Files {
		if err := fs.CopyFile(name, src, 0o755); err != nil {
			return err
		}
	}
	mods, err := fs.AddModules(ModuleTree(o.KernelDir), o.Modules)
	if err != nil {
		return fmt.Errorf("vm: modules: %w", err)
	}
	cfg, err := json.Marshal(GuestConfig{Modules: mods, Args: o.Args})
	if err != nil {
		return err
	}
	fs.File(GuestConfigPath, 0o644, cfg)
	_, err = fs.WriteFile(path)
	return err
}
