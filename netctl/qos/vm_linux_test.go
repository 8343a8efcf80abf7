//go:build linux && qemu

package qos

// The lab's kernel has neither fq_codel nor cake, so the leaf selection's
// good path is proven in a VM: Debian's stock kernel (fetched by
// vmtest/fetch-kernel.sh) under qemu-system-x86_64 with TCG, a busybox
// initramfs holding this very test binary, its libc and the sched modules.
// Inside, TestVMLeafQdisc applies the plan to a dummy WAN and checks the
// leaves are fq_codel. Run it with
//
//	vmtest/fetch-kernel.sh && go test -tags qemu -run TestVMLeafQdisc -v ./netctl/qos/
//
// It sits behind the qemu build tag because it needs the fetched kernel,
// which is no part of `make deps`.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/branchgw/branchgw/netctl/netlab/testenv"
)

const vmKernelDir = "/var/cache/branchgw/vm-kernel"

// vmModules are loaded in this order inside the VM (none depends on another).
var vmModules = []string{"dummy", "ifb", "sch_htb", "sch_cake", "sch_tbf", "sch_ingress", "cls_u32", "act_mirred"}

func TestVMLeafQdisc(t *testing.T) {
	if os.Getenv("QOS_IN_VM") == "1" {
		inVM(t)
		return
	}
	qemu := testenv.NeedCommand(t, "qemu-system-x86_64")
	busybox := testenv.NeedCommand(t, "busybox")
	dir := os.Getenv("BRANCHGW_VM_KERNEL")
	if dir == "" {
		dir = vmKernelDir
	}
	testenv.NeedFile(t, filepath.Join(dir, "vmlinuz"), "run netctl/qos/vmtest/fetch-kernel.sh")
	initrd := filepath.Join(t.TempDir(), "initrd.cpio")
	if err := buildInitramfs(initrd, dir, busybox); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-machine", "q35,accel=tcg", "-m", "512", "-nographic", "-no-reboot",
		"-kernel", filepath.Join(dir, "vmlinuz"), "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	t.Logf("VM ran %v (%v); console:\n%s", time.Since(t0).Round(time.Millisecond), err, tail(out.String(), 60))
	m := regexp.MustCompile(`QOSVM (PASS|FAIL) leaf=(\S*)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("the VM printed no verdict")
	}
	if m[1] != "PASS" || m[2] != LeafFqCodel {
		t.Fatalf("in the VM: %s, leaf %q; want PASS with fq_codel", m[1], m[2])
	}
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	return strings.Join(l[max(len(l)-n, 0):], "\n")
}

// inVM runs inside the VM as root in its only namespace.
func inVM(t *testing.T) {
	verdict := "FAIL"
	leaf := ""
	defer func() { fmt.Printf("QOSVM %s leaf=%s\n", verdict, leaf) }()
	// Route netlink only: the VM has no xfrm module, which NewHandle()
	// would open a socket for too.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "wan0"}}); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "wan0"}}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.WANs[0].Interface = "wan0"
	a := newApplier(netlinkTC{h: h}, slog.New(slog.NewTextHandler(os.Stdout, nil)))
	d := Plan(cfg, cfg.WANs[0], "ifb0", nil)
	if err := a.apply(d); err != nil {
		t.Fatal(err)
	}
	leaf = a.leaf
	for _, dev := range []string{"wan0", "ifb0"} {
		l, err := h.LinkByName(dev)
		if err != nil {
			t.Fatal(err)
		}
		qs, err := h.QdiscList(l)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, q := range qs {
			if q.Type() == LeafFqCodel && q.Attrs().Parent>>16 == uint32(htbMajor) {
				n++
			}
		}
		if n != len(cfg.Classes) {
			t.Errorf("%s: %d fq_codel leaves under HTB, want %d", dev, n, len(cfg.Classes))
		}
	}
	// cake, the second choice, works as a leaf too.
	if err := (netlinkTC{h: h}).ReplaceQdisc(d.Egress.Leaves[0].qdisc(LeafCake)); err != nil {
		t.Errorf("cake leaf: %v", err)
	} else if l, err := h.LinkByName("wan0"); err == nil {
		qs, _ := h.QdiscList(l)
		cake := false
		for _, q := range qs {
			cake = cake || (q.Type() == LeafCake && q.Attrs().Parent == d.Egress.Leaves[0].Class)
		}
		if !cake {
			t.Error("cake leaf not listed")
		}
	}
	if err := a.remove("wan0", "ifb0"); err != nil {
		t.Fatal(err)
	}
	if !t.Failed() {
		verdict = "PASS"
	}
}

// buildInitramfs writes a newc cpio: busybox, an init script, this test
// binary with its libc and loader, and the modules the test needs.
func buildInitramfs(path, kernelDir, busybox string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	kvers, err := os.ReadDir(filepath.Join(kernelDir, "modules"))
	if err != nil || len(kvers) == 0 {
		return fmt.Errorf("modules in %s: %v", kernelDir, err)
	}
	mods := filepath.Join(kernelDir, "modules", kvers[0].Name(), "kernel")
	files := map[string]string{"/bin/busybox": busybox, "/qos.test": self}
	libs, err := exec.Command("ldd", self).Output()
	if err == nil {
		for _, f := range regexp.MustCompile(`(/\S+\.so[.\d]*)`).FindAllString(string(libs), -1) {
			files[f] = f
		}
	}
	var insmod []string
	for _, m := range vmModules {
		found, _ := filepath.Glob(filepath.Join(mods, "*", "*", m+".ko"))
		found2, _ := filepath.Glob(filepath.Join(mods, "*", m+".ko"))
		found = append(found, found2...)
		if len(found) == 0 {
			return fmt.Errorf("module %s not in %s", m, mods)
		}
		files["/mod/"+m+".ko"] = found[0]
		insmod = append(insmod, "insmod /mod/"+m+".ko")
	}
	init := "#!/bin/busybox sh\n/bin/busybox --install -s /bin\nexport PATH=/bin\n" +
		"mount -t proc proc /proc\nmount -t sysfs sys /sys\n" + strings.Join(insmod, "\n") + "\n" +
		"QOS_IN_VM=1 /qos.test -test.run '^TestVMLeafQdisc$' -test.v\npoweroff -f\n"
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := &cpioWriter{w: f}
	for _, d := range []string{"/bin", "/proc", "/sys", "/mod", "/lib", "/lib64", "/lib/x86_64-linux-gnu", "/tmp"} {
		w.add(d, 0o40755, nil)
	}
	w.add("/init", 0o100755, []byte(init))
	for dst, src := range files {
		b, err := os.ReadFile(src) // follows symlinks (ld-linux)
		if err != nil {
			return err
		}
		w.add(dst, 0o100755, b)
	}
	w.add("TRAILER!!!", 0, nil)
	return w.err
}

// cpioWriter writes the "newc" format the kernel unpacks an initramfs from.
type cpioWriter struct {
	w   io.Writer
	ino int
	err error
}

func (c *cpioWriter) add(name string, mode int, data []byte) {
	if c.err != nil {
		return
	}
	name = strings.TrimPrefix(name, "/")
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	pad := func(n int) []byte { return make([]byte, (4-n%4)%4) }
	var b bytes.Buffer
	b.WriteString(hdr)
	b.WriteString(name)
	b.WriteByte(0)
	b.Write(pad(len(hdr) + len(name) + 1))
	b.Write(data)
	b.Write(pad(len(data)))
	_, c.err = c.w.Write(b.Bytes())
}
