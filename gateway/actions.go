package gateway

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// rebootCommand asks systemd for a clean reboot without waiting for it; the
// image's polkit rule lets the gatewayd user do that and nothing more.
var rebootCommand = []string{"systemctl", "--no-block", "reboot"}

// Reboot reboots the box after a short delay, so the answer to whoever
// asked (page, gwctl, head office) still goes out.
func (g *Gateway) Reboot(ctx context.Context) error {
	name, err := exec.LookPath(g.rebootCmd[0])
	if err != nil {
		return fmt.Errorf("reboot: %w", err)
	}
	g.log.Warn("reboot requested; rebooting in 2 s")
	g.Emit("event", map[string]string{"kind": "reboot", "message": "reboot requested"})
	go func() {
		time.Sleep(2 * time.Second)
		out, err := exec.Command(name, g.rebootCmd[1:]...).CombinedOutput()
		if err != nil {
			g.log.Error("reboot failed", "err", err, "output", strings.TrimSpace(string(out)))
		}
	}()
	return nil
}
