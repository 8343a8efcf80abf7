package smoke

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/branchgw/branchgw/netctl/kernelreq"
	"github.com/branchgw/branchgw/netctl/netlab/testenv"
	"github.com/branchgw/branchgw/netctl/netlab/vm"
)

const (
	repoRoot = "../.."
	sysroot  = "/usr/aarch64-linux-gnu"
	// bootLimit bounds the whole boot; TCG on a busy 2-core CI machine is
	// slow, but a healthy run takes well under a minute.
	bootLimit = 4 * time.Minute
)

// cacheDir is where netctl/netlab/vm/fetch-kernel.sh put the kernel and busybox.
func cacheDir() string {
	if d := os.Getenv("BRANCHGW_SMOKE_CACHE"); d != "" {
		return d
	}
	return filepath.Join(repoRoot, ".tools", "image-smoke")
}

// smokeModules are loaded at boot: the virtio NIC driver and its transport,
// then every module gatewayd needs (netctl/kernelreq), so its components find
// the kernel the firmware would give them.
var smokeModules = append([]string{"virtio_pci", "virtio_net"}, kernelreq.Modules()...)

func TestImageSmoke(t *testing.T) {
	cache := cacheDir()
	testenv.NeedFile(t, filepath.Join(cache, "vmlinuz"), "`make image-smoke` fetches it from Debian")
	qemu := testenv.NeedCommand(t, "qemu-system-aarch64")
	bin := filepath.Join(repoRoot, "bin", "gatewayd-linux-arm64")
	testenv.NeedFile(t, bin, "`make cross` builds it")
	testenv.NeedFile(t, sysroot, "the Debian arm64 cross libc, installed by make deps")

	dir := t.TempDir()
	initrd := filepath.Join(dir, "initramfs.cpio")
	size, err := buildInitramfs(initrd, bin, cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("initramfs: %.1f MiB", float64(size)/(1<<20))

	port := freePort(t)
	kernelPkg, _ := os.ReadFile(filepath.Join(cache, "kernel-package"))
	t.Logf("booting %s under %s -M virt -cpu cortex-a57 (TCG), /healthz on 127.0.0.1:%d",
		strings.TrimSpace(string(kernelPkg)), filepath.Base(qemu), port)

	ctx, cancel := context.WithTimeout(context.Background(), bootLimit)
	defer cancel()
	console := &consoleLog{}
	cmd := exec.Command(qemu, qemuArgs(filepath.Join(cache, "vmlinuz"), initrd, port)...)
	cmd.Stdout = console
	cmd.Stderr = console
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	// exited is closed when QEMU is gone; waitErr says how it ended.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// Only the QEMU this test started, by its pid.
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("console:\n%s", console.String())
		}
	})

	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 2 * time.Second}
	healthy, err := waitHealthy(ctx, client, url+"/healthz", exited, func() error { return waitErr })
	if err != nil {
		t.Fatalf("gatewayd never answered /healthz: %v", err)
	}
	bootToHealthy := healthy.Sub(start)

	// The status API needs a technician login on the LAN listener; the
	// console shows what the daemon did instead.
	waitConsole(ctx, console, "gatewayd ready", exited)
	for _, line := range console.lines("smoke: ") {
		t.Log(line)
	}
	// Log wording belongs to the daemon; say what is missing, but only
	// /healthz decides.
	for _, want := range []string{"gatewayd ready", "site=smoke-test"} {
		if !console.contains(want) {
			t.Logf("note: the console has no %q", want)
		}
	}
	for _, line := range console.lines("time=") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
			t.Logf("gatewayd: %s", line)
		}
	}
	// The figure `make image-smoke` prints; a measurement, not an assertion.
	fmt.Printf("image-smoke: boot-to-healthy %.1f s (qemu start to first /healthz 200, arm64 TCG)\n", bootToHealthy.Seconds())
}

func qemuArgs(kernel, initrd string, port int) []string {
	// Both user networks use lab addresses (never QEMU's default 10.0.2.0/24)
	// and restrict=on: the guest reaches nothing outside, and only the
	// hostfwd to 127.0.0.1 comes in. romfile= because -kernel needs no PXE ROM
	// (and the ipxe ROM package is not installed).
	lan := "user,id=lan,net=198.18.10.0/24,host=198.18.10.2,dns=198.18.10.3,dhcpstart=198.18.10.100,restrict=on," +
		fmt.Sprintf("hostfwd=tcp:127.0.0.1:%d-198.18.10.1:8080", port)
	wan := "user,id=wan,net=203.0.113.0/24,host=203.0.113.2,dns=203.0.113.3,dhcpstart=203.0.113.100,restrict=on"
	return []string{
		"-M", "virt", "-cpu", "cortex-a57", "-smp", "2", "-m", "512",
		"-accel", "tcg",
		"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd,
		"-append", "console=ttyAMA0 rdinit=/init panic=-1 quiet",
		"-netdev", lan, "-device", "virtio-net-pci,netdev=lan,mac=52:54:00:b6:10:01,romfile=",
		"-netdev", wan, "-device", "virtio-net-pci,netdev=wan,mac=52:54:00:b6:20:01,romfile=",
	}
}

// buildInitramfs writes the smoke image and returns its size: busybox,
// init.sh, gatewayd with its libraries from the Debian cross sysroot, and
// the modules of smokeModules, dependencies first, their order in
// /etc/smoke-modules for init.sh.
func buildInitramfs(out, bin, cache string) (int64, error) {
	fs := vm.NewInitramfs()
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "var/lib", "etc"} {
		fs.Dir(d)
	}
	for _, c := range []struct {
		name, src string
		perm      uint32
	}{
		{"bin/busybox", filepath.Join(cache, "busybox"), 0o755},
		{"init", "init.sh", 0o755},
		{"etc/gatewayd/gatewayd.yaml", "gatewayd.yaml", 0o644},
		{"usr/bin/gatewayd", bin, 0o755},
	} {
		if err := fs.CopyFile(c.name, c.src, c.perm); err != nil {
			return 0, err
		}
	}
	if err := fs.AddLibraries(bin, filepath.Join(sysroot, "lib")); err != nil {
		return 0, err
	}
	mods, err := fs.AddModules(vm.ModuleTree(cache), smokeModules)
	if err != nil {
		return 0, err
	}
	fs.File("etc/smoke-modules", 0o644, []byte(strings.Join(mods, "\n")+"\n"))
	fs.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/:/bin/sh\n"))
	fs.File("etc/group", 0o644, []byte("root:x:0:\n"))
	return fs.WriteFile(out)
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitHealthy polls url until it answers 200, QEMU exits, or ctx ends.
func waitHealthy(ctx context.Context, c *http.Client, url string, exited <-chan struct{}, exitErr func() error) (time.Time, error) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Now(), nil
			}
			last = fmt.Errorf("status %d: %q", resp.StatusCode, body)
		} else {
			last = err
		}
		select {
		case <-exited:
			return time.Time{}, fmt.Errorf("qemu exited (%v); last try: %v", exitErr(), last)
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%w; last try: %v", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// waitConsole waits a little for text on the console (the log line can
// trail the first HTTP answer).
func waitConsole(ctx context.Context, c *consoleLog, text string, exited <-chan struct{}) {
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !c.contains(text) {
		select {
		case <-ctx.Done():
			return
		case <-exited:
			return
		case <-deadline.C:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// consoleLog keeps the serial console for the failure report.
type consoleLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *consoleLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf.Len() < 4<<20 {
		c.buf.Write(p)
	}
	return len(p), nil
}

func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func (c *consoleLog) contains(s string) bool { return strings.Contains(c.String(), s) }

// lines returns the console lines that start with prefix.
func (c *consoleLog) lines(prefix string) []string {
	var out []string
	for _, l := range strings.Split(c.String(), "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}
