package scenario

import (
	"bytes"
	"fmt"

	"github.com/branchgw/branchgw/gateway/config"
)

// gatewaydConfig is gatewayd's config for the scenario: the shipped example
// (its addresses are the lab's) with the run's paths, site, head-office key
// and telemetry settings set, edited as a YAML tree. set adds or replaces
// scalars at dotted paths after those.
// dataDir is where the telemetry store lives in the lab's directory: a
// tmpfs of its own, which DiskFullDuringReplay fills.
func dataDir(dir string) string { return dir + "/data" }

func storePath(dir string) string { return dataDir(dir) + "/telemetry.db" }

func gatewaydConfig(site, dir string, version int64, key string, p Params, set map[string]string) ([]byte, error) {
	vals := map[string]any{
		"site":                        site,
		"version":                     fmt.Sprint(version),
		"telemetry.store_path":        storePath(dir),
		"telemetry.budget":            fmt.Sprintf("%dKiB", p.Budget>>10),
		"telemetry.batch_records":     fmt.Sprint(p.BatchRecords),
		"telemetry.replay_per_second": fmt.Sprint(p.ReplayPerSecond),
		"web.socket":                  dir + "/gatewayd.sock",
		"remote.confirm_window":       p.ConfirmWindow.String(),
		"remote.command_keys":         []string{key},
	}
	for k, v := range set {
		vals[k] = v
	}
	b, err := config.Edit(config.Example, vals)
	if err != nil {
		return nil, fmt.Errorf("scenario config: %w", err)
	}
	return b, nil
}

// misspell makes the bad push: the config with a field name mistyped, which
// strict decoding must refuse as a whole.
func misspell(y []byte) ([]byte, error) {
	bad := bytes.Replace(y, []byte("  probe_interval:"), []byte("  probe_intervall:"), 1)
	if bytes.Equal(bad, y) {
		return nil, fmt.Errorf("scenario config: no failover.probe_interval to misspell")
	}
	return bad, nil
}

// checkConfig validates a config the way gatewayd will.
func checkConfig(b []byte, dir string) error {
	if _, err := config.Parse(b, dir); err != nil {
		return fmt.Errorf("scenario config does not validate: %w", err)
	}
	return nil
}
