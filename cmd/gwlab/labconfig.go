//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
		if err := setYAML(&doc, path, v); err != nil {
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

// setYAML sets a scalar at a dotted path of mapping keys, adding the last
// key when it is missing.
func setYAML(doc *yaml.Node, path, value string) error {
	n := doc
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	keys := strings.Split(path, ".")
	for i, k := range keys {
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s is not a mapping", strings.Join(keys[:i], "."))
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == k {
				next = n.Content[j+1]
				break
			}
		}
		if next == nil {
			if i < len(keys)-1 {
				next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			} else {
				next = &yaml.Node{Kind: yaml.ScalarNode}
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, next)
		}
		n = next
	}
	*n = yaml.Node{Kind: yaml.ScalarNode, Value: value, LineComment: n.LineComment}
	return nil
}
