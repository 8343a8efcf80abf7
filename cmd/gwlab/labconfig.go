//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/branchgw/branchgw/gateway/config"
)

// labConfig writes gatewayd's config for a lab into dir: the shipped
// example (whose addresses are the lab's) with the per-run paths and site
// swapped in, edited as a YAML tree so its comments survive. It is
// validated before it is written.
func labConfig(dir, prefix string, overrides map[string]string) (string, error) {
	set := map[string]any{
		"site":                 "lab-" + prefix,
		"telemetry.store_path": filepath.Join(dir, "telemetry.db"),
		"web.socket":           filepath.Join(dir, "gatewayd.sock"),
	}
	for k, v := range overrides {
		set[k] = v
	}
	b, err := config.Edit(config.Example, set)
	if err != nil {
		return "", fmt.Errorf("lab config: %w", err)
	}
	if _, err := config.Parse(b, dir); err != nil {
		return "", fmt.Errorf("lab config does not validate: %w", err)
	}
	path := filepath.Join(dir, "gatewayd.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("lab config: %w", err)
	}
	return path, nil
}
