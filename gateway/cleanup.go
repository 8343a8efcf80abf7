package gateway

import (
	"errors"
	"log/slog"
	"os"

	"github.com/branchgw/branchgw/gateway/config"
)

// Cleanup removes what the daemon leaves in the system: routes, rules,
// qdiscs, nftables tables and its socket. systemd runs it after every stop
// (ExecStopPost=gatewayd cleanup), so even a crash leaves nothing behind.
// Each step runs even when an earlier one failed.
func Cleanup(cfg *config.Config, log *slog.Logger) error {
	var errs []error
	for _, step := range cleanupSteps(cfg) {
		if err := step.run(); err != nil {
			log.Error("cleanup step failed", "step", step.name, "err", err)
			errs = append(errs, err)
			continue
		}
		log.Info("cleaned up", "step", step.name)
	}
	return errors.Join(errs...)
}

type cleanupStep struct {
	name string
	run  func() error
}

// cleanupSteps lists every subsystem's cleanup, in reverse order of setup.
func cleanupSteps(cfg *config.Config) []cleanupStep {
	return []cleanupStep{
		{"socket", func() error {
			if err := os.Remove(cfg.Web.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return nil
		}},
	}
}
