package config

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Set puts value at a dotted path of mapping keys ("web.socket", with list
// indexes: "wan.0.rate_up") in a YAML
// document, adding missing keys, so tools (the lab, head office) can edit a
// config file without losing its comments. The replaced node's line comment
// stays when value has none.
func Set(doc *yaml.Node, path string, value *yaml.Node) error {
	n, err := lookup(doc, path, true)
	if err != nil {
		return err
	}
	replace(n, value)
	return nil
}

// replace puts value in n's place, keeping n's line comment when value has
// none.
func replace(n, value *yaml.Node) {
	comment := n.LineComment
	*n = *value
	if n.LineComment == "" {
		n.LineComment = comment
	}
}

// lookup finds the node at a dotted path, adding missing mapping keys when
// create is set.
func lookup(doc *yaml.Node, path string, create bool) (*yaml.Node, error) {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	keys := strings.Split(path, ".")
	for i, k := range keys {
		if idx, err := strconv.Atoi(k); err == nil && n.Kind == yaml.SequenceNode {
			// A list element ("wan.0.rate_up"): only one that exists.
			if idx < 0 || idx >= len(n.Content) {
				return nil, fmt.Errorf("%s: %s has no element %d", path, strings.Join(keys[:i], "."), idx)
			}
			n = n.Content[idx]
			continue
		}
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: %s is not a mapping", path, strings.Join(keys[:i], "."))
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == k {
				next = n.Content[j+1]
				break
			}
		}
		if next == nil {
			if !create {
				return nil, fmt.Errorf("%s: not in the config", path)
			}
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, next)
		}
		n = next
	}
	return n, nil
}

// Edit returns src, a config file, with the value at each dotted path of
// set replaced (a string, or a []string for a list), comments kept. Every
// path must already be in src: an edit that misses (a renamed field, a
// typo) is an error, never a config left silently as it was. The lab, the
// scenario and the tests edit the shipped example this one way.
func Edit(src []byte, set map[string]any) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("edit: %w", err)
	}
	for _, path := range slices.Sorted(maps.Keys(set)) {
		var value *yaml.Node
		switch v := set[path].(type) {
		case string:
			value = Scalar(v)
			if v == "" {
				value.Style = yaml.DoubleQuotedStyle // "", not a null
			}
		case []string:
			value = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for _, s := range v {
				value.Content = append(value.Content, Scalar(s))
			}
		default:
			return nil, fmt.Errorf("edit: %s: a %T is neither a string nor a list of them", path, v)
		}
		n, err := lookup(&doc, path, false)
		if err != nil {
			return nil, fmt.Errorf("edit: %w", err)
		}
		replace(n, value)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("edit: %w", err)
	}
	return buf.Bytes(), nil
}

// Scalar is a plain string scalar node for Set.
func Scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
