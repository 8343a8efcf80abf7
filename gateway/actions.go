package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// RebootRequest is the file whose creation makes systemd reboot the box
// (systemd/gatewayd-reboot.path): gatewayd runs unprivileged and cannot
// reboot by itself.
const RebootRequest = "/run/gatewayd/reboot-requested"

// Reboot asks for a clean reboot after a short delay, so the answer to
// whoever asked (page, gwctl, head office) still goes out.
func (g *Gateway) Reboot(ctx context.Context) error {
	if _, err := os.Stat(filepath.Dir(g.rebootFile)); err != nil {
		return fmt.Errorf("reboot: %w (is gatewayd-reboot.path installed?)", err)
	}
	g.log.Warn("reboot requested; rebooting in 2 s")
	g.Emit("event", map[string]string{"kind": "reboot", "message": "reboot requested"})
	after := g.rebootAfter
	if after == nil {
		after = func() <-chan time.Time { return time.After(2 * time.Second) }
	}
	go func() {
		<-after()
		if err := os.WriteFile(g.rebootFile, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o640); err != nil {
			g.log.Error("reboot request failed", "err", err)
		}
	}()
	return nil
}
