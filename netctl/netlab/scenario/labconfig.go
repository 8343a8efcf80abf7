package scenario

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"

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
	var doc yaml.Node
	if err := yaml.Unmarshal(config.Example, &doc); err != nil {
		return nil, fmt.Errorf("scenario config: example: %w", err)
	}
	vals := map[string]string{
		"site":                        site,
		"version":                     fmt.Sprint(version),
		"telemetry.store_path":        storePath(dir),
		"telemetry.budget":            fmt.Sprintf("%dKiB", p.Budget>>10),
		"telemetry.batch_records":     fmt.Sprint(p.BatchRecords),
		"telemetry.replay_per_second": fmt.Sprint(p.ReplayPerSecond),
		"web.socket":                  dir + "/gatewayd.sock",
		"remote.confirm_window":       p.ConfirmWindow.String(),
	}
	for k, v := range set {
		vals[k] = v
	}
	for path, v := range vals {
		if err := config.Set(&doc, path, &yaml.Node{Kind: yaml.ScalarNode, Value: v}); err != nil {
			return nil, fmt.Errorf("scenario config: %s: %w", path, err)
		}
	}
	keys := &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: key}}}
	if err := config.Set(&doc, "remote.command_keys", keys); err != nil {
		return nil, fmt.Errorf("scenario config: %w", err)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("scenario config: %w", err)
	}
	return buf.Bytes(), nil
}

// checkConfig validates a config the way gatewayd will.
func checkConfig(b []byte, dir string) error {
	if _, err := config.Parse(b, dir); err != nil {
		return fmt.Errorf("scenario config does not validate: %w", err)
	}
	return nil
}
