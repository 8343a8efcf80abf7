package vm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// GuestConfig is what the host tells the guest's init, as JSON in
// GuestConfigPath: the modules to load in order and the command to run.
type GuestConfig struct {
	Modules []string `json:"modules"`
	Args    []string `json:"args"`
}

// GuestConfigPath is where the initramfs holds the GuestConfig.
const GuestConfigPath = "/etc/branchgw-vm.json"

// exitMarker starts the guest's last console line; the host reads the
// command's exit code from it.
const exitMarker = "branchgw-vm: exit "

// IsGuest reports whether this process is the init of a VM this package
// built: PID 1 with a GuestConfig.
func IsGuest() bool {
	if os.Getpid() != 1 {
		return false
	}
	_, err := os.Stat(GuestConfigPath)
	return err == nil
}

// Guest is the VM's init: it mounts the API filesystems, loads the
// modules, runs run(args), prints its exit code for the host and powers
// the VM off. It never returns.
func Guest(run func(args []string) int) {
	code := 1
	cfg, err := setUpGuest()
	if err != nil {
		fmt.Fprintln(os.Stderr, "branchgw-vm:", err)
	} else {
		code = run(cfg.Args)
	}
	fmt.Printf("\n%s%d\n", exitMarker, code)
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {} // PID 1 must not exit: the kernel would panic
}

func setUpGuest() (GuestConfig, error) {
	var cfg GuestConfig
	mounts := []struct{ fs, dir string }{
		{"proc", "/proc"}, {"sysfs", "/sys"}, {"devtmpfs", "/dev"}, {"tmpfs", "/run"}, {"tmpfs", "/tmp"},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return cfg, err
		}
		if err := unix.Mount(m.fs, m.dir, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return cfg, fmt.Errorf("mount %s on %s: %w", m.fs, m.dir, err)
		}
	}
	// Network namespaces are named under /var/run/netns, as iproute2 does.
	if err := os.MkdirAll("/var", 0o755); err != nil {
		return cfg, err
	}
	if err := os.Symlink("/run", "/var/run"); err != nil && !errors.Is(err, os.ErrExist) {
		return cfg, err
	}
	b, err := os.ReadFile(GuestConfigPath)
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", GuestConfigPath, err)
	}
	var failed []string
	for _, m := range cfg.Modules {
		if err := loadModule(filepath.Join("/lib/modules", m)); err != nil {
			failed = append(failed, fmt.Sprintf("%s (%v)", m, err))
		}
	}
	fmt.Printf("branchgw-vm: %d modules loaded\n", len(cfg.Modules)-len(failed))
	if len(failed) > 0 {
		// Not fatal: the command says what it misses, and a module that
		// failed may be one it never uses.
		fmt.Fprintln(os.Stderr, "branchgw-vm: modules not loaded:", strings.Join(failed, ", "))
	}
	return cfg, nil
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}
