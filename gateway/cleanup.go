package gateway

import (
	"errors"
	"log/slog"
	"os"

	"github.com/branchgw/branchgw/gateway/config"
	"github.com/branchgw/branchgw/netctl/qos"
	"github.com/branchgw/branchgw/netctl/wan"
	"github.com/branchgw/branchgw/netctl/zones"
)

// Cleanup removes what the daemon leaves in the system: shaping (qdiscs,
// the IFB, the QoS table), policy routes and rules, connection marks and
// its socket. systemd runs it after every
// stop (ExecStopPost=gatewayd cleanup), so even a crash leaves nothing
// behind. The zone firewall stays unless firewall is true (uninstall): a
// stopped daemon must leave the store closed, not open. Each step runs even
// when an earlier one failed.
func Cleanup(cfg *config.Config, log *slog.Logger, firewall bool) error {
	var errs []error
	for _, step := range cleanupSteps(cfg, log, firewall) {
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
func cleanupSteps(cfg *config.Config, log *slog.Logger, firewall bool) []cleanupStep {
	steps := []cleanupStep{
		{"qos shaping", func() error {
			qc, err := qosConfig(cfg)
			if err != nil {
				return err
			}
			return qos.Cleanup(qc, qos.Options{}, log)
		}},
		{"wan routing", func() error { return wan.Cleanup(wan.Layout{}, len(cfg.WAN), nil) }},
		{"socket", func() error {
			if err := os.Remove(cfg.Web.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return nil
		}},
	}
	if firewall {
		steps = append(steps, cleanupStep{"zone firewall", func() error { return zones.Cleanup(zones.DefaultTablePrefix, 0) }})
	}
	return steps
}
