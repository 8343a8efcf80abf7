//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/branchgw/branchgw/gateway/config"
	"gopkg.in/yaml.v3"
)

// labConfig writes gatewayd's config for a lab into dir: the shipped
// example (whose addresses are the lab's) with the per-run paths and site
// swapped in, edited as a YAML tree so its comments survive. It is
// validated before it is written.
func labConfig(dir, prefix string, overrides map[string]string) (string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(config.Example, &doc); err != nil {
		return "", fmt.Errorf("lab config: example: %w", err)
	}
	set := map[string]string{
		"site":                 "lab-" + prefix,
		"telemetry.store_path": filepath.Join(dir, "telemetry.db"),
		"web.socket":           filepath.Join(dir, "gatewayd.sock"),
	}
	for k, v := range overrides {
		set[k] = v
	}
	for path, v := range set {
		if err := config.Set(&doc, path, config.Scalar(v)); err != nil {
			return "", fmt.Errorf("lab config: %s: %w", path, err)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return "", fmt.Errorf("lab config: %w", err)
	}
	if _, err := config.Parse(buf.Bytes(), dir); err != nil {
		return "", fmt.Errorf("lab config does not validate: %w", err)
	}
	path := filepath.Join(dir, "gatewayd.yaml")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return "", fmt.Errorf("lab config: %w", err)
	}
	return path, nil
}
